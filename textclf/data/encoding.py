r"""Text encodings: the one detector and decoder behind every textclf reader (training files, corpora, predict input).

``auto`` reads a file by its byte-order mark when it has one (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE: what Excel's
"CSV UTF-8" and "Unicode text" and Notepad write), else as UTF-8, else as Windows-1252, else as latin-1
(:data:`FALLBACKS`), and logs a fallback with the first byte that is not UTF-8. Old corpora (TREC, MR, Subj) are
latin-1 or Windows-1252; MR even holds NEL (0x85) bytes, which is why every reader splits lines on ``\n`` only
(``str.splitlines`` would break them at U+0085). ``auto`` refuses, rather than guesses: a file that mixes encodings
(a line of non-ASCII UTF-8 and a line that is not UTF-8: one of them would become mojibake), and a NUL byte (a
binary file, or UTF-16 without its byte-order mark). An explicit encoding is used as given. Every decoding problem
is a one-line :class:`TextclfError` naming the file, the byte and its line.
"""

from __future__ import annotations

import codecs
import io
import logging
import os
import re
import stat
import sys
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing
from functools import partial
from pathlib import Path
from typing import IO

from textclf.errors import TextclfError

log = logging.getLogger(__name__)

FALLBACKS = ("utf-8-sig", "cp1252", "latin-1")  # the order of ``auto``; latin-1 decodes every byte
_CHUNK = 1 << 20
# UTF-32 LE's mark starts with UTF-16 LE's, so it is tried first; Python's utf-16/utf-32 codecs read and drop the mark
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_HIGH = re.compile(rb"[\x80-\xff]")


def detect_encoding(data: bytes, path: Path | str, *, warn: bool = True) -> str:
    """The encoding ``auto`` reads ``data`` with (logged when it is ``cp1252`` or ``latin-1``, unless not ``warn``).

    By its byte-order mark (``utf-16``, ``utf-32``, ``utf-8-sig``), else ``utf-8-sig`` when it is UTF-8, else
    ``cp1252``, else ``latin-1``.

    Raises:
        TextclfError: a NUL byte, a mix of UTF-8 and other lines, or bytes its byte-order mark's encoding does not
            decode; the message names ``path``, the byte offset and its 1-based line.
    """
    return _detect(partial(_whole, data), path, warn)


def detect_file_encoding(path: Path, *, warn: bool = True) -> str:
    """:func:`detect_encoding` of a file, read in 1 MiB chunks (never whole)."""
    return _detect(partial(_chunks, path), path, warn)


