"""Pretrained vectors aligned to a vocabulary: the embedding matrix, its coverage, and the vectors' own word list.

With a ``cache_dir`` both come from the parsed-vectors store (:mod:`textclf.vectors.store`: the vectors file is
parsed once, whatever the vocabulary), and the matrix is also cached keyed by the vectors file, the vocabulary and
the seed (:mod:`textclf.data.cache`). Processes that ask for the same entry at once parse the vectors file once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from textclf.data.cache import cached
from textclf.errors import TextclfError
from textclf.vectors.files import resolve_vectors
from textclf.vectors.store import StoredVectors, use_stored_vectors, vectors_identity
from textclf.wording import counted

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Coverage:
    """How much of a vocabulary (specials excluded) and of its training tokens has a pretrained vector."""

    types_found: int
    types_total: int
    tokens_found: int
    tokens_total: int

    @property
    def type_rate(self) -> float:
        """Fraction (0..1) of vocabulary words that have a vector."""
        return self.types_found / self.types_total if self.types_total else 0.0

    @property
    def token_rate(self) -> float:
        """Fraction (0..1) of training tokens whose word has a vector."""
        return self.tokens_found / self.tokens_total if self.tokens_total else 0.0

    def __str__(self) -> str:
        return (
            f"vectors cover {self.types_found:,}/{self.types_total:,} types ({self.type_rate:.1%}) "
            f"and {self.token_rate:.1%} of {self.tokens_total:,} tokens"
        )


def vectors_vocabulary(source: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """The words that have a vector in `source`, in file order (most frequent first in the word2vec/GloVe releases).

    Args:
        source: Vectors path or gensim-data name (see :func:`~textclf.vectors.resolve_vectors`).
        cache_dir: If given, the words come from the parsed-vectors store under ``<cache_dir>/vectors-store/``
            (the file is parsed into it on first use); else the file is parsed now.

    Returns:
        The words, exactly as spelled in the file (unique: see docs/vectors.md, "Anomalies").
    """
    path = resolve_vectors(source)

    def words(stored: StoredVectors) -> list[str]:
        if not stored.parsed_now:
            logger.info("vectors: %s; read its words", stored.describe())
        return stored.words

    return use_stored_vectors(path, cache_dir, words)


def _lookup_rows(index: dict[str, int], vocab: Sequence[str]) -> np.ndarray:
    """Row of each vocab word in the vectors (-1 when absent): exact, then lowercase, then capitalized."""
    rows = np.full(len(vocab), -1, dtype=np.int64)
    for i in range(2, len(vocab)):
        word = vocab[i]
        for key in (word, word.lower(), word.capitalize()):
            j = index.get(key)
            if j is not None:
                rows[i] = j
                break
    return rows


def _fill(gathered: np.ndarray, rows: np.ndarray, seed: int) -> np.ndarray:
    """Place the found rows' vectors (``gathered``, in vocab order); zero <pad>; draw the rest from U(-a, a).

    a = sqrt(3) * std of the found values.
    """
    found = rows >= 0
    matrix = np.zeros((len(rows), gathered.shape[1]), dtype=np.float32)
    matrix[found] = gathered
    std = float(np.std(matrix[found], dtype=np.float64)) if found.any() else 0.0
    a = math.sqrt(3.0) * std if std > 0 and math.isfinite(std) else 0.25
    missing = ~found
    missing[0] = False
    matrix[missing] = np.random.default_rng(seed).uniform(-a, a, size=(int(missing.sum()), matrix.shape[1]))
    return matrix


def _coverage(found: np.ndarray, token_counts: Sequence[int] | None) -> Coverage:
    """Coverage of the training words: with ``token_counts``, words never seen in training (count 0) are left out."""
    words = found[2:]
    counts = np.ones(len(words), np.int64) if token_counts is None else np.asarray(token_counts, np.int64)[2:]
    seen = counts > 0
    return Coverage(int(words[seen].sum()), int(seen.sum()), int(counts[words].sum()), int(counts.sum()))


def _aligned(
    path: Path, vocab: Sequence[str], seed: int, cache_dir: str | os.PathLike[str] | None
) -> tuple[np.ndarray, np.ndarray]:
    """The matrix aligned to `vocab` and which of its rows have a pretrained vector.

    They come from the parsed-vectors store (from a parse now, without ``cache_dir``).
    """
    start = time.perf_counter()

    def align(stored: StoredVectors) -> tuple[np.ndarray, np.ndarray]:
        rows = _lookup_rows(stored.index, vocab)
        matrix = _fill(stored.gather(rows[rows >= 0]), rows, seed)
        words = counted(len(vocab) - 2, "word")
        logger.info("vectors: %s; aligned %s in %.1f s", stored.describe(), words, time.perf_counter() - start)
        return matrix, rows >= 0

    return use_stored_vectors(path, cache_dir, align)


def _cached_alignment(
    path: Path, vocab: Sequence[str], seed: int, cache_dir: str | os.PathLike[str]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_aligned` through the ``vectors-matrix`` cache entry (matrix.npy, found.npy, meta.json)."""
    words = hashlib.sha256("\n".join(vocab).encode("utf-8", "surrogateescape")).hexdigest()
    settings = {"vectors": vectors_identity(path), "vocab": [len(vocab), words], "seed": seed}

    def write(value: tuple[np.ndarray, np.ndarray], folder: Path) -> None:
        matrix, found = value
        np.save(folder / "matrix.npy", matrix, allow_pickle=False)
        np.save(folder / "found.npy", found, allow_pickle=False)
        info = {"source": str(path.resolve()), "words": len(vocab), "dim": matrix.shape[1], "seed": seed}
        (folder / "meta.json").write_text(json.dumps(info))

    def read(folder: Path) -> tuple[np.ndarray, np.ndarray]:
        matrix = np.load(folder / "matrix.npy", allow_pickle=False)
        found = np.load(folder / "found.npy", allow_pickle=False)
        if matrix.dtype != np.float32 or matrix.ndim != 2 or len(matrix) != len(vocab) or found.shape != (len(vocab),):
            raise ValueError(f"a matrix of shape {matrix.shape} does not match the vocabulary of {len(vocab)}")
        logger.debug("loaded cached matrix %s", folder / "matrix.npy")
        return matrix, found.astype(bool)

    return _cached("vectors-matrix", settings, cache_dir, lambda: _aligned(path, vocab, seed, cache_dir), write, read)


