"""Subword vectors of fastText models: a vector for a word the model's vocabulary lacks (see docs/vectors.md).

A fastText model (``-maxn`` > 0) keeps, besides its words' vectors, a matrix of ``bucket`` rows into which every
character n-gram of length ``minn`` to ``maxn`` of ``<word>`` is hashed. The vector of any word is then the mean of
its n-grams' rows: :meth:`Subwords.vectors` computes it exactly as gensim's ``FastTextKeyedVectors.get_vector``
(and fastText's ``getWordVector``) do for a word outside the vocabulary, with gensim's own hash
(:func:`gensim.models.fasttext.ft_ngram_hashes`). Only the rows the words need are read from the matrix, which
the store keeps memory-mapped (:mod:`textclf.vectors.store`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textclf.errors import TextclfError
from textclf.vectors.parse import ParsedVectors

CHUNK_WORDS = 4096  # words averaged at a time (bounds the gathered n-gram rows to a few tens of MB)
CHECK_ROWS = 1 << 16  # rows of a model's matrices checked for non-finite values at a time


@dataclass(frozen=True)
class Subwords:
    """The n-gram bucket matrix of a fastText model: ``ngrams`` is float32 ``(bucket, dim)``.

    Every n-gram of ``<word>`` of ``min_n`` to ``max_n`` characters (``1 <= max_n``, ``min_n <= max_n``) has the
    row ``fastText_hash(utf-8 bytes) % bucket``.
    """

    min_n: int
    max_n: int
    ngrams: np.ndarray

    @property
    def bucket(self) -> int:
        """The number of n-gram rows."""
        return int(self.ngrams.shape[0])

    def settings(self) -> dict[str, int]:
        """What the store's meta.json keeps: ``{"min_n": .., "max_n": .., "bucket": ..}``."""
        return {"min_n": self.min_n, "max_n": self.max_n, "bucket": self.bucket}

    def hashes(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The n-gram rows of each word, concatenated (int64), and how many each word has (int64, ``len(words)``).

        A word with no n-gram (an empty word, or one too short for ``min_n`` with its ``<`` and ``>``) or that
        cannot be encoded as UTF-8 (a lone surrogate) has none.
        """
        from gensim.models.fasttext import ft_ngram_hashes

        per_word: list[list[int]] = []
        for word in words:
            try:
                per_word.append(ft_ngram_hashes(word, self.min_n, self.max_n, self.bucket))
            except UnicodeEncodeError:
                per_word.append([])
        counts = np.fromiter(map(len, per_word), dtype=np.int64, count=len(per_word))
        flat = np.fromiter((h for hashes in per_word for h in hashes), dtype=np.int64, count=int(counts.sum()))
        return flat, counts

    def vectors(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The subword vector of each word: the mean of its n-grams' rows, exactly as gensim's ``get_vector``.

        Each needed row is read once from the (memory-mapped) matrix. The rows are summed in gensim's order, in
        float32, one n-gram position at a time for all the words that have one (no loop over the words).

        Returns:
            A float32 ``(len(words), dim)`` matrix, and which words have a subword vector (a bool array; the
            rows of the others are zero).
        """
        out = np.zeros((len(words), self.ngrams.shape[1]), dtype=np.float32)
        has = np.zeros(len(words), dtype=bool)
        for start in range(0, len(words), CHUNK_WORDS):
            flat, counts = self.hashes(words[start : start + CHUNK_WORDS])
            has[start : start + len(counts)] = counts > 0
            if not len(flat):
                continue
            ids, where = np.unique(flat, return_inverse=True)  # sorted: the memory map is read in file order
            rows = np.asarray(self.ngrams[ids], dtype=np.float32)
            first = np.cumsum(counts) - counts  # where each word's n-grams start in flat
            sums = out[start : start + len(counts)]
            for position in range(int(counts.max())):
                active = np.flatnonzero(counts > position)
                sums[active] += rows[where[first[active] + position]]
            with_ngrams = counts > 0
            sums[with_ngrams] /= counts[with_ngrams, None].astype(np.float32)
        return out, has


@dataclass(frozen=True)
class SubwordVectors(ParsedVectors):
    """A parsed fastText model: its words and vectors, and its n-gram matrix (None when it has no subwords)."""

    subwords: Subwords | None


def fasttext_subwords(kv: Any, path: Path) -> Subwords | None:
    """The n-gram matrix of a fastText model loaded by gensim, or None when it has none (``maxn`` 0, ``bucket`` 0).

    Raises:
        TextclfError: the model's word or n-gram vectors hold a non-finite value (nan or inf).
    """
    check_finite(path, kv.vectors)
    bucket, min_n, max_n = int(kv.bucket), int(kv.min_n), int(kv.max_n)
    if bucket <= 0 or max_n < max(min_n, 1):
        return None
    ngrams = np.ascontiguousarray(kv.vectors_ngrams, dtype=np.float32)
    if ngrams.shape != (bucket, kv.vector_size):
        raise TextclfError(f"fastText model {path} holds {ngrams.shape} n-gram vectors, its header states {bucket}")
    check_finite(path, ngrams)
    return Subwords(min_n, max_n, ngrams)


def check_finite(path: Path, matrix: np.ndarray) -> None:
    """Raise the vectors readers' error when ``matrix`` holds a nan or an infinity (checked in blocks of rows).

    Raises:
        TextclfError: naming the file.
    """
    for start in range(0, len(matrix), CHECK_ROWS):
        if not np.isfinite(matrix[start : start + CHECK_ROWS]).all():
            raise TextclfError(f"vectors file {path}: a vector holds a non-finite value (nan or inf)")