def require_regular_file(path: Path) -> None:
    """Refuse anything but a regular file (symlinks followed) before reading it.

    A device (``/dev/zero``, ``/dev/urandom``) never ends and a FIFO or socket may block for ever; both would be
    read into memory without limit.

    Raises:
        TextclfError: ``path`` is missing, a folder, or not a regular file, in one line naming it.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise TextclfError(f"cannot read {path}: {e.strerror or e}") from None
    if stat.S_ISDIR(mode):
        raise TextclfError(f"{path} is a folder, expected a file")
    if not stat.S_ISREG(mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        raise TextclfError(f"{path} is {kind}, not a regular file; save the data to a file and give that")


def decode(path: Path, encoding: str = "auto") -> str:
    """A whole text file as a string: ``encoding``, or ``auto`` (:func:`detect_encoding`).

    Raises:
        TextclfError: ``path`` is not a regular file (:func:`require_regular_file`), or not valid ``encoding``.
    """
    require_regular_file(path)
    data = path.read_bytes()
    if encoding == "auto":
        encoding = detect_encoding(data, path)
    try:
        return data.decode(check_encoding(encoding, path))
    except UnicodeDecodeError as e:
        raise _not_valid(path, e.start, _line_of(partial(_whole, data), e.start, encoding), encoding) from None


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


def iter_lines(source: str | Path, encoding: str = "auto") -> Generator[str, None, None]:
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
        raise _not_valid(path, error, _line_of(partial(_chunks, path), error, encoding), encoding) from None
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


def _whole(data: bytes) -> Generator[bytes, None, None]:
    yield data


def _chunks(path: Path, size: int = _CHUNK) -> Generator[bytes, None, None]:
    with path.open("rb") as handle:
        yield from iter(partial(handle.read, size), b"")


def _detect(chunks: Callable[[], Generator[bytes, None, None]], path: Path | str, warn: bool) -> str:
    with closing(chunks()) as first:
        head = next(first, b"")[:4]
    marked = next((name for bom, name in _BOMS if head.startswith(bom)), None)
    if marked in ("utf-16", "utf-32"):
        error = _first_undecodable(chunks(), marked)
        if error is not None:
            line = _line_of(chunks, error, marked)
            name = marked.upper()
            raise TextclfError(
                f"{path}: byte {error} (line {line}) is not valid {name}, which its byte-order mark says"
            )
        return marked
    error, nul, high = _scan(chunks())
    if nul is not None:
        raise TextclfError(
            f"{path}: byte {nul} (line {_line_of(chunks, nul)}) is a NUL byte: not a text file, or UTF-16 without "
            "a byte-order mark; set encoding (e.g. utf-16-le)"
        )
    if error is None:
        return "utf-8-sig"
    line = _line_of(chunks, error)
    utf8 = _line_of(chunks, high) if high is not None and high < error else None
    utf8 = _utf8_line(chunks) if utf8 in (None, line) else utf8
    if utf8 is not None:
        raise TextclfError(
            f"{path}: mixed encodings: line {utf8} is UTF-8 but line {line} (byte {error}) is not; convert the "
            "file to UTF-8, or set encoding (e.g. cp1252) to read it all as one encoding"
        )
    fallback = "cp1252" if _first_undecodable(chunks(), "cp1252") is None else "latin-1"
    if warn:
        log.warning("%s is not UTF-8 (byte %d, line %d): reading it as %s", path, error, line, fallback)
    return fallback


def _scan(chunks: Iterable[bytes]) -> tuple[int | None, int | None, int | None]:
    """The offsets of the first byte that is not UTF-8, of the first NUL byte and of the first non-ASCII byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    error = nul = high = None
    end = 0
    for start, chunk in _offsets(chunks):
        if error is None:
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                error = start - pending + e.start
        if nul is None and (found := chunk.find(b"\x00")) >= 0:
            nul = start + found
        if high is None and (match := _HIGH.search(chunk)) is not None:
            high = start + match.start()
        end = start + len(chunk)
    if error is None:
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as e:
            error = end - pending + e.start
    return error, nul, high


def _utf8_line(chunks: Callable[[], Iterator[bytes]]) -> int | None:
    """The 1-based number of the first line that has a non-ASCII byte and is valid UTF-8, or None.

    Lines are read in pieces of at most 1 MiB (a longer line is judged piece by piece).
    """
    number = 1
    for piece in _pieces(chunks()):
        if not piece.isascii():
            try:
                piece.decode("utf-8")
                return number
            except UnicodeDecodeError:
                pass
        number += piece.endswith(b"\n")
    return None


def _pieces(chunks: Iterable[bytes]) -> Iterator[bytes]:
    r"""Lines (with their ``\n``) of the bytes, a line longer than :data:`_CHUNK` in pieces."""
    rest = b""
    for chunk in chunks:
        data = rest + chunk
        lines = data.split(b"\n")
        rest = lines.pop()
        yield from (line + b"\n" for line in lines)
        while len(rest) > _CHUNK:
            yield rest[:_CHUNK]
            rest = rest[_CHUNK:]
    if rest:
        yield rest


def _line_of(chunks: Callable[[], Iterator[bytes]], offset: int, encoding: str = "utf-8") -> int:
    """The 1-based line of the byte at ``offset`` (in UTF-16 and UTF-32 counted on the decoded text)."""
    if not _wide(encoding):
        return 1 + sum(chunk[: max(offset - start, 0)].count(b"\n") for start, chunk in _offsets(chunks()))
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    return 1 + sum(decoder.decode(chunk[: max(offset - start, 0)]).count("\n") for start, chunk in _offsets(chunks()))


def _wide(encoding: str) -> bool:
    r"""UTF-16 and UTF-32: a ``\n`` byte is not a line end there."""
    return codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))


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
