"""CPU placement of a streamed evaluation: the worker and its child share one CPU while they
take turns, each CPU claimed by at most one such pair at a time.

A streamed round is a ping-pong: the worker sends a round and waits, the child answers and
waits. On two CPUs every turn wakes the other CPU (a round trip costs 65 us on this project's
2-core VM against 10 us on one CPU, and a spot evaluation has ~2,000 rounds). On one CPU the two
never compete, since one of them always waits. A claim is a `flock` on a per-user lock file per
CPU, so concurrent workers and runs (a sweep, a test suite) never pile their pairs onto one CPU:
a worker that finds every CPU of its mask claimed streams unpinned, as before. A killed worker's
claim ends with it (the kernel drops the lock). Runs that should share claims share the folder
(`$EVOLVE_CPU_LOCKS`, default a per-user folder in the temp folder); `EVOLVE_CPU_LOCKS=off`
turns pinning off.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import stat
import tempfile
from typing import Any

_libc = ctypes.CDLL(None, use_errno=True)
LOCKS_ENV = "EVOLVE_CPU_LOCKS"  # the folder of the claims' lock files; "off": never pin
ALL = frozenset(os.sched_getaffinity(0))  # this process's CPUs when it started
_LOCKS: dict[int, int] = {}  # cpu -> open lock file


def current_cpu() -> int:
    """The CPU this thread runs on now (-1 if unknown)."""
    try:
        return int(_libc.sched_getcpu())
    except (AttributeError, OSError):
        return -1


def _lock_fd(cpu: int) -> int | None:
    if cpu not in _LOCKS:
        folder = os.environ.get(LOCKS_ENV) or os.path.join(tempfile.gettempdir(),
                                                           f"adrs-evolve-cpus-{os.getuid()}")
        if folder == "off":
            return None
        try:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            st = os.lstat(folder)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
                return None  # someone else's folder (a shared temp folder): no claims
            _LOCKS[cpu] = os.open(os.path.join(folder, f"cpu{cpu}.lock"),
                                  os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError:
            return None
    return _LOCKS[cpu]


class Claim:
    """A CPU held by this worker for one evaluation (`cpu` is -1 when none was free)."""

    def __init__(self) -> None:
        self.cpu = -1
        self._mask: set[int] | None = None

    def take(self) -> int:
        """Claim a CPU (the one it runs on first) and pin this process to it; -1 if none."""
        here = current_cpu()
        mask = os.sched_getaffinity(0)
        for cpu in sorted(mask, key=lambda c: c != here):  # where it runs now first
            fd = _lock_fd(cpu)
            if fd is None:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # another pair streams there
            try:
                os.sched_setaffinity(0, {cpu})
            except OSError:
                fcntl.flock(fd, fcntl.LOCK_UN)
                continue
            self.cpu, self._mask = cpu, mask
            break
        return self.cpu

    def release(self) -> None:
        """Run on the CPUs it had before, and free the claimed one."""
        if self._mask is not None:
            for undo in (lambda: os.sched_setaffinity(0, self._mask),
                         lambda: fcntl.flock(_LOCKS[self.cpu], fcntl.LOCK_UN)):
                try:
                    undo()
                except OSError:  # CPUs taken away meanwhile (cgroups): nothing to restore
                    pass
            self.cpu, self._mask = -1, None


def unpin() -> None:
    """A process forked by a pinned worker (the next standby child) runs anywhere again."""
    try:
        os.sched_setaffinity(0, ALL)
    except OSError:
        pass


def follow(cpu: Any, pinned: int) -> int:
    """The child's side: run on `cpu` (its worker's claim, sent with each streamed round) if it
    is not there yet; returns the CPU it is pinned to now."""
    if type(cpu) is not int or cpu < 0 or cpu == pinned:
        return pinned
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:  # not a CPU it may use: stay where it is
        return pinned
    return cpu
