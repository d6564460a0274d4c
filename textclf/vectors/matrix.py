"""Pretrained vectors aligned to a vocabulary: the embedding matrix, its coverage, and the vectors' own word list.

A word missing from a fastText model with subwords gets its subword vector (:mod:`textclf.vectors.subwords`).

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
from textclf.vectors.files import detect_vectors_format, resolve_vectors
from textclf.vectors.store import StoredVectors, use_stored_vectors, vectors_identity
from textclf.wording import counted

logger = logging.getLogger(__name__)

T = TypeVar("T")
# Where each row of an aligned matrix comes from (the int8 codes of a vectors-matrix entry's found.npy; an entry
# of an older textclf holds bools, read as RANDOM/FILE).
RANDOM, FILE, SUBWORD = 0, 1, 2


@dataclass(frozen=True)
class Coverage:
    """How much of a vocabulary (specials excluded) and of its training tokens has a pretrained vector.

    ``types_found``/``tokens_found`` count the words found in the vectors file (exactly, lowercased or
    capitalised); ``types_subword``/``tokens_subword`` the other words, which got a fastText subword vector.
    """

    types_found: int
    types_total: int
    tokens_found: int
    tokens_total: int
    types_subword: int = 0
    tokens_subword: int = 0

    @property
    def type_rate(self) -> float:
        """Fraction (0..1) of vocabulary words that have a vector."""
        return _rate(self.types_found, self.types_total)

    @property
    def token_rate(self) -> float:
        """Fraction (0..1) of training tokens whose word has a vector."""
        return _rate(self.tokens_found, self.tokens_total)

    @property
    def subword_type_rate(self) -> float:
        """Fraction (0..1) of vocabulary words whose vector was built from subwords."""
        return _rate(self.types_subword, self.types_total)

    @property
    def subword_token_rate(self) -> float:
        """Fraction (0..1) of training tokens whose word's vector was built from subwords."""
        return _rate(self.tokens_subword, self.tokens_total)

    def __str__(self) -> str:
        text = (
            f"vectors cover {self.types_found:,}/{self.types_total:,} types ({self.type_rate:.1%}) "
            f"and {self.token_rate:.1%} of {self.tokens_total:,} tokens"
        )
        if not self.types_subword:
            return text
        return (
            f"{text}; {self.types_subword:,} more types ({self.subword_type_rate:.1%}) and "
            f"{self.subword_token_rate:.1%} more tokens from subwords"
        )


def _rate(part: int, whole: int) -> float:
    """``part / whole``, 0.0 for an empty whole."""
    return part / whole if whole else 0.0


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


