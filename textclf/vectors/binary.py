"""Strict reader of word2vec binary vectors files (``GoogleNews-vectors-negative300.bin``).

The file is a ``<count> <dim>`` text line, then ``count`` times: the word's bytes, a space, and ``dim``
little-endian float32 values (word2vec.c also writes a newline after each vector, which is skipped). Every anomaly
is a :class:`~textclf.errors.TextclfError` naming the file and the byte offset (in the decompressed data), or is
handled as docs/vectors.md ("Anomalies") says.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import numpy as np

from textclf.errors import TextclfError
from textclf.vectors.parse import (
    ParsedVectors,
    ProgressHook,
    Rows,
    check_finite,
    file_head,
    finish,
    open_stream,
    parse_header,
    read_block,
    row_bound,
)

MAX_WORD_BYTES = 1 << 16  # a word longer than this means the file is not word2vec binary (or is misaligned)


def read_word2vec_binary(path: Path, gzipped: bool, progress: ProgressHook | None = None) -> ParsedVectors:
    """Read a word2vec binary file.

    Args:
        path: The file (gzip-compressed when ``gzipped``).
        gzipped: Whether to decompress it.
        progress: Called every 16,384 words with the words read so far, the stream and the count the header
            announces.

    Returns:
        Unique words in file order and their float32 vectors, shape ``(words, dim)``. A leading UTF-8 byte-order
        mark before the header is dropped (byte offsets in errors still count it).

    Raises:
        TextclfError: naming the file and the byte offset, for an empty file, a bad header, a missing or empty
            word, a file that ends inside a word or a vector, data after the announced vectors, a non-finite value,
            or a truncated/corrupt gzip stream.
    """
    with open_stream(path, gzipped) as stream:
        return finish(_read(stream, path, gzipped, progress), path)


class Buffer:
    """The decompressed bytes from ``start`` on, refilled from the stream as the reader moves through them."""

    def __init__(self, stream: IO[bytes], path: Path) -> None:
        self.stream, self.path = stream, path
        self.data, self.start, self.eof = b"", 0, False

    def fill(self, pos: int) -> bool:
        """Drop what lies before ``pos`` and read more; False at the end of the file."""
        if self.eof:
            return False
        self.data = self.data[pos - self.start :]
        self.start = pos
        block = read_block(self.stream, self.path, self.start + len(self.data))
        self.eof = not block
        self.data += block
        return bool(block)


def _read(stream: IO[bytes], path: Path, gzipped: bool, progress: ProgressHook | None) -> Rows:
    buf = Buffer(stream, path)
    buf.fill(0)
    start = len(buf.data) - len(file_head(buf.data, path))  # 3 after a UTF-8 BOM; byte offsets stay the file's
    newline = buf.data.find(b"\n", start, start + 100)
    count, dim = parse_header(buf.data[start : newline if newline >= 0 else start + 100], path, f"byte {start}")
    size = 4 * dim
    if count > row_bound(path, gzipped, size + 2):
        raise TextclfError(
            f"vectors file {path}, byte 0: the header announces {count} vectors of {dim} values, "
            f"more than the file's {path.stat().st_size} bytes can hold"
        )
    matrix = np.empty((count, dim), dtype=np.float32)
    words: list[bytes] = []
    where = np.empty(count, dtype=np.int64)
    pos = newline + 1  # absolute offset of the next word
    pieces: list[bytes] = []
    for i in range(count):
        while True:  # the word: up to the next space, leading newlines skipped
            rel = pos - buf.start
            space = buf.data.find(b" ", rel, rel + MAX_WORD_BYTES)
            if space >= 0 and space + 1 + size <= len(buf.data):
                break
            if space < 0 and len(buf.data) - rel >= MAX_WORD_BYTES:
                raise TextclfError(f"vectors file {path}, byte {pos}: no space within {MAX_WORD_BYTES} bytes "
                                   f"(word {i + 1} of {count}); not word2vec binary, or misaligned")  # fmt: skip
            _flush(pieces, matrix, len(words) - len(pieces), dim)
            if not buf.fill(pos):
                place = "a word" if space < 0 else "the vector of a word"
                rest = buf.data[pos - buf.start :]
                begin = pos + len(rest) - len(rest.lstrip(b"\n"))
                raise TextclfError(
                    f"vectors file {path} ends at byte {buf.start + len(buf.data)} inside {place} (vector {i + 1} "
                    f"of the {count} its header announces, from byte {begin}); "
                    f"is it truncated?"
                )
        raw = buf.data[rel:space]
        word = raw.lstrip(b"\n")
        skipped = len(raw) - len(word)
        if not word:
            raise TextclfError(f"vectors file {path}, byte {pos + skipped}: empty word (vector {i + 1} of {count})")
        where[i] = pos + skipped
        words.append(word)
        pieces.append(buf.data[space + 1 : space + 1 + size])
        pos = buf.start + space + 1 + size
        if len(pieces) >= 1 << 14:
            _flush(pieces, matrix, len(words) - len(pieces), dim)
            if progress is not None:
                progress(len(words), stream, count)
    _flush(pieces, matrix, len(words) - len(pieces), dim)
    _check_rest(buf, pos, count, path)
    check_finite(matrix, where, "byte", path)
    return Rows(words, matrix, where, "byte")


def _flush(pieces: list[bytes], matrix: np.ndarray, first: int, dim: int) -> None:
    """Copy the raw vectors gathered so far into ``matrix`` rows from ``first`` on."""
    if pieces:
        matrix[first : first + len(pieces)] = np.frombuffer(b"".join(pieces), dtype="<f4").reshape(-1, dim)
        pieces.clear()


def _check_rest(buf: Buffer, pos: int, count: int, path: Path) -> None:
    """After the announced vectors only whitespace may follow."""
    while True:
        rest = buf.data[pos - buf.start :]
        if rest.strip():
            offset = pos + len(rest) - len(rest.lstrip())
            raise TextclfError(
                f"vectors file {path}, byte {offset}: data after the {count} vectors its header announces"
            )
        if not buf.fill(pos + len(rest)):
            return
        pos += len(rest)
