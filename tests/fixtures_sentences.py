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


CUES = (("awful", "dull"), ("bad", "poor"), ("fine", "so-so"), ("good", "nice"), ("great", "superb"))


def cue_sentences(level: int, count: int) -> list[str]:
    """``count`` distinct sentences carrying the cue words of sentiment ``level`` (0 = worst .. 4 = best)."""
    cues = CUES[level]
    return [f"the film {i} was {cues[i % 2]} and the caf\xe9 {cues[(i + 1) % 2]} ." for i in range(count)]


def write_stsa(directory: Path, prefix: str, levels: tuple[int, ...]) -> Path:
    """``LABEL text`` lines in ``<prefix>.{train,dev,test}``, UTF-8 (label i has the cues of ``levels[i]``)."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", 4), ("dev", 1), ("test", 2)):
        lines = [f"{label} {text}" for label, level in enumerate(levels) for text in cue_sentences(level, count)]
        (directory / f"{prefix}.{split}").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def write_sst2(directory: Path) -> Path:
    """``stsa.binary.*``: 0 = negative, 1 = positive."""
    return write_stsa(directory, "stsa.binary", (1, 3))


def write_sst5(directory: Path) -> Path:
    """``stsa.fine.*``: 0 = very negative .. 4 = very positive."""
    return write_stsa(directory, "stsa.fine", (0, 1, 2, 3, 4))


def write_glue_sst2(directory: Path) -> Path:
    """GLUE ``{train,dev,test}.tsv`` with a ``sentence<TAB>label`` header (trailing spaces; test with CRLF)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, count, newline in (("train", 6, "\n"), ("dev", 2, "\n"), ("test", 2, "\r\n")):
        rows = [f"{text} \t{label}" for label, level in enumerate((1, 3)) for text in cue_sentences(level, count)]
        (directory / f"{name}.tsv").write_text(newline.join(["sentence\tlabel", *rows]) + newline, encoding="utf-8")
    return directory


def write_pair(directory: Path, names: tuple[str, str], encoding: str, count: int = 6, extra: bytes = b"") -> Path:
    """One sentence per line, one file per class (``names`` in label order), each line ending in a space."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, level in zip(names, (1, 3), strict=True):
        lines = [text + " " for text in cue_sentences(level, count)]
        (directory / name).write_bytes("\n".join(lines).encode(encoding) + b"\n" + extra)
    return directory


def write_mr(directory: Path) -> Path:
    """``rt-polarity.{neg,pos}``: Windows-1252 bytes with a 0x85 ellipsis (NEL in latin-1) inside a line."""
    return write_pair(directory, ("rt-polarity.neg", "rt-polarity.pos"), "cp1252", extra=b"hmm\x85 the film was ok \n")


def write_subj(directory: Path) -> Path:
    """``subj.{objective,subjective}``: latin-1 bytes."""
    return write_pair(directory, ("subj.objective", "subj.subjective"), "latin-1")


def write_cr(directory: Path) -> Path:
    """``custrev.{neg,pos}`` of the Kim (2014) data set."""
    return write_pair(directory, ("custrev.neg", "custrev.pos"), "latin-1")


def write_mpqa(directory: Path) -> Path:
    """``mpqa.{neg,pos}`` of the Kim (2014) data set (short phrases)."""
    return write_pair(directory, ("mpqa.neg", "mpqa.pos"), "utf-8", extra=b"\n")


# class name -> writer of a tiny corpus in its original files (used by the recipe tests)
WRITERS: dict[str, Callable[[Path], Path]] = {
    "TREC": write_trec,
    "SST2": write_sst2,
    "SST5": write_sst5,
    "GlueSST2": write_glue_sst2,
    "MR": write_mr,
    "Subj": write_subj,
    "CR": write_cr,
    "MPQA": write_mpqa,
}