def _cached(
    kind: str,
    settings: dict[str, object],
    cache_dir: str | os.PathLike[str],
    parse: Callable[[], T],
    write: Callable[[T, Path], None],
    read: Callable[[Path], T],
) -> T:
    """The cache entry's value; on a miss, what ``parse`` returns (and ``write`` stores): it is not read back.

    A cache that cannot be written (a read-only or full disk) only costs a warning.
    """
    parsed: list[T] = []

    def build(folder: Path) -> None:
        parsed.append(parse())
        write(parsed[0], folder)

    try:
        return cached(kind, settings, build, cache_dir, lambda folder: parsed[0] if parsed else read(folder))
    except OSError as e:
        logger.warning("cannot cache in %s: %s", cache_dir, " ".join(str(e).split()))
        return parsed[0] if parsed else parse()


def build_embedding_matrix(
    source: str | os.PathLike[str],
    vocab: Sequence[str],
    *,
    token_counts: Sequence[int] | None = None,
    expected_dim: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, Coverage]:
    """Build the embedding matrix for `vocab` from pretrained vectors.

    Args:
        source: Vectors path or gensim-data name (see :func:`~textclf.vectors.resolve_vectors`).
        vocab: Words by index; index 0 is ``<pad>`` (zero row), index 1 is ``<unk>`` (random row).
        token_counts: Training frequency per vocab index, for the token coverage; None counts each type once.
        expected_dim: If given, the vectors must have this dimension.
        cache_dir: If given, the vectors file is parsed once into ``<cache_dir>/vectors-store/`` (any later
            vocabulary is aligned from there in about a second), and the matrix is cached in
            ``<cache_dir>/vectors-matrix/`` (a hit skips the vectors file); processes asking for the same entry at
            once parse the file once (the others wait for it). Without it, the file is parsed now.
        seed: Seed of the U(-a, a) draws for ``<unk>`` and words without a vector.

    Returns:
        A float32 matrix of shape ``(len(vocab), dim)`` aligned to `vocab`, and the coverage.
    """
    if len(vocab) < 2:
        raise ValueError("vocab must start with <pad> and <unk>")
    if token_counts is not None and len(token_counts) != len(vocab):
        raise ValueError(f"token_counts has {len(token_counts)} entries but vocab has {len(vocab)}")
    path = resolve_vectors(source)
    if cache_dir is None:
        matrix, found = _aligned(path, vocab, seed, None)
    else:
        matrix, found = _cached_alignment(path, vocab, seed, cache_dir)
    _check_dim(path, matrix.shape[1], expected_dim)
    coverage = _coverage(found, token_counts)
    logger.info("%s (%s)", coverage, path)
    if coverage.types_total and coverage.type_rate < 0.5:
        logger.warning("only %.1f%% of the vocabulary has a vector in %s", 100 * coverage.type_rate, path)
    return matrix, coverage


def _check_dim(path: Path, dim: int, expected_dim: int | None) -> None:
    if expected_dim is not None and dim != expected_dim:
        raise TextclfError(
            f"vectors file {path} has dimension {dim} but embedding_dim is {expected_dim}; "
            f"set embedding_dim to {dim} or use {expected_dim}-dimensional vectors"
        )
