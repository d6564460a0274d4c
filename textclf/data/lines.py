r"""A byte-level reader of text lines in bounded memory: split at ``\n`` only, each line cut to ``max_bytes``.

Lines are read with ``readline(limit)``: a line longer than ``max_bytes`` keeps its first ``max_bytes`` bytes (less
a character cut in two) and the rest is skipped in 64 KiB pieces, never held. Lines end at ``b"\n"`` only: a
trailing ``\r`` (a ``\r\n`` ending, or one at the end of the file) is dropped; a lone ``\r`` anywhere else is part
of the text, as are U+0085 and U+2028. Line numbers are 1-based and count every ``\n``, so they match ``wc -l``,
``sed -n Np`` and editors whatever the line holds.

A line that is not valid in the file's encoding is not an error of the whole file: it is yielded as a
:class:`Line` with ``text=None`` and a one-line ``error`` naming the source, the line and the byte, and reading
goes on. So is a line holding a NUL byte (U+0000), which no text holds: ``error`` names its byte. In ``auto``, a
NUL byte in a file's first :data:`HEAD_BYTES` bytes refuses the whole file instead (a binary file, or UTF-16/UTF-32
without its byte-order mark, whose every ASCII character has NUL bytes), naming the byte order it reads as. How
``auto`` picks the encoding: see :func:`line_encoding`.
"""

from __future__ import annotations

import codecs
import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

from textclf.data.encoding import FALLBACKS, check_encoding, detect_file_encoding
from textclf.errors import TextclfError

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1 << 20
_SKIP = 1 << 16  # bytes read at a time while skipping the rest of a long line
HEAD_BYTES = 8000  # a NUL byte among a file's first bytes refuses it in auto (git's test for a binary file)
_NUL = b"\x00"
_WIDE = ("UTF-32LE", "UTF-32BE", "UTF-16LE", "UTF-16BE")  # as Python and iconv name them


class Line(NamedTuple):
    """One line of a text source."""

    number: int  # 1-based
    text: str | None  # without its line end; None when the line is not valid in the encoding
    error: str | None  # "<source>, line N: byte B is not valid <encoding>" (or "is a NUL byte") when text is None
    cut: bool  # the line was longer than max_bytes and holds its first max_bytes only


class _Raw(NamedTuple):
    data: bytes  # the line's kept bytes, without its line end
    start: int  # file offset of its first byte
    cut: bool


def iter_text_lines(
    source: str | Path, encoding: str = "auto", max_bytes: int = DEFAULT_MAX_BYTES, *, stdin: IO[bytes] | None = None
) -> Iterator[Line]:
    r"""The lines of a file, or of ``stdin`` (default: ``sys.stdin.buffer``) for ``-``, lazily.

    Memory is bounded by ``max_bytes`` whatever the line lengths. ``encoding``: ``auto`` (see
    :func:`line_encoding`) or any encoding Python knows. UTF-16 and UTF-32 files (whose ``\n`` is not the byte
    ``\n``) are decoded first and their lines measured in UTF-8 bytes; a byte they cannot decode ends the read
    with an error (the line numbers of that path count decoded lines).

    Raises:
        TextclfError: an unknown encoding, an unreadable file, a UTF-16/UTF-32 file that is not valid, in ``auto``
            a file with a NUL byte in its first :data:`HEAD_BYTES` bytes.
        ValueError: ``max_bytes`` < 1.
    """
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
    name = str(source)
    if encoding != "auto":
        encoding = _line_codec(encoding, name)
    try:
        if name == "-":
            handle = stdin if stdin is not None else sys.stdin.buffer
            if encoding == "auto":
                yield from _decode_stream(_raw_lines(handle, max_bytes), name)
            else:
                yield from _decode_all(_raw_lines(handle, max_bytes), name, encoding)
            return
        path = Path(source)
        if encoding == "auto":
            encoding = line_encoding(path, max_bytes)
        with path.open("rb") as file:
            if _ascii_compatible(encoding):
                yield from _decode_all(_raw_lines(file, max_bytes), name, encoding)
                return
            text = io.TextIOWrapper(file, encoding=encoding, newline="\n")
            try:
                yield from _decode_all(_raw_lines(_Transcoded(text), max_bytes), name, "utf-8", offsets=False)
            except UnicodeDecodeError as e:
                raise TextclfError(f"{name}: not valid {encoding} ({e.reason})") from None
            finally:
                text.detach()
    except OSError as e:
        raise TextclfError(f"cannot read {name}: {e.strerror or e}") from None


