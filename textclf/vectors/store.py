"""Parsed vectors files, stored once in the cache and memory-mapped by every later run (see docs/vectors.md, "Cache").

The first use of a vectors file parses it with the strict readers (:func:`textclf.vectors.files.read_vectors`, with
a progress bar) into the cache entry ``<cache_dir>/vectors-store/<key>/``:

- ``vectors.npy``: the float32 ``(words, dim)`` matrix, a plain .npy loaded with ``mmap_mode="r"`` and
  ``allow_pickle=False``: only the rows a vocabulary needs are read;
- ``words.json``: the words in file order, a JSON array of ASCII-escaped strings (any word survives exactly,
  newlines and NUL bytes included, and nothing in it can run);
- ``meta.json``: the source file, its format, the counts and how long the parse took;
- for a fastText model with subwords, ``ngrams.npy``: its float32 ``(bucket, dim)`` n-gram matrix, memory-mapped
  the same way (see :mod:`textclf.vectors.subwords`), and its ``min_n``/``max_n``/``bucket`` in ``meta.json``.

The key is :func:`vectors_identity`. Entries are built under the cache's file lock in a staging folder (one
parse however many processes ask at once; a killed parse leaves no entry). An entry whose files do not have the
shapes and types its ``meta.json`` states, or whose rows hold non-finite values, is rebuilt with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from textclf.data.cache import CacheEntry
from textclf.errors import TextclfError
from textclf.vectors import files
from textclf.vectors.progress import ParseProgress
from textclf.vectors.subwords import Subwords, SubwordVectors
from textclf.wording import counted

logger = logging.getLogger(__name__)

T = TypeVar("T")
KIND = "vectors-store"
HASHED_BYTES = 1 << 20  # the first and the last MiB of a vectors file are hashed into its identity


class StoreDamaged(ValueError):
    """A store entry's content cannot be what a parse wrote (it is rebuilt)."""


