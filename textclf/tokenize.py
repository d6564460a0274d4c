"""Tokenizers: one small, serialisable object used identically for training, evaluation and prediction."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

TokenizerMode = Literal["basic", "cased", "whitespace"]

# A word (letters/digits, with inner apostrophes or hyphens: "don't", "re-imagining") or one punctuation mark.
_BASIC_TOKEN = re.compile(r"\w+(?:['\u2019\-]\w+)*|[^\w\s]")


@dataclass(frozen=True)
class Tokenizer:
    """Split text into tokens and truncate to ``max_length``.

    Truncation lives here so that training, evaluation and prediction cut texts the same way.

    Args:
        mode: ``basic`` lowercases and splits punctuation from words (English default, for uncased
            vectors such as GloVe); ``cased`` splits the same way but keeps case (GoogleNews word2vec is
            cased); ``whitespace`` only splits on whitespace (pre-tokenised corpora such as SST).
        max_length: keep at most this many tokens of each text (the first ones); ``None`` keeps all.
    """

    mode: TokenizerMode = "basic"
    max_length: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("basic", "cased", "whitespace"):
            raise ValueError(f"unknown tokenizer mode {self.mode!r}; expected basic, cased or whitespace")
        if self.max_length is not None and self.max_length < 1:
            raise ValueError(f"max_length must be >= 1 or None, got {self.max_length}")

    def __call__(self, text: str) -> list[str]:
        """Tokens of one text, truncated to ``max_length``."""
        if self.mode == "whitespace":
            tokens = text.split()
        elif self.mode == "cased":
            tokens = _BASIC_TOKEN.findall(text)
        else:
            tokens = _BASIC_TOKEN.findall(text.lower())
        return tokens[: self.max_length] if self.max_length is not None else tokens

    def batch(self, texts: Iterable[str]) -> list[list[str]]:
        """Tokens of many texts."""
        return [self(text) for text in texts]

    def to_dict(self) -> dict[str, Any]:
        """Plain settings, stored in checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> Tokenizer:
        """Inverse of :meth:`to_dict`."""
        return cls(**settings)