def _fill(
    gathered: np.ndarray, rows: np.ndarray, seed: int, subword: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """Place the found rows' vectors and the subword vectors; zero <pad>; draw the rest from U(-a, a).

    ``gathered`` holds the found rows' vectors in vocab order, ``subword`` the vocab indexes and vectors of the
    words with a subword vector. a = sqrt(3) * std of the found values (the subword vectors, means of n-gram
    rows, are not counted).
    """
    found = rows >= 0
    matrix = np.zeros((len(rows), gathered.shape[1]), dtype=np.float32)
    matrix[found] = gathered
    std = float(np.std(matrix[found], dtype=np.float64)) if found.any() else 0.0
    a = math.sqrt(3.0) * std if std > 0 and math.isfinite(std) else 0.25
    missing = ~found
    missing[0] = False
    if subword is not None:
        matrix[subword[0]] = subword[1]
        missing[subword[0]] = False
    matrix[missing] = np.random.default_rng(seed).uniform(-a, a, size=(int(missing.sum()), matrix.shape[1]))
    return matrix


def _coverage(source: np.ndarray, token_counts: Sequence[int] | None) -> Coverage:
    """Coverage of the training words (``source``: each row's code, FILE, SUBWORD or RANDOM).

    With ``token_counts``, words never seen in training (count 0) are left out.
    """
    found, subword = source[2:] == FILE, source[2:] == SUBWORD
    counts = np.ones(len(found), np.int64) if token_counts is None else np.asarray(token_counts, np.int64)[2:]
    seen = counts > 0
    types_found, types_total, types_subword = int(found[seen].sum()), int(seen.sum()), int(subword[seen].sum())
    tokens_found, tokens_total, tokens_subword = int(counts[found].sum()), int(counts.sum()), int(counts[subword].sum())
    return Coverage(types_found, types_total, tokens_found, tokens_total, types_subword, tokens_subword)


def _aligned(
    path: Path, vocab: Sequence[str], seed: int, cache_dir: str | os.PathLike[str] | None
) -> tuple[np.ndarray, np.ndarray]:
    """The matrix aligned to `vocab` and where each row comes from (int8 FILE, SUBWORD or RANDOM).

    They come from the parsed-vectors store (from a parse now, without ``cache_dir``). A word with no match in
    the file gets the subword vector of the word as it is in `vocab`, when the file is a fastText model with
    subwords (the model is meant to be trained on tokens of the same tokenizer).
    """
    start = time.perf_counter()

    def align(stored: StoredVectors) -> tuple[np.ndarray, np.ndarray]:
        rows = _lookup_rows(stored.index, vocab)
        source = np.where(rows >= 0, FILE, RANDOM).astype(np.int8)
        subword = None
        if stored.subwords is not None:
            need = np.flatnonzero(rows[2:] < 0) + 2
            vectors, has = stored.subword_vectors([vocab[i] for i in need.tolist()])
            subword = (need[has], vectors[has])
            source[need[has]] = SUBWORD
        matrix = _fill(stored.gather(rows[rows >= 0]), rows, seed, subword)
        words = counted(len(vocab) - 2, "word")
        if subword is not None:
            words += f" ({len(subword[0]):,} from subwords)"
        logger.info("vectors: %s; aligned %s in %.1f s", stored.describe(), words, time.perf_counter() - start)
        return matrix, source

    return use_stored_vectors(path, cache_dir, align)


def _cached_alignment(
    path: Path, vocab: Sequence[str], seed: int, cache_dir: str | os.PathLike[str]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_aligned` through the ``vectors-matrix`` cache entry (matrix.npy, found.npy, meta.json).

    A fastText model's key also holds ``"subwords": 1``: entries of older versions (random rows where subword
    vectors now go) are not reused. Other formats keep their keys (and entries).
    """
    words = hashlib.sha256("\n".join(vocab).encode("utf-8", "surrogateescape")).hexdigest()
    settings = {"vectors": vectors_identity(path), "vocab": [len(vocab), words], "seed": seed}
    if _sniffed(path) == "fasttext-binary":
        settings["subwords"] = 1

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
        if found.dtype not in (np.bool_, np.int8) or not np.isin(found, (RANDOM, FILE, SUBWORD)).all():
            raise ValueError(f"found.npy holds {found.dtype} values other than the row sources 0, 1, 2")
        logger.debug("loaded cached matrix %s", folder / "matrix.npy")
        return matrix, found.astype(np.int8)

    return _cached("vectors-matrix", settings, cache_dir, lambda: _aligned(path, vocab, seed, cache_dir), write, read)


def _sniffed(path: Path) -> str | None:
    """The file's format, or None when it has none (reading it then raises the error that says why)."""
    try:
        return detect_vectors_format(path)
    except TextclfError:
        return None


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
    if coverage.types_total and coverage.type_rate < 0.5:  # subword vectors do not count: any string has some
        more = f" ({coverage.subword_type_rate:.1%} more from subwords)" if coverage.types_subword else ""
        logger.warning("only %.1f%% of the vocabulary has a vector in %s%s", 100 * coverage.type_rate, path, more)
    return matrix, coverage


def _check_dim(path: Path, dim: int, expected_dim: int | None) -> None:
    if expected_dim is not None and dim != expected_dim:
        raise TextclfError(
            f"vectors file {path} has dimension {dim} but embedding_dim is {expected_dim}; "
            f"set embedding_dim to {dim} or use {expected_dim}-dimensional vectors"
        )
