"""Keyed, atomic cache entries shared by processes: prepared corpora, parsed vectors files and vector matrices.

An entry is the folder ``<cache_dir>/<kind>/<key>``, where the key is a SHA-256 of the JSON of its settings and of
the kind's :data:`CACHE_VERSIONS` entry. It is built in a staging folder beside it and renamed into place, so an
entry that exists is complete and a crash leaves none. A lock file ``<entry>.lock`` (``filelock``) serialises the
builders: when several processes (DDP ranks, torchrun or SLURM tasks, parallel runs) ask for a missing entry, one
builds it while the others block on the lock, then read what it built (see docs/distributed.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout

from textclf.errors import TextclfError

log = logging.getLogger(__name__)

T = TypeVar("T")

# One version per kind of entry; bump it when what an entry holds changes (older entries are then ignored).
CACHE_VERSIONS: dict[str, int] = {
    # prepared corpora; 4: labels.npy is multi-hot (n, num_labels) for multi-label data; 5: combining marks stay in
    # their token, labels normalised (stripped, equal numbers one class), copies of a text kept in one split
    "data": 5,
    # 2: an entry folder (matrix.npy, found.npy, meta.json) instead of <key>.npy + <key>.json; 3: textclf's own
    # strict readers (a repeated word keeps its first vector)
    "vectors-matrix": 3,
    # a vectors file parsed once (vectors.npy, words.json, meta.json), see textclf.vectors.store; it replaces the
    # vectors-vocabulary entries (words.json alone) of older versions
    "vectors-store": 1,
}
WAIT_TIMEOUT_ENV = "TEXTCLF_WAIT_TIMEOUT"
DEFAULT_WAIT_TIMEOUT = 3600.0  # seconds a process waits for another one to build an entry
# What reading a damaged entry raises (json, numpy and decoding errors are ValueErrors).
CORRUPT_ERRORS = (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, IndexError)


def default_cache_dir() -> Path:
    """``$TEXTCLF_CACHE``, else ``~/.cache/textclf``."""
    return Path(os.environ.get("TEXTCLF_CACHE") or Path.home() / ".cache" / "textclf")


def path_fingerprint(path: Path) -> list[Any]:
    """Identity of a file or folder for cache keys: resolved path, file count, total size, newest mtime."""
    members = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    stats = [member.stat() for member in members]
    newest = max((st.st_mtime_ns for st in stats), default=0)
    return [str(path.resolve()), len(stats), sum(st.st_size for st in stats), newest]


def wait_timeout() -> float:
    """Seconds a process waits for the lock of an entry another process builds: ``$TEXTCLF_WAIT_TIMEOUT``, 3600."""
    value = os.environ.get(WAIT_TIMEOUT_ENV, "")
    try:
        return float(value) if value else DEFAULT_WAIT_TIMEOUT
    except ValueError:
        raise TextclfError(f"environment variable {WAIT_TIMEOUT_ENV}={value!r} is not a number of seconds") from None


class CacheEntry:
    """The entry of ``kind`` for ``settings`` under ``cache_dir``.

    Args:
        cache_dir: the cache's root folder.
        kind: one of :data:`CACHE_VERSIONS`; also the entry's parent folder.
        settings: what the entry depends on (JSON-serialisable; other values are keyed by their ``str``).
    """

    def __init__(self, cache_dir: str | os.PathLike[str], kind: str, settings: Mapping[str, Any]) -> None:
        if kind not in CACHE_VERSIONS:
            raise ValueError(f"unknown cache kind {kind!r}; expected one of {', '.join(CACHE_VERSIONS)}")
        self.kind = kind
        self.settings: dict[str, Any] = {"version": CACHE_VERSIONS[kind], **settings}
        key = json.dumps(self.settings, sort_keys=True, default=str).encode("utf-8", "surrogateescape")
        self.key = hashlib.sha256(key).hexdigest()[:16]
        self.path = Path(cache_dir).expanduser() / kind / self.key
        self.lock_path = self.path.with_name(self.key + ".lock")

    def __repr__(self) -> str:
        return f"CacheEntry({self.path})"

    def get(self, build: Callable[[Path], None], read: Callable[[Path], T]) -> T:
        """Read the entry, building it first (once across processes) when it is missing or unreadable.

        Args:
            build: fills the empty staging folder it is given; it is renamed into place when ``build`` returns.
                An exception leaves no entry and no staging folder, and propagates.
            read: reads a finished entry's folder. An error of :data:`CORRUPT_ERRORS` marks the entry as
                damaged: it is rebuilt, with a logged warning.

        Returns:
            What ``read`` returns.
        """
        if self.path.is_dir():  # the common case: a finished entry, read without taking the lock
            try:
                return read(self.path)
            except CORRUPT_ERRORS:
                pass  # reported below, under the lock (another process may be rebuilding it)
        with self._locked():
            if self.path.is_dir():  # built by another process while this one waited, or damaged
                try:
                    value = read(self.path)
                except CORRUPT_ERRORS as e:
                    log.warning("rebuilding unreadable %s cache entry %s: %s", self.kind, self.path, _one_line(e))
                    self._discard()
                else:
                    return value
            self._build(build)
        return read(self.path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        timeout = wait_timeout()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.lock_path, timeout=timeout)
        try:
            lock.acquire()
        except Timeout:
            raise TextclfError(
                f"waited {timeout:g} s for another process to build the {self.kind} cache entry {self.path} "
                f"(lock {self.lock_path}); see that process's error, or raise ${WAIT_TIMEOUT_ENV}"
            ) from None
        except NotImplementedError as e:  # a filesystem without file locks
            raise TextclfError(f"cannot lock {self.lock_path} ({e}); set TEXTCLF_CACHE to a local folder") from None
        try:
            yield
        finally:
            lock.release()

    def _build(self, build: Callable[[Path], None]) -> None:
        for stale in self.path.parent.glob(f".tmp-*{self.key}-*"):  # left by a builder that was killed (-9)
            shutil.rmtree(stale, ignore_errors=True)  # it held the lock this process holds now: it is gone
        staging = Path(tempfile.mkdtemp(prefix=f".tmp-{self.key}-", dir=self.path.parent))
        staging.chmod(0o777 & ~_umask())  # mkdtemp's 0700 would keep a cache shared by several users private
        try:
            build(staging)
            try:
                staging.rename(self.path)
            except OSError:
                if not self.path.is_dir():
                    raise
                shutil.rmtree(staging)  # written meanwhile by a process that did not lock (an older textclf)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def discard(self) -> None:
        """Remove the entry (under its lock) so that the next :meth:`get` builds it again; a missing one is fine."""
        with self._locked():
            if self.path.is_dir():
                self._discard()

    def _discard(self) -> None:
        """Remove a damaged entry: rename it away first, so that the entry's path never holds half a folder."""
        trash = Path(tempfile.mkdtemp(prefix=f".tmp-old-{self.key}-", dir=self.path.parent))
        try:
            self.path.rename(trash / "entry")
        finally:
            shutil.rmtree(trash, ignore_errors=True)


def cached(
    kind: str,
    settings: Mapping[str, Any],
    build: Callable[[Path], None],
    cache_dir: str | os.PathLike[str],
    read: Callable[[Path], T],
) -> T:
    """``CacheEntry(cache_dir, kind, settings).get(build, read)``: the entry read, built first when missing."""
    return CacheEntry(cache_dir, kind, settings).get(build, read)


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
