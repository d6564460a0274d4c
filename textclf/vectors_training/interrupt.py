"""SIGTERM as an exception while ``textclf vectors train`` runs, and cleanups that a signal does not cut short.

Python turns Ctrl-C (SIGINT) into :class:`KeyboardInterrupt`, which unwinds the run: the ``finally`` blocks remove
the token file and the half-written output. SIGTERM (``kill``, a job scheduler) kills the process on the spot
instead, leaving them on disk; inside :func:`signals_raise` it raises :class:`Terminated` the same way. A signal
that arrives while a cleanup runs inside :func:`deferred` (removing the temporary folder, say) is raised once the
cleanup is done, so the cleanup is never left half-way. ``textclf vectors train`` ends either way with one line and
the status of the signal (130, 143).
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

SIGINT_EXIT = 128 + signal.SIGINT  # 130: the status of a process stopped by Ctrl-C
SIGTERM_EXIT = 128 + signal.SIGTERM  # 143, as textclf fit's (textclf.resume.SIGTERM_EXIT)


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, as KeyboardInterrupt, so that ``except Exception`` does not swallow it."""


class _State:
    deferring = 0  # depth of deferred() blocks
    pending: BaseException | None = None  # what a signal raised inside them raises at their end


def _raise(number: int, frame: FrameType | None) -> None:
    error = Terminated("SIGTERM") if number == signal.SIGTERM else KeyboardInterrupt()
    if _State.deferring:
        _State.pending = _State.pending or error
        return
    raise error


@contextmanager
def signals_raise() -> Iterator[None]:
    """While inside: SIGTERM raises :class:`Terminated` (and Ctrl-C KeyboardInterrupt), held back in :func:`deferred`.

    Only in the main thread (elsewhere Python cannot set handlers: nothing changes). A signal that is ignored
    (``SIG_IGN``: SIGINT in a background job) stays ignored, and a SIGINT handler of the caller's own is kept. The
    previous handlers are restored at the end.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    installed: dict[signal.Signals, Any] = {}
    for number in (signal.SIGTERM, signal.SIGINT):
        current = signal.getsignal(number)
        if current is signal.SIG_IGN or (number == signal.SIGINT and current is not signal.default_int_handler):
            continue
        installed[number] = signal.signal(number, _raise)
    try:
        yield
    finally:
        for number, previous in installed.items():
            signal.signal(number, signal.SIG_DFL if previous is None else previous)


@contextmanager
def deferred() -> Iterator[None]:
    """A block that a signal does not interrupt (inside :func:`signals_raise`): it raises once the block ends."""
    _State.deferring += 1
    try:
        yield
    finally:
        _State.deferring -= 1
        if not _State.deferring and _State.pending is not None:
            error, _State.pending = _State.pending, None
            raise error


@contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    """A new folder under ``$TMPDIR``, removed at the end, whatever happens (its removal is :func:`deferred`)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        with deferred():
            shutil.rmtree(folder, ignore_errors=True)
