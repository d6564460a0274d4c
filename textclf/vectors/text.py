"""Strict reader of word2vec text (``<count> <dim>`` header) and GloVe text (no header) vectors files.

Each line is a word and then ``dim`` numbers, separated by spaces or tabs. The last ``dim`` fields are the vector
and everything before them is the word, so a word may hold spaces (GloVe 840B has ``. . .``). Every anomaly is a
:class:`~textclf.errors.TextclfError` naming the file and the 1-based line, or is handled as docs/vectors.md
("Anomalies") says. Chunks of lines go through ``numpy.loadtxt`` (no Python loop over the values); a chunk it
cannot take as ``word value...`` lines is read again line by line, which finds words with spaces and the exact
cause of an error.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections import Counter
from pathlib import Path
from typing import IO

import numpy as np

from textclf.errors import TextclfError
from textclf.vectors.parse import (
    NUMBER,
    ParsedVectors,
    ProgressHook,
    Rows,
    file_head,
    finish,
    open_stream,
    parse_header,
    read_block,
    row_bound,
)

logger = logging.getLogger("textclf.vectors")

MAX_LINE_BYTES = 1 << 26  # a "line" longer than this is not a vectors file
GUESS_LINES = 1000  # GloVe: the dimension is the most common value count over this many first lines


def read_text_vectors(path: Path, gzipped: bool, header: bool, progress: ProgressHook | None = None) -> ParsedVectors:
    """Read a word2vec text (``header=True``) or GloVe text file.

    A leading UTF-8 byte-order mark is dropped.

    Args:
        path: The file (gzip-compressed when ``gzipped``).
        gzipped: Whether to decompress it.
        header: Whether its first line is ``<count> <dim>``; without it, the dimension is the most common number
            of values among the first 1000 lines (ties: the smallest).
        progress: Called after each block of lines (16 MiB) with the rows read so far, the stream and the count
            the header announces.

    Returns:
        Unique words in file order and their float32 vectors.

    Raises:
        TextclfError: naming the file and the line, for an empty file, a bad header, a line with the wrong number
            of values, a value that is not a finite float32 number, fewer or more lines than the header announces,
            or a truncated/corrupt gzip stream.
    """
    reader = _TextReader(path, gzipped, header)
    with open_stream(path, gzipped) as stream:
        return finish(reader.read(stream, progress), path)


class _TextReader:
    def __init__(self, path: Path, gzipped: bool, header: bool) -> None:
        self.path, self.gzipped, self.header = path, gzipped, header
        self.count: int | None = None  # vectors the header announces
        self.dim: int | None = None
        self.dim_from = "the header, line 1" if header else f"the most common count in the first {GUESS_LINES} lines"
        self.words: list[bytes] = []
        self.blocks: list[np.ndarray] = []
        self.where: list[np.ndarray] = []
        self.rows = 0
        self.matrix: np.ndarray | None = None
        self.pending = [0, 0]  # blank lines not yet followed by a vector: count, first line
        self.middle = [0, 0]  # blank lines followed by a vector: count, first line
        self.spaced = [0, 0]  # words holding a space or tab: count, first line

    def read(self, stream: IO[bytes], progress: ProgressHook | None = None) -> Rows:
        offset, line_no, carry = 0, 1, b""
        while True:
            block = read_block(stream, self.path, offset, near=f" (near line {line_no})")
            data = carry + block if offset else file_head(block, self.path)  # the first block holds the whole head
            offset += len(block)
            cut = data.rfind(b"\n") if block else len(data)
            if cut < 0:
                if len(data) > MAX_LINE_BYTES:
                    raise TextclfError(f"vectors file {self.path}, line {line_no}: longer than {MAX_LINE_BYTES} bytes")
                carry = data
                continue
            lines, carry = (data[:cut].split(b"\n") if data else []), data[cut + 1 :]
            self._lines(lines, line_no, plain=_plain(data))
            line_no += len(lines)
            if progress is not None:
                progress(self.rows, stream, self.count)
            if not block:
                return self._end(line_no - 1)

    def _lines(self, lines: list[bytes], first: int, plain: bool) -> None:
        stripped = [line.rstrip() for line in lines]
        if self.header and self.count is None and stripped:
            self._header(stripped[0])
            stripped, first = stripped[1:], first + 1
        where = np.arange(first, first + len(stripped), dtype=np.int64)
        if b"" in stripped:
            full = [bool(line) for line in stripped]
            self._blanks(full, first)
            stripped, where = [line for line in stripped if line], where[np.array(full, dtype=bool)]
        if not stripped:
            return
        if self.dim is None:
            self.dim = _guess_dim(stripped[:GUESS_LINES], where, self.path)
        parsed = self._fast(stripped) if plain else None
        words, vectors = parsed or self._slow(stripped, where)
        self._store(words, vectors, where)

    def _header(self, line: bytes) -> None:
        self.count, self.dim = parse_header(line, self.path, "line 1")
        if self.count > row_bound(self.path, self.gzipped, 2 * self.dim + 1):
            raise TextclfError(
                f"vectors file {self.path}, line 1: the header announces {self.count} vectors of {self.dim} "
                f"numbers, more than the file's {self.path.stat().st_size} bytes can hold"
            )
        self.matrix = np.empty((self.count, self.dim), dtype=np.float32)

    def _blanks(self, full: list[bool], first: int) -> None:
        last = len(full) - 1 - full[::-1].index(True) if any(full) else -1
        if last >= 0 and self.pending[0]:
            self.middle = [self.middle[0] + self.pending[0], self.middle[1] or self.pending[1]]
            self.pending = [0, 0]
        for i, is_full in enumerate(full):
            if not is_full:
                bucket = self.middle if i < last else self.pending
                bucket[0] += 1
                bucket[1] = bucket[1] or first + i

    def _fast(self, lines: list[bytes]) -> tuple[list[bytes], np.ndarray] | None:
        """``word value...`` lines with single-space-free words, or None when the chunk needs the slow path."""
        parts = [line.partition(b" ") for line in lines]
        words = [p[0] for p in parts]
        if b"" in words:
            return None
        values = io.BytesIO(b"\n".join([p[2] for p in parts]))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # loadtxt warns about lines it finds empty; the shape tells
                vectors = np.loadtxt(values, dtype=np.float64, comments=None, ndmin=2, encoding="latin-1")
        except ValueError:
            return None
        if vectors.shape != (len(lines), self.dim):
            return None
        with np.errstate(over="ignore"):
            return words, vectors.astype(np.float32)

    def _slow(self, lines: list[bytes], where: np.ndarray) -> tuple[list[bytes], np.ndarray]:
        dim = self.dim or 0
        words, rows = [], []  # rows built from what the lines hold: a hostile header's dim allocates nothing
        for i, line in enumerate(lines):
            fields = line.rsplit(None, dim)
            if len(fields) != dim + 1:
                self._fail(where[i], f"expected a word and {dim} numbers ({self.dim_from}), got {len(fields)} fields")
            word = fields[0]
            if b" " in word or b"\t" in word:
                extra = _trailing_numbers(word)
                if extra:
                    self._fail(where[i], f"{dim + extra} numbers, expected {dim} ({self.dim_from})")
                self.spaced = [self.spaced[0] + 1, self.spaced[1] or int(where[i])]
            try:
                rows.append([float(value) for value in fields[1:]])
            except ValueError:
                bad = next(v for v in fields[1:] if not _is_float(v))
                self._fail(where[i], f"{bad.decode('utf-8', 'replace')[:40]!r} is not a number")
            words.append(word)
        with np.errstate(over="ignore"):
            return words, np.array(rows, dtype=np.float64).reshape(len(rows), dim).astype(np.float32)

    def _store(self, words: list[bytes], vectors: np.ndarray, where: np.ndarray) -> None:
        if self.count is not None and self.rows + len(words) > self.count:
            line = int(where[self.count - self.rows])
            self._fail(line, f"more vectors than the {self.count} the header (line 1) announces")
        bad = ~np.isfinite(vectors).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            self._fail(where[i], "a value is not finite (nan, inf, or beyond float32's range)")
        if self.matrix is not None:
            self.matrix[self.rows : self.rows + len(words)] = vectors
        else:
            self.blocks.append(vectors)
        self.words.extend(words)
        self.where.append(where)
        self.rows += len(words)

    def _end(self, last_line: int) -> Rows:
        if self.header and self.count is None:
            raise TextclfError(f"vectors file {self.path} is empty: expected a '<count> <dim>' header")
        if self.count is not None and self.rows < self.count:
            raise TextclfError(
                f"vectors file {self.path} ends at line {last_line} after {self.rows} of the {self.count} vectors "
                f"its header (line 1) announces; is it truncated?"
            )
        if self.middle[0]:
            logger.warning("%s: skipped %d blank line(s) (first: line %d)", self.path, *self.middle)
        if self.spaced[0]:
            logger.info("%s: %d word(s) hold spaces (first: line %d)", self.path, *self.spaced)
        if self.matrix is not None:
            vectors = self.matrix[: self.rows]
        else:
            vectors = np.concatenate(self.blocks) if self.blocks else np.empty((0, self.dim or 0), np.float32)
        where = np.concatenate(self.where) if self.where else np.empty(0, np.int64)
        return Rows(self.words, vectors, where, "line")

    def _fail(self, line: int | np.integer, why: str) -> None:
        raise TextclfError(f"vectors file {self.path}, line {int(line)}: {why}")


def _plain(data: bytes) -> bool:
    """Whether fields are separated by spaces only (lines may end in CRLF): the fast path's assumption."""
    return not (b"\t" in data or b"\x0b" in data or b"\x0c" in data) and data.count(b"\r") == data.count(b"\r\n")


def _guess_dim(lines: list[bytes], where: np.ndarray, path: Path) -> int:
    counts = Counter(len(line.split()) for line in lines)
    fields = min(counts, key=lambda n: (-counts[n], n))
    if fields < 2:
        raise TextclfError(
            f"vectors file {path}, line {int(where[0])}: most of the first lines hold a single field, "
            f"expected a word and numbers"
        )
    return fields - 1


def _trailing_numbers(word: bytes) -> int:
    """How many whitespace-separated fields at the end of a multi-field word are numbers (values, not words)."""
    fields = word.split()
    n = 0
    while n < len(fields) - 1 and NUMBER.fullmatch(fields[-1 - n]):
        n += 1
    return n


def _is_float(value: bytes) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
