"""A pre-check of fastText ``.bin`` models before gensim reads them.

gensim's reader (:func:`gensim.models.fasttext.load_facebook_vectors`) reads a vocabulary word one byte at a time
until its terminating NUL byte, and loops for ever when the file ends inside a word. This walks the header and the
vocabulary first (``struct``, no pickle) so that a truncated model is an error naming where it ends.
"""

from __future__ import annotations

import struct
from pathlib import Path

from textclf.errors import TextclfError
from textclf.vectors.binary import Buffer
from textclf.vectors.parse import open_stream

# fastText's args::save: 12 int32 fields and the float64 sampling threshold, after the magic number and version
_HEADER = "@14id"


def check_fasttext_vocabulary(path: Path, gzipped: bool) -> None:
    """Check that the model's header and vocabulary are complete.

    Args:
        path: A fastText binary model (its magic number already checked).
        gzipped: Whether to decompress it.

    Raises:
        TextclfError: the file ends inside its header or vocabulary (naming the byte offset and the word).
    """
    with open_stream(path, gzipped) as stream:
        buf = Buffer(stream, path)
        pos = 0

        def take(fmt: str, what: str) -> tuple[int, ...]:
            nonlocal pos
            size = struct.calcsize(fmt)
            while pos + size > buf.start + len(buf.data):
                if not buf.fill(pos):
                    _truncated(path, buf.start + len(buf.data), what)
            values = struct.unpack_from(fmt, buf.data, pos - buf.start)
            pos += size
            return values

        take(_HEADER, "the header")
        vocab_size = take("@3i", "the header")[0]
        take("@2q", "the header")  # tokens, pruned-index size
        for i in range(vocab_size):
            while (end := buf.data.find(b"\0", pos - buf.start)) < 0:
                if not buf.fill(pos):
                    _truncated(path, buf.start + len(buf.data), f"word {i + 1} of the {vocab_size} in its vocabulary")
            pos = buf.start + end + 1
            take("@qb", f"word {i + 1} of the {vocab_size} in its vocabulary")


def _truncated(path: Path, end: int, what: str) -> None:
    raise TextclfError(f"fastText model {path} ends at byte {end} inside {what}; is it truncated?")
