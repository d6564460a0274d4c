"""The text ``textclf vectors train`` learns from, tokenised once into a file of tokens.

A source (:mod:`.sources`) is a text file (one text per line, UTF-8, gzip allowed) or a corpus given
by a data config: the training split ``textclf fit`` trains on, or its unlabelled text. Every text is tokenised with
the classifier's :class:`~textclf.tokenize.Tokenizer` (all tokens kept: no ``max_length``) and written as one line
of tokens separated by spaces, gensim's ``LineSentence`` format: tokens never hold whitespace, so splitting the line
gives them back. Training then reads tokens, not text, at every epoch.
"""

from __future__ import annotations

import errno
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from textclf.errors import TextclfError
from textclf.tokenize import PHRASE_DELIMITER, Tokenizer
from textclf.tokenize import join_phrases as join_pairs
from textclf.vectors_training.sources import Source
from textclf.wording import counted

log = logging.getLogger(__name__)

MAX_SENTENCE = 10000  # gensim trains on at most this many words of a sentence: longer texts go in pieces


@dataclass
class TokenFile:
    """A tokenised corpus: one text per line, its tokens separated by spaces (``phrases``: the pairs joined in it)."""

    path: Path
    texts: int = 0
    tokens: int = 0
    sources: list[dict[str, Any]] = field(default_factory=list)
    phrases: tuple[str, ...] = ()


def write_tokens(
    sources: list[Source], tokenizer: Tokenizer, path: Path, every: float = 10.0, max_texts: int | None = None
) -> TokenFile:
    """Tokenise every text of ``sources`` into ``path``: one line per text with tokens, empty texts left out.

    Logs a line every ``every`` seconds while it runs, and one per source at its end. With ``max_texts``, only the
    first ``max_texts`` texts with tokens are kept (in source order), for a quick trial.

    Raises:
        TextclfError: what reading a source raises; ``path`` cannot be written (its folder, the temporary folder,
            ran out of space: naming it, ``$TMPDIR`` and the bytes written).
    """
    result = TokenFile(path)
    start = last = time.monotonic()
    with TokenWriter(path) as out:
        for source in sources:
            texts = tokens = 0
            for text in source.texts():
                if max_texts is not None and result.texts + texts >= max_texts:
                    break
                words = tokenizer(text)
                for piece in range(0, len(words), MAX_SENTENCE):
                    out.write(" ".join(words[piece : piece + MAX_SENTENCE]) + "\n")
                texts, tokens = texts + bool(words), tokens + len(words)
                if time.monotonic() - last >= every:
                    last = time.monotonic()
                    log.info("tokenising: %s, %s so far", counted(result.texts + texts, "text"),
                             counted(result.tokens + tokens, "token"))  # fmt: skip
            result.sources.append({**source.about, "texts": texts, "tokens": tokens})
            result.texts, result.tokens = result.texts + texts, result.tokens + tokens
            log.info("%s: %s, %s", _described(source.about), counted(texts, "text"), counted(tokens, "token"))
    log.info("tokenised %s in %.1fs (%s tokenizer)", counted(result.texts, "text"), time.monotonic() - start,
             tokenizer.mode)  # fmt: skip
    return result


def _described(about: dict[str, Any]) -> str:
    if "input" in about:
        return str(about["input"])
    return f"{about['class'].rsplit('.', 1)[-1]} {about['split']} texts"


def join_phrases(corpus: TokenFile, path: Path, min_count: int, threshold: float) -> TokenFile:
    """``corpus`` rewritten into ``path`` with frequent word pairs joined by ``_`` (gensim ``Phrases``).

    Bigrams seen at least ``min_count`` times whose score (Mikolov et al. 2013, section 4) exceeds ``threshold``
    become one token, such as ``new_york``; they are joined by :func:`textclf.tokenize.join_phrases`, the rule the
    classifier's tokenizer applies. The result's ``phrases`` are the joined tokens that occur, sorted.

    Raises:
        TextclfError: ``path`` cannot be written (as :func:`write_tokens`).
    """
    from gensim.models.phrases import Phrases

    start = time.monotonic()
    found = Phrases(TokenLines(corpus.path), min_count=min_count, threshold=threshold, delimiter=PHRASE_DELIMITER)
    pairs = frozenset(found.freeze().phrasegrams)
    joined = TokenFile(path, corpus.texts, 0, corpus.sources)
    kinds: set[str] = set()
    with TokenWriter(path) as out:
        for words in TokenLines(corpus.path):
            tokens = join_pairs(words, pairs)
            if len(tokens) < len(words):  # some pairs were joined
                kinds.update(token for token in tokens if token in pairs)
            joined.tokens += len(tokens)
            out.write(" ".join(tokens) + "\n")
    joined.phrases = tuple(sorted(kinds))
    log.info("phrases: %s joined (e.g. %s) in %.1fs; %s", counted(len(kinds), "phrase"),
             ", ".join(sorted(kinds)[:3]) or "none", time.monotonic() - start,
             counted(joined.tokens, "token"))  # fmt: skip
    return joined


class TokenWriter:
    """A token file written line by line; a write that fails (a full disk) is one line naming its folder.

    Raises (when written, or closed at the end of the ``with`` block):
        TextclfError: the file cannot be created or written: ``no space left`` for a full disk or quota, naming the
            folder, ``$TMPDIR`` and the bytes written so far; otherwise the system's reason.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.handle = path.open("w", encoding="utf-8", newline="\n")
        except OSError as e:
            raise self._error(e) from None

    def write(self, text: str) -> None:
        """Write ``text``."""
        try:
            self.handle.write(text)
        except OSError as e:
            raise self._error(e) from None

    def __enter__(self) -> TokenWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        try:
            self.handle.close()  # the last buffered lines: a full disk may show only now
        except OSError as e:
            if kind is None:  # else the error on its way out is the one to tell
                raise self._error(e) from None

    def _error(self, error: OSError) -> TextclfError:
        try:
            size = f"{self.path.stat().st_size:,} bytes"
        except OSError:
            size = "nothing"
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            return TextclfError(
                f"no space left in the temporary folder {self.path.parent} after writing {size} of tokens "
                f"(TMPDIR is {tempfile.gettempdir()}): set TMPDIR to a folder with more room"
            )
        return TextclfError(f"cannot write the token file {self.path}: {error.strerror or error}")


class TokenLines:
    """The token lists of a token file, read again at each iteration (gensim iterates its corpus several times)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[list[str]]:
        with self.path.open(encoding="utf-8", newline="\n") as handle:
            for line in handle:
                yield line.split()
