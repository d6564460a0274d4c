"""What the strict vectors readers share: the stream, its errors, and turning raw rows into unique words.

The readers (:mod:`textclf.vectors.text`, :mod:`textclf.vectors.binary`) collect each row's word as raw bytes,
its vector and where it is (a 1-based line, or a byte offset); :func:`finish` decodes the words, drops repeated
ones and logs one warning per kind of anomaly (see docs/vectors.md, "Anomalies").
"""

from __future__ import annotations

import codecs
import gzip
import logging
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import numpy as np

from textclf.errors import TextclfError

logger = logging.getLogger("textclf.vectors")

BOM = codecs.BOM_UTF8  # a leading UTF-8 byte-order mark (Notepad, some exporters) is dropped, as corpus readers do
CHUNK_BYTES = 1 << 24  # how much (decompressed) data a reader takes at a time
DEFLATE_MAX_RATIO = 1032  # no deflate stream expands more than this: bounds what a .gz file can hold
# A number as vectors files write it (digits, optional sign, point and exponent), for telling a value from a word.
NUMBER = re.compile(rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# What a reader reports as it goes: rows read so far, the open stream, and the rows the header announces (or None).
ProgressHook = Callable[[int, IO[bytes], int | None], None]


@dataclass(frozen=True)
class ParsedVectors:
    """Vectors read from a file: ``words[i]`` has the float32 row ``vectors[i]`` (shape ``(len(words), dim)``).

    The words are unique, in file order.
    """

    words: list[str]
    vectors: np.ndarray


@dataclass(frozen=True)
class Rows:
    """What a reader found: raw words, their rows and where each is (a line number, or a byte offset)."""

    words: list[bytes]
    vectors: np.ndarray
    where: np.ndarray
    unit: str  # "line" or "byte"


def open_stream(path: Path, gzipped: bool) -> IO[bytes]:
    """Open the file for reading bytes, decompressing gzip on the fly."""
    try:
        return cast(IO[bytes], gzip.open(path, "rb")) if gzipped else open(path, "rb")
    except OSError as e:
        raise TextclfError(f"cannot read vectors file {path}: {e.strerror or e}") from e


def file_head(data: bytes, path: Path) -> bytes:
    """The first (decompressed) bytes of a vectors file as the readers see them: without a leading UTF-8 BOM.

    Raises:
        TextclfError: the file (or the gzip stream) is empty, or holds nothing but the BOM.
    """
    data = data.removeprefix(BOM)
    if not data:
        raise TextclfError(f"vectors file {path} is empty")
    return data


def read_block(stream: IO[bytes], path: Path, offset: int, size: int = CHUNK_BYTES, near: str = "") -> bytes:
    """Up to ``size`` bytes; a truncated or corrupt gzip stream is a TextclfError naming the offset reached."""
    try:
        return stream.read(size)
    except (EOFError, OSError, zlib.error) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise TextclfError(
            f"vectors file {path} is truncated or corrupt after {offset} uncompressed bytes{near}: {reason}"
        ) from e


def row_bound(path: Path, gzipped: bool, min_row_bytes: int) -> int:
    """The most rows of at least ``min_row_bytes`` bytes the file can hold (gzip: at the largest deflate ratio)."""
    size = path.stat().st_size * (DEFLATE_MAX_RATIO if gzipped else 1)
    return size // max(min_row_bytes, 1) + 1


def parse_header(line: bytes, path: Path, where: str) -> tuple[int, int]:
    """The ``<count> <dim>`` header of a word2vec file: two decimal numbers, the dimension at least 1."""
    fields = line.split()
    if len(fields) != 2 or not all(f.isdigit() for f in fields) or int(fields[1]) < 1:
        shown = line[:60].decode("utf-8", "replace")
        raise TextclfError(f"vectors file {path}, {where}: expected a '<count> <dim>' header, got {shown!r}")
    return int(fields[0]), int(fields[1])


def check_finite(vectors: np.ndarray, where: Sequence[int] | np.ndarray, unit: str, path: Path) -> None:
    """A row holding NaN or an infinity (also a value too large for float32) is a TextclfError naming it."""
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        raise TextclfError(
            f"vectors file {path}, {unit} {int(where[i])}: a value is not finite (nan, inf, or beyond float32's range)"
        )


def _decode(words: list[bytes]) -> tuple[list[str], list[int]]:
    """The words as UTF-8 text (invalid bytes become U+FFFD), and the indexes of those that had invalid bytes."""
    try:
        text = b"\n".join(words).decode("utf-8").split("\n")
        if len(text) == len(words):  # else a (word2vec binary) word holds a newline: decode them one by one
            return text, []
    except UnicodeDecodeError:
        pass
    text, bad = [], []
    for i, word in enumerate(words):
        try:
            text.append(word.decode("utf-8"))
        except UnicodeDecodeError:
            text.append(word.decode("utf-8", "replace"))
            bad.append(i)
    return text, bad


def finish(rows: Rows, path: Path) -> ParsedVectors:
    """Decode the words, keep the first row of each repeated word, and log each kind of anomaly once."""
    if len(rows.words) == 0:
        raise TextclfError(f"vectors file {path} holds no vectors")
    unit = rows.unit
    words, bad = _decode(rows.words)
    if bad:
        logger.warning(
            "%s: %d word(s) are not valid UTF-8; their invalid bytes were replaced by U+FFFD (first: %s %d)",
            path, len(bad), unit, int(rows.where[bad[0]]),
        )  # fmt: skip
    vectors = rows.vectors
    if len(set(words)) != len(words):
        seen: set[str] = set()
        keep = np.ones(len(words), dtype=bool)
        for i, word in enumerate(words):
            if word in seen:
                keep[i] = False
            seen.add(word)
        dup = int(np.argmin(keep))
        logger.warning(
            "%s: %d repeated word(s) ignored, the first vector of each is kept (first repeat: %r at %s %d)",
            path, int((~keep).sum()), words[dup], unit, int(rows.where[dup]),
        )  # fmt: skip
        words = [w for w, k in zip(words, keep, strict=True) if k]
        vectors = vectors[keep]
    return ParsedVectors(words, np.ascontiguousarray(vectors, dtype=np.float32))
