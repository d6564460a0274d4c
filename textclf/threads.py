"""How many CPU threads torch uses: the ``threads`` option of every subcommand, and its default.

torch starts with one intra-op thread per physical core of the *machine* (or ``OMP_NUM_THREADS`` /
``MKL_NUM_THREADS`` when set), whatever CPUs the process may actually use: a container limited to 2 CPUs on a
64-core host starts 64 threads that fight over 2 CPUs. :func:`set_threads` applies ``--threads N`` (one count for
torch's intra-op and inter-op pools), or by default caps torch's count at :func:`usable_cpus` (the process's CPU
affinity and its cgroup CPU quota). An explicit ``--threads`` wins over ``OMP_NUM_THREADS``; without it, a set
``OMP_NUM_THREADS`` (or ``MKL_NUM_THREADS``) is left to torch, which follows it. See docs/performance.md.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

log = logging.getLogger("textclf")

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Environment variables torch reads its starting thread count from."""

_torch_default: int | None = None  # torch's own count, seen before textclf first changed it


def usable_cpus() -> int:
    """CPUs this process may run on: its CPU affinity, capped by a cgroup CPU quota (rounded up); at least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, quota)
    return max(1, cpus)


def cgroup_cpu_quota(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The CPU limit of this process's cgroup (cgroup v2 ``cpu.max``, or v1 ``cpu.cfs_quota_us``), rounded up.

    None when there is no limit or it cannot be read.
    """
    candidates: list[tuple[Path, str]] = []
    quota: str
    period: str
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            hierarchy, _, name = line.split(":", 2)
            if hierarchy == "0":  # cgroup v2: 0::/path
                candidates.append((root / name.lstrip("/") / "cpu.max", "v2"))
    except (OSError, ValueError):
        pass
    candidates += [(root / "cpu.max", "v2"), (root / "cpu" / "cpu.cfs_quota_us", "v1")]
    for path, version in candidates:
        try:
            if version == "v2":
                quota, period = path.read_text().split()[:2]
            else:
                quota = path.read_text().strip()
                period = (path.parent / "cpu.cfs_period_us").read_text().strip()
            if quota in ("max", "-1"):
                return None
            return max(1, math.ceil(int(quota) / int(period)))
        except (OSError, ValueError, ZeroDivisionError):
            continue
    return None


def default_threads() -> int | None:
    """The thread count used without ``--threads``: torch's own, capped at :func:`usable_cpus`.

    None when ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set: torch already follows it, and so do Lightning's
    DDP launchers (which otherwise give each of N ranks ``usable CPUs // N`` threads).
    """
    if any(os.environ.get(name) for name in THREAD_VARIABLES):
        return None
    import torch

    global _torch_default
    if _torch_default is None:
        _torch_default = torch.get_num_threads()
    return min(_torch_default, usable_cpus())


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op (and, while still allowed, inter-op) thread count; return the intra-op count in effect.

    Call it before any parallel work. ``threads=None`` applies :func:`default_threads`. An explicit count also
    goes into ``OMP_NUM_THREADS``, so processes started from this one (DDP ranks) use it too.

    Raises:
        TextclfError: ``threads`` below 1 (the parser refuses it first; this guards Python callers).
    """
    import torch

    from textclf.errors import TextclfError

    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise TextclfError(f"threads must be a whole number of at least 1, got {threads!r}")
    global _torch_default
    if _torch_default is None:
        _torch_default = torch.get_num_threads()
    count = default_threads() if threads is None else threads
    if count is None:
        return torch.get_num_threads()
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(count)
    if torch.get_num_interop_threads() != count:
        try:
            torch.set_num_interop_threads(count)
        except RuntimeError:  # only once a process, and before any inter-op work: keep the pool that runs
            log.debug("inter-op threads stay at %d (already in use)", torch.get_num_interop_threads())
    return count
