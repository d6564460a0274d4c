"""The progress bar of a vectors file's one-time parse: rows, rows/s and the time left, on stderr (tqdm).

The total is the count a word2vec header announces; for a GloVe file (no header) it is estimated from the share
of the file's bytes read so far (compressed bytes for a gzip file), and refined as the parse goes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import TracebackType
from typing import IO, Any


class ParseProgress:
    """A :data:`~textclf.vectors.parse.ProgressHook` that draws a tqdm bar while a vectors file is parsed.

    The bar is drawn only when stderr is a terminal (tqdm's ``disable=None``); the store logs a line before and
    after the parse either way. Use it as a context manager: the bar is removed on exit.

    Args:
        path: The vectors file (its size, in bytes on disk, is what the estimate is measured against).
        enabled: None: draw the bar when stderr is a terminal; False: never; True: always.
    """

    def __init__(self, path: Path, enabled: bool | None = None) -> None:
        from tqdm import tqdm  # imported on a parse only: it is rare, and start-up stays light

        self.size = max(path.stat().st_size, 1)
        disable = None if enabled is None else not enabled
        self.bar: Any = tqdm(
            desc=f"parsing {path.name}", unit=" rows", unit_scale=True, disable=disable, leave=False, file=sys.stderr
        )

    def __call__(self, rows: int, stream: IO[bytes], announced: int | None) -> None:
        """Show ``rows`` read so far, out of ``announced`` or out of an estimate from the bytes read."""
        total = announced
        position = _position(stream)
        if total is None and position and rows:
            total = max(rows, round(rows * self.size / position))
        if total is not None and total != self.bar.total:
            self.bar.total = total
        self.bar.update(rows - self.bar.n)

    def __enter__(self) -> ParseProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.bar.close()


def _position(stream: IO[bytes]) -> int:
    """Bytes of the file on disk read so far: through a gzip stream, the position in the compressed file."""
    raw = getattr(stream, "fileobj", None) or stream  # gzip.GzipFile keeps the file it decompresses as .fileobj
    try:
        return int(raw.tell())
    except (OSError, ValueError, AttributeError):
        return 0
