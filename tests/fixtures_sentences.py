"""Tiny corpora in the original distribution formats of the sentence benchmarks, written by the tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def write_trec(directory: Path) -> Path:
    """``COARSE:fine question`` lines, latin-1, every coarse class in train."""
    directory.mkdir(parents=True, exist_ok=True)
    pairs = [("HUM", "ind"), ("LOC", "city"), ("NUM", "date"), ("DESC", "def"), ("ENTY", "animal"), ("ABBR", "exp")]
    train = [f"{c}:{f} question {i} about caf\xe9 ?" for i in range(4) for c, f in pairs]
    (directory / "TREC.train").write_bytes("\n".join(train).encode("latin-1"))
    (directory / "TREC.test").write_bytes(b"HUM:ind Who wrote it ?\nLOC:city Where is it ?\n")
    return directory


# class name -> writer of a tiny corpus in its original files (used by the recipe tests)
WRITERS: dict[str, Callable[[Path], Path]] = {"TREC": write_trec}
