r"""Text encodings: the one detector and decoder behind every textclf reader (training files, corpora, predict input).

``auto`` reads UTF-8 (a BOM is dropped), else Windows-1252, else latin-1 (:data:`FALLBACKS`), and logs the fallback
with the first byte that is not UTF-8. Old corpora (TREC, MR, Subj) are latin-1 or Windows-1252; MR even holds NEL
(0x85) bytes, which is why every reader splits lines on ``\n`` only (``str.splitlines`` would break them at U+0085).
Every decoding problem is a one-line :class:`TextclfError` naming the file, the byte and its line.
"""

from __future__ import annotations

import codecs
import io
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import IO

from textclf.errors import TextclfError

log = logging.getLogger(__name__)

FALLBACKS = ("utf-8-sig", "cp1252", "latin-1")  # the order of ``auto``; latin-1 decodes every byte
_CHUNK = 1 << 20


def detect_encoding(data: bytes, path: Path | str, *, warn: bool = True) -> str:
    """``utf-8-sig`` when ``data`` is UTF-8 (a BOM is dropped), else ``cp1252``, else ``latin-1`` (logged)."""
    return _detect(lambda: iter((data,)), path, warn)


def detect_file_encoding(path: Path, *, warn: bool = True) -> str:
    """:func:`detect_encoding` of a file, read in 1 MiB chunks (never whole)."""
    return _detect(partial(_chunks, path), path, warn)


def decode(path: Path, encoding: str = "auto") -> str:
    """A whole text file as a string: ``encoding``, or ``auto`` (:func:`detect_encoding`)."""
    data = path.read_bytes()
    if encoding == "auto":
        encoding = detect_encoding(data, path)
    try:
        return data.decode(check_encoding(encoding, path))
    except UnicodeDecodeError as e:
        raise _not_valid(path, e.start, data[: e.start].count(b"\n") + 1, encoding) from None


def decode_bytes(data: bytes, encoding: str | None = None) -> str:
    """Bytes of one document (e.g. an archive member) as text: ``encoding``, else the first of :data:`FALLBACKS`.

    No warning: a corpus of many small documents would log one per document.
    """
    if encoding is not None:
        return data.decode(encoding)
    for candidate in FALLBACKS[:-1]:
        try:
            return data.decode(candidate)
        except UnicodeDecodeError:
            continue
    return data.decode(FALLBACKS[-1])


def check_encoding(encoding: str, path: Path | str) -> str:
    """``encoding`` when Python knows it, else a one-line error naming ``path``."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise TextclfError(f"{path}: unknown encoding {encoding!r}") from None
    return encoding


def iter_lines(source: str | Path, encoding: str = "auto") -> Iterator[str]:
    r"""The lines of a text file, or of stdin for ``-``, read lazily (constant memory), without their line ends.

    Lines end at ``\n`` only (a lone ``\r`` inside a line stays; a trailing ``\r`` is dropped). A file in ``auto``
    is read with :func:`detect_file_encoding`. Stdin cannot be read twice: in ``auto`` each line is read with the
    first of :data:`FALLBACKS` that fits it and every line before it (logged when it falls back), which gives the
    file's text unless a non-UTF-8 stream has UTF-8-looking lines before its first other high byte.
    """
    if str(source) == "-":
        if encoding == "auto":
            yield from _lines_with_fallback(sys.stdin.buffer, "-")
        else:
            yield from _lines(sys.stdin.buffer, "-", check_encoding(encoding, "-"), None)
        return
    path = Path(source)
    encoding = detect_file_encoding(path) if encoding == "auto" else check_encoding(encoding, path)
    with path.open("rb") as handle:
        yield from _lines(handle, str(path), encoding, path)


def _lines(handle: IO[bytes], source: str, encoding: str, path: Path | None) -> Iterator[str]:
    text = io.TextIOWrapper(handle, encoding=encoding, newline="\n")
    number = 0
    try:
        for line in text:
            number += 1
            yield _strip(line)
    except UnicodeDecodeError:
        if path is None:
            raise TextclfError(f"{source}: the text after line {number} is not valid {encoding}") from None
        error = _first_undecodable(_chunks(path), encoding) or 0
        raise _not_valid(path, error, _line_of(partial(_chunks, path), error), encoding) from None
    finally:
        text.detach()


def _lines_with_fallback(handle: IO[bytes], source: str) -> Iterator[str]:
    candidates, offset = list(FALLBACKS), 0
    for number, raw in enumerate(handle, start=1):  # binary lines end at b"\n" only
        while True:
            encoding = "utf-8" if candidates[0] == "utf-8-sig" and number > 1 else candidates[0]
            try:
                line = raw.decode(encoding)
                break
            except UnicodeDecodeError as e:
                name = "UTF-8" if candidates.pop(0) == "utf-8-sig" else encoding
                args = (source, name, offset + e.start, number, candidates[0])
                log.warning("%s is not %s (byte %d, line %d): reading it as %s", *args)
        offset += len(raw)
        yield _strip(line)


def _strip(line: str) -> str:
    return line[:-1].removesuffix("\r") if line.endswith("\n") else line.removesuffix("\r")


def _not_valid(path: Path | str, byte: int, line: int, encoding: str) -> TextclfError:
    return TextclfError(
        f"{path}: byte {byte} (line {line}) is not valid {encoding}; set encoding (e.g. latin-1) or use auto"
    )


def _chunks(path: Path, size: int = _CHUNK) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from iter(partial(handle.read, size), b"")


def _detect(chunks: Callable[[], Iterator[bytes]], path: Path | str, warn: bool) -> str:
    error = _first_undecodable(chunks(), "utf-8")
    if error is None:
        return "utf-8-sig"
    fallback = "cp1252" if _first_undecodable(chunks(), "cp1252") is None else "latin-1"
    if warn:
        line = _line_of(chunks, error)
        log.warning("%s is not UTF-8 (byte %d, line %d): reading it as %s", path, error, line, fallback)
    return fallback


def _line_of(chunks: Callable[[], Iterator[bytes]], offset: int) -> int:
    """The 1-based line of the byte at ``offset``."""
    return 1 + sum(chunk[: max(offset - start, 0)].count(b"\n") for start, chunk in _offsets(chunks()))


def _offsets(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    start = 0
    for chunk in chunks:
        yield start, chunk
        start += len(chunk)


def _first_undecodable(chunks: Iterable[bytes], encoding: str) -> int | None:
    """The offset of the first byte that is not valid ``encoding``, or None."""
    decoder = codecs.getincrementaldecoder(encoding)()
    end = 0
    for start, chunk in _offsets(chunks):
        pending = len(decoder.getstate()[0])  # bytes of a character cut by the previous chunk
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as e:
            return start - pending + e.start
        end = start + len(chunk)
    pending = len(decoder.getstate()[0])
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as e:  # the file ends inside a character
        return end - pending + e.start
    return None