def line_encoding(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The encoding ``auto`` reads a file of lines with: UTF-8 unless the file shows more evidence against it.

    Every line with a non-ASCII byte is evidence: for UTF-8 when it decodes as UTF-8, against it when it does
    not. With at least as many lines for as against (a UTF-8 file with a few broken lines), the file is read as
    UTF-8 (a BOM dropped) and its broken lines become error lines; otherwise, and for a file with a UTF-16 or
    UTF-32 byte-order mark, the encoding is :func:`textclf.data.encoding.detect_file_encoding`'s (Windows-1252,
    else latin-1, logged; or the mark's). One pass over the file, in bounded memory.

    Raises:
        TextclfError: a NUL byte in the first :data:`HEAD_BYTES` bytes (without a UTF-16/UTF-32 byte-order mark),
            naming the byte, its line and the UTF-16/UTF-32 byte order the file reads as; what
            :func:`~textclf.data.encoding.detect_file_encoding` refuses (e.g. mixed encodings).
    """
    with path.open("rb") as file:
        head = file.read(HEAD_BYTES)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)):
        return detect_file_encoding(path)  # UTF-16 or UTF-32 by its byte-order mark
    _refuse_nul(path, head)
    valid = invalid = 0
    with path.open("rb") as file:
        for raw in _raw_lines(file, max_bytes):
            if raw.data.isascii():
                continue
            try:
                _decode(raw.data, "utf-8", raw.cut)
                valid += 1
            except UnicodeDecodeError:
                invalid += 1
    return "utf-8-sig" if valid >= invalid else detect_file_encoding(path)


def _refuse_nul(path: Path, head: bytes) -> None:
    """A one-line error when ``head`` (a file's first bytes) holds a NUL byte."""
    nul = head.find(_NUL)
    if nul < 0:
        return
    line = head.count(b"\n", 0, nul) + 1
    guess = _wide_guess(head)
    what = f"{guess} without a byte-order mark" if guess else "UTF-16/UTF-32 without a byte-order mark"
    how = f"e.g. iconv -f {guess} -t UTF-8" if guess else "e.g. with iconv"
    raise TextclfError(
        f"{path}: byte {nul} (line {line}) is a NUL byte: not a text file, or {what}; convert it to UTF-8 ({how})"
    )


def _wide_guess(head: bytes) -> str | None:
    """The UTF-16/UTF-32 byte order that reads ``head`` as mostly ASCII text without NULs (e.g. ``UTF-16LE``)."""
    best, most = None, 0
    for encoding in _WIDE:
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        except UnicodeDecodeError:
            continue
        plain = sum(" " <= char < "\x7f" or char in "\t\n\r" for char in text)
        if "\x00" not in text and 2 * plain > len(text) and plain > most:
            best, most = encoding, plain
    return best


def _line_codec(encoding: str, source: str) -> str:
    return codecs.lookup(check_encoding(encoding, source)).name


def _ascii_compatible(encoding: str) -> bool:
    plain = "utf-8" if encoding == "utf-8-sig" else encoding
    return "a\n\r".encode(plain) == b"a\n\r"


class _Transcoded:
    """``readline(size)`` of a text stream's lines as UTF-8 bytes (for UTF-16 and UTF-32 files)."""

    def __init__(self, text: io.TextIOWrapper) -> None:
        self.text, self.rest = text, b""

    def readline(self, size: int) -> bytes:
        data = self.rest
        while not data.endswith(b"\n") and len(data) < size and (piece := self.text.readline(size - len(data))):
            data += piece.encode("utf-8", "surrogatepass")
        self.rest = data[size:]
        return data[:size]


def _raw_lines(handle: IO[bytes] | _Transcoded, max_bytes: int) -> Iterator[_Raw]:
    offset = 0
    while raw := handle.readline(max_bytes + 1):
        start, offset = offset, offset + len(raw)
        if raw.endswith(b"\n"):
            yield _Raw(raw[:-1].removesuffix(b"\r"), start, False)
        elif len(raw) <= max_bytes:  # the last line, without a line end
            yield _Raw(raw.removesuffix(b"\r"), start, False)
        else:  # longer than max_bytes: skip the rest of the line
            first = piece = handle.readline(_SKIP)
            offset += len(piece)
            while piece and not piece.endswith(b"\n"):
                piece = handle.readline(_SKIP)
                offset += len(piece)
            whole = raw.endswith(b"\r") and first in (b"", b"\n")  # max_bytes bytes, then its line end
            yield _Raw(raw[:max_bytes], start, not whole)


def _decode(data: bytes, encoding: str, cut: bool) -> str:
    """``data`` decoded; a cut line loses a character cut in two at its end. Raises UnicodeDecodeError."""
    if not cut:
        return data.decode(encoding)
    return codecs.getincrementaldecoder(encoding)().decode(data, final=False)


def _bom(number: int, raw: _Raw, encoding: str) -> tuple[_Raw, str]:
    """UTF-8: the BOM of line 1 dropped; decode with plain utf-8."""
    if encoding in ("utf-8-sig", "utf-8") and number == 1 and raw.data.startswith(codecs.BOM_UTF8):
        raw = _Raw(raw.data[3:], raw.start + 3, raw.cut)
    return raw, "utf-8" if encoding == "utf-8-sig" else encoding


def _decode_all(lines: Iterator[_Raw], source: str, encoding: str, *, offsets: bool = True) -> Iterator[Line]:
    """Lines decoded with ``encoding``; ``offsets``: ``_Raw.start`` is a file offset (not of transcoded bytes)."""
    for number, raw in enumerate(lines, start=1):
        raw, codec = _bom(number, raw, encoding)
        try:
            yield _checked(source, number, raw, _decode(raw.data, codec, raw.cut), offsets)
        except UnicodeDecodeError as e:
            yield _bad(source, number, raw, e, codec)


def _checked(source: str, number: int, raw: _Raw, text: str, offsets: bool = True) -> Line:
    """The line of ``text``, or an error line when it holds a NUL (binary data; UTF-16 read as UTF-8)."""
    if "\x00" not in text:
        return Line(number, text, None, raw.cut)
    where = f"byte {raw.start + raw.data.find(_NUL)} is a NUL byte" if offsets else "holds a NUL character"
    return Line(number, None, f"{source}, line {number}: {where}", raw.cut)


def _decode_stream(lines: Iterator[_Raw], source: str) -> Iterator[Line]:
    """``auto`` on a stream, which cannot be read twice: UTF-8 while it fits or once a UTF-8 line was seen.

    The first undecodable line of a stream with no non-ASCII UTF-8 line before it makes it a legacy stream: that
    line and the rest are read with the next of :data:`FALLBACKS` that fits (logged), as training reads stdin.
    """
    candidates, seen_utf8 = list(FALLBACKS), False
    for number, raw in enumerate(lines, start=1):
        raw, codec = _bom(number, raw, candidates[0])
        while True:
            try:
                text = _decode(raw.data, codec, raw.cut)
                seen_utf8 |= codec == "utf-8" and not raw.data.isascii()
                yield _checked(source, number, raw, text)
                break
            except UnicodeDecodeError as e:
                if seen_utf8:
                    yield _bad(source, number, raw, e, codec)
                    break
                candidates.pop(0)
                name = "UTF-8" if codec == "utf-8" else codec
                args = (source, name, raw.start + e.start, number, candidates[0])
                log.warning("%s is not %s (byte %d, line %d): reading it as %s", *args)
                codec = candidates[0]


def _bad(source: str, number: int, raw: _Raw, error: UnicodeDecodeError, encoding: str) -> Line:
    name = "UTF-8" if encoding in ("utf-8", "utf-8-sig") else encoding
    return Line(number, None, f"{source}, line {number}: byte {raw.start + error.start} is not valid {name}", raw.cut)
