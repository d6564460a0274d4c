"""Tokenizers: one small, serialisable object used identically for training, evaluation and prediction."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

TokenizerMode = Literal["basic", "cased", "whitespace"]

PHRASE_DELIMITER = "_"
"""What joins the two words of a phrase (``new_york``), as gensim ``Phrases`` joins them for ``vectors train``."""


def _marks() -> str:
    r"""The inside of a regex character class of the combining marks (Unicode categories Mn, Mc, Me) and ZWNJ/ZWJ.

    Python's ``\w`` leaves these out, yet they belong to the letter before them: Devanagari vowel signs, Arabic
    and Hebrew vowel points, decomposed accents ("e" + U+0301), the dot of lowercased "İ" (U+0130).
    """
    ranges: list[list[int]] = []
    for code in range(0x110000):
        if unicodedata.category(chr(code))[0] == "M" or code in (0x200C, 0x200D):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "".join(_escape(a) + (f"-{_escape(b)}" if b > a else "") for a, b in ranges)


def _escape(code: int) -> str:
    r"""A code point as a regex escape (``\u0300``, ``\U0001d165``)."""
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


_MARKS = _marks()
_WORD = rf"[\w{_MARKS}]+"
# A word (letters/digits and their combining marks, with inner apostrophes or hyphens: "don't", "re-imagining"),
# or one other non-space character (a punctuation mark, symbol or control character) with its combining marks.
_BASIC_TOKEN = re.compile(rf"{_WORD}(?:['\u2019\-]{_WORD})*|[^\w\s][{_MARKS}]*")


@dataclass(frozen=True)
class Tokenizer:
    """Split text into tokens and truncate to ``max_length``.

    Truncation lives here so that training, evaluation and prediction cut texts the same way.

    Args:
        mode: ``basic`` lowercases and splits punctuation from words (English default, for uncased
            vectors such as GloVe); ``cased`` splits the same way but keeps case (GoogleNews word2vec is
            cased); ``whitespace`` only splits on whitespace (pre-tokenised corpora such as SST). In
            ``basic`` and ``cased`` mode a word is a run of letters, digits and underscores with their combining
            marks (accents, vowel signs), joined by inner apostrophes or hyphens; every other non-space
            character is a token of its own (with its combining marks). Tokens are never empty and never hold
            whitespace (``str.isspace``); no other character is dropped.
        max_length: keep at most this many tokens of each text (the first ones, after phrases are joined);
            ``None`` keeps all.
        phrases: joined word pairs (``new_york``) that replace their two words wherever these follow each other,
            left to right, exactly as gensim's frozen ``Phrases`` joins them (Mikolov et al. 2013, section 4). They
            come from vectors trained with ``textclf vectors train --phrases`` (the ``phrases`` of the vectors
            file's ``.json`` sidecar), so that the classifier reads the tokens the vectors were trained on.

    Raises:
        ValueError: an unknown mode, a ``max_length`` below 1, a phrase that is not two non-empty words joined by
            ``_`` (a string without whitespace).
    """

    mode: TokenizerMode = "basic"
    max_length: int | None = None
    phrases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in ("basic", "cased", "whitespace"):
            raise ValueError(f"unknown tokenizer mode {self.mode!r}; expected basic, cased or whitespace")
        if self.max_length is not None and self.max_length < 1:
            raise ValueError(f"max_length must be >= 1 or None, got {self.max_length}")
        if isinstance(self.phrases, str) or not all(_is_phrase(p) for p in self.phrases):
            bad = self.phrases if isinstance(self.phrases, str) else next(p for p in self.phrases if not _is_phrase(p))
            shown = repr(bad) if len(repr(bad)) <= 80 else f"{repr(bad)[:60]}... ({len(repr(bad)):,} characters)"
            raise ValueError(f"phrase {shown} is not two words joined by {PHRASE_DELIMITER!r}")
        object.__setattr__(self, "phrases", tuple(self.phrases))
        object.__setattr__(self, "_phrase_set", frozenset(self.phrases))

    def __call__(self, text: str) -> list[str]:
        """Tokens of one text, phrases joined, truncated to ``max_length``."""
        if self.mode == "whitespace":
            tokens = text.split()
        elif self.mode == "cased":
            tokens = _BASIC_TOKEN.findall(text)
        else:
            tokens = _BASIC_TOKEN.findall(text.lower())
        if self.phrases:
            tokens = join_phrases(tokens, self._phrase_set)  # type: ignore[attr-defined]
        return tokens[: self.max_length] if self.max_length is not None else tokens

    def batch(self, texts: Iterable[str]) -> list[list[str]]:
        """Tokens of many texts."""
        return [self(text) for text in texts]

    def to_dict(self) -> dict[str, Any]:
        """Plain settings, stored in checkpoints (``phrases`` only when there are some: older keys stay the same)."""
        settings: dict[str, Any] = {"mode": self.mode, "max_length": self.max_length}
        if self.phrases:
            settings["phrases"] = list(self.phrases)
        return settings

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> Tokenizer:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: ``phrases`` is not a list of phrases; what the constructor raises.
        """
        phrases = settings.get("phrases", ())
        if not isinstance(phrases, (list, tuple)):
            raise ValueError(f"phrases must be a list of joined word pairs, got {type(phrases).__name__}")
        return cls(**{**settings, "phrases": tuple(phrases)})


def _is_phrase(phrase: object) -> bool:
    """Whether ``phrase`` can be a joined pair: UTF-8 text without whitespace, the delimiter between two parts."""
    if not isinstance(phrase, str) or not 0 < phrase.find(PHRASE_DELIMITER) < len(phrase) - 1:
        return False
    try:
        phrase.encode("utf-8")  # a lone surrogate (JSON "\ud800") is no text: tokenizer.json could not hold it
    except UnicodeEncodeError:
        return False
    return not any(c.isspace() for c in phrase)


def join_phrases(tokens: list[str], phrases: frozenset[str] | set[str]) -> list[str]:
    """``tokens`` with each pair ``a, b`` whose ``a_b`` is in ``phrases`` joined into that one token.

    Left to right, a joined pair is not joined again (``a b c`` with ``a_b`` and ``b_c``: ``a_b c``): the rule of
    gensim's ``FrozenPhrases`` without connector words, so the classifier's tokens are those the vectors saw.
    """
    out: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        if i + 1 < n and (pair := tokens[i] + PHRASE_DELIMITER + tokens[i + 1]) in phrases:
            out.append(pair)
            i += 2
        else:
            out.append(tokens[i])
            i += 1
    return out