@dataclass(frozen=True)
class StoredVectors:
    """A parsed vectors file: ``words[i]`` has the float32 row ``vectors[i]``; ``index`` maps a word to its row.

    ``vectors`` (and ``subwords.ngrams``) are memory-mapped from ``folder`` (held in memory when the file was
    parsed by this process). ``folder`` is None when the parse could not be cached. ``subwords`` is the n-gram
    matrix of a fastText model (None for other formats and for a model without subwords).
    """

    source: Path
    fmt: str
    words: list[str]
    vectors: np.ndarray
    index: dict[str, int]
    folder: Path | None
    parsed_now: bool
    subwords: Subwords | None = None

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """The float32 vectors of ``rows`` (indexes into ``words``), shape ``(len(rows), dim)``.

        Raises:
            StoreDamaged: a gathered row holds a non-finite value (no parse lets one through).
        """
        out = np.asarray(self.vectors[np.asarray(rows, dtype=np.int64)], dtype=np.float32)
        if not np.isfinite(out).all():
            raise StoreDamaged(f"non-finite values in {self.folder}")
        return out

    def subword_vectors(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The subword vectors of ``words`` and which have one (see :meth:`.Subwords.vectors`); none without subwords.

        Raises:
            StoreDamaged: a gathered n-gram row holds a non-finite value (no parse lets one through).
        """
        if self.subwords is None:
            return np.zeros((len(words), self.vectors.shape[1]), np.float32), np.zeros(len(words), bool)
        out, has = self.subwords.vectors(words)
        if not np.isfinite(out).all():
            raise StoreDamaged(f"non-finite values in {self.folder} (ngrams.npy)")
        return out, has

    def describe(self) -> str:
        """``glove.6B.50d.txt.gz already parsed (400,000 words x 50 dims, cache PATH)`` and the like."""
        size = f"{counted(len(self.words), 'word')} x {self.vectors.shape[1]} dims"
        if self.subwords is not None:
            size += f" and {counted(self.subwords.bucket, 'n-gram bucket')}"
        if not self.parsed_now:
            return f"{self.source.name} already parsed ({size}, cache {self.folder})"
        return f"{self.source.name} parsed ({size}, {f'cache {self.folder}' if self.folder else 'not cached'})"


def vectors_identity(path: Path) -> list[Any]:
    """What a vectors file's cache entries are keyed by: path, size, mtime, inode, hash of the first and last MiB.

    The path is resolved, the mtime in nanoseconds, the hash a SHA-256 (16 hex digits). Size and mtime change when
    a file is rewritten; the inode changes when another file is moved onto the path (``mv`` and ``cp -p`` keep the
    mtime of the file they bring); the hash catches a same-size rewrite whose mtime was set back. Reading 2 MiB
    costs milliseconds, however large the file.

    Raises:
        TextclfError: the file cannot be read.
    """
    try:
        st = path.stat()
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            digest.update(handle.read(HASHED_BYTES))
            if st.st_size > HASHED_BYTES:
                handle.seek(max(HASHED_BYTES, st.st_size - HASHED_BYTES))
                digest.update(handle.read(HASHED_BYTES))
    except OSError as e:
        raise TextclfError(f"cannot read vectors file {path}: {e.strerror or e}") from e
    return [str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, digest.hexdigest()[:16]]


def use_stored_vectors(path: Path, cache_dir: str | os.PathLike[str] | None, use: Callable[[StoredVectors], T]) -> T:
    """``use(stored)`` for the parsed vectors of ``path``: from the store, parsed into it first when missing.

    Args:
        path: An existing vectors file (see :func:`~textclf.vectors.resolve_vectors`).
        cache_dir: The cache's root folder; None parses the file without storing it.
        use: What to do with the vectors. If it raises :class:`StoreDamaged`, the entry is rebuilt (with a
            warning) and ``use`` is called once more.

    Returns:
        What ``use`` returns.

    Raises:
        TextclfError: the vectors file is unsafe, unreadable or malformed (see :func:`.files.read_vectors`), or
            (a fastText model) holds a non-finite value.
    """
    entry = None if cache_dir is None else CacheEntry(cache_dir, KIND, {"vectors": vectors_identity(path)})
    stored = parse_vectors(path, None) if entry is None else _stored(entry, path)
    try:
        return use(stored)
    except StoreDamaged as e:
        if stored.parsed_now or entry is None:  # the readers refuse such values: a parse lets none through
            raise _non_finite(path) from e
        logger.warning("rebuilding damaged %s cache entry %s: %s", KIND, entry.path, e)
        entry.discard()
    try:
        return use(_stored(entry, path))
    except StoreDamaged as e:
        raise _non_finite(path) from e


def _non_finite(path: Path) -> TextclfError:
    return TextclfError(f"vectors file {path}: a vector holds a non-finite value (nan or inf)")


def parse_vectors(path: Path, folder: Path | None) -> StoredVectors:
    """Parse ``path`` with a progress bar and a log line before and after (``folder``: where it will be stored)."""
    where = f"once into the cache {folder}; later runs reuse it" if folder else "without a cache (it is not kept)"
    logger.info("vectors: parsing %s (%.1f MB) %s", path, path.stat().st_size / 1e6, where)
    start = time.perf_counter()
    with ParseProgress(path) as progress:
        parsed, fmt = files.read_vectors(path, progress=progress)
    words, dim = len(parsed.words), parsed.vectors.shape[1]
    seconds = time.perf_counter() - start
    logger.info("vectors: parsed %s (%s): %s x %d dims in %.1f s", path.name, fmt, counted(words, "word"), dim, seconds)
    subwords = parsed.subwords if isinstance(parsed, SubwordVectors) else None
    return StoredVectors(path, fmt, parsed.words, parsed.vectors, _index(parsed.words), folder, True, subwords)


def _index(words: list[str]) -> dict[str, int]:
    """Word -> row, built in C (no Python loop over the file's words)."""
    return dict(zip(words, range(len(words)), strict=True))


def _stored(entry: CacheEntry, path: Path) -> StoredVectors:
    """The entry's vectors; parsed (and stored, unless the cache cannot be written) when it is missing."""
    parsed: list[StoredVectors] = []

    def build(folder: Path) -> None:
        parsed.append(parse_vectors(path, entry.path))
        _write(parsed[0], folder)

    try:
        return entry.get(build, lambda folder: parsed[0] if parsed else _read(folder, path))
    except OSError as e:
        logger.warning("cannot store the parsed vectors in %s: %s", entry.path, " ".join(str(e).split()))
        stored = parsed[0] if parsed else parse_vectors(path, None)
        return StoredVectors(path, stored.fmt, stored.words, stored.vectors, stored.index, None, True, stored.subwords)


def _write(stored: StoredVectors, folder: Path) -> None:
    np.save(folder / "vectors.npy", np.ascontiguousarray(stored.vectors, dtype=np.float32), allow_pickle=False)
    (folder / "words.json").write_text(json.dumps(stored.words, ensure_ascii=True), encoding="ascii")
    words, dim = stored.vectors.shape
    meta: dict[str, Any] = {"source": str(stored.source.resolve()), "format": stored.fmt, "words": words, "dim": dim}
    if stored.fmt == "fasttext-binary":  # null: a model without subwords (an older entry has no such key)
        meta["subwords"] = None if stored.subwords is None else stored.subwords.settings()
    if stored.subwords is not None:
        np.save(folder / "ngrams.npy", stored.subwords.ngrams, allow_pickle=False)
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


def _read(folder: Path, path: Path) -> StoredVectors:
    """A finished entry, checked against its meta.json; a mismatch is a ValueError (the entry is rebuilt)."""
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    count, dim, fmt = meta["words"], meta["dim"], meta["format"]
    if not (type(count) is int and type(dim) is int and count >= 1 and dim >= 1 and fmt in files.VECTORS_FORMATS):
        raise StoreDamaged(f"meta.json states {count!r} words x {dim!r} dims of {fmt!r}")
    vectors = np.load(folder / "vectors.npy", mmap_mode="r", allow_pickle=False)
    if vectors.dtype != np.float32 or vectors.shape != (count, dim):
        raise StoreDamaged(f"vectors.npy holds {vectors.dtype} {vectors.shape}, meta.json states ({count}, {dim})")
    words = json.loads((folder / "words.json").read_text(encoding="ascii"))
    if not isinstance(words, list) or len(words) != count or set(map(type, words)) != {str}:
        raise StoreDamaged(f"words.json does not hold {counted(count, 'word')}")
    index = _index(words)
    if len(index) != count:
        raise StoreDamaged("words.json repeats words")
    return StoredVectors(path, fmt, words, vectors, index, folder, False, _read_subwords(folder, meta, dim))


def _read_subwords(folder: Path, meta: dict[str, Any], dim: int) -> Subwords | None:
    """The entry's n-gram matrix (fastText models with subwords), checked against meta.json like the vectors."""
    if meta["format"] != "fasttext-binary":
        return None
    if "subwords" not in meta:
        raise StoreDamaged("meta.json of a fastText model has no subword settings (an entry of an older textclf)")
    settings = meta["subwords"]
    if settings is None:
        return None
    keys = ("min_n", "max_n", "bucket")
    if not (isinstance(settings, dict) and set(settings) == set(keys) and {type(settings[k]) for k in keys} == {int}):
        raise StoreDamaged(f"meta.json states subword settings {settings!r}")
    min_n, max_n, bucket = (int(settings[k]) for k in keys)
    if not (0 <= min_n <= max_n and max_n >= 1 and bucket >= 1):
        raise StoreDamaged(f"meta.json states subword settings {settings!r}")
    ngrams = np.load(folder / "ngrams.npy", mmap_mode="r", allow_pickle=False)
    if ngrams.dtype != np.float32 or ngrams.shape != (bucket, dim):
        raise StoreDamaged(f"ngrams.npy holds {ngrams.dtype} {ngrams.shape}, meta.json states ({bucket}, {dim})")
    return Subwords(min_n, max_n, ngrams)
