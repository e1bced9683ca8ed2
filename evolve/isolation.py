"""Confining one candidate process: namespaces, a read-only filesystem, limits, no privileges.

Full isolation (the default wherever the kernel allows it, for root and plain users alike):

* a monitor process (trusted, never runs candidate code) unshares user (when not root), mount,
  network, pid, IPC and UTS namespaces; makes every mount read-only; mounts private tmpfs on
  /tmp, /var/tmp and /dev/shm; hides /proc (other processes' environments) and the configured
  folders (e.g. the runs folder with other runs' archives) under empty read-only tmpfs;
* it forks the candidate, which is pid 1 of the new pid namespace (it cannot see or signal any
  other process), runs as `nobody` (root) or as the user with every capability dropped (plain
  user), with no_new_privs, rlimits on CPU, address space, processes and core files, and a
  death signal tied to the monitor, which itself dies with the worker.

Reduced isolation (namespaces refused, e.g. in some containers): fork, rlimits, `nobody` when
root, an audit hook. The run says which one it got (`Evaluator.isolation`, run.json).
The audit hook is installed in both modes as a second layer; it is not the boundary.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import random
import resource
import signal
import socket
import struct
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

NOBODY = 65534
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 1, 2, 4, 1 << 14, 1 << 18
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 0x1
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")
WORKDIR = "/tmp/candidate"

_libc = ctypes.CDLL(None, use_errno=True)


class IsolationError(Exception):
    """The kernel refused a step of full isolation."""


@dataclass(frozen=True)
class Plan:
    """How a worker confines its children (decided once per worker by `probe`)."""

    full: bool
    root: bool
    uid: int
    gid: int
    hide: tuple[str, ...] = ()  # folders replaced by an empty read-only tmpfs
    tmpfs_mb: int = 256  # size of each private tmp

    @property
    def label(self) -> str:
        if self.full:
            who = "nobody" if self.root else "the user, no capabilities"
            return f"full (user, pid, net, mount, ipc namespaces; read-only root; runs as {who})"
        who = "nobody + net namespace" if self.root else "the user, no namespaces"
        return f"reduced (no namespaces: rlimits and audit hook only; runs as {who})"


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise IsolationError(f"{what}: {os.strerror(err)}")


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(_libc.mount(src and src.encode(), target.encode(), fstype and fstype.encode(),
                       ctypes.c_ulong(flags), data and data.encode()), f"mount {target}")


def _readonly_everything() -> None:
    attr = struct.pack("<QQQQ", MOUNT_ATTR_RDONLY, 0, 0, 0)
    buf = ctypes.create_string_buffer(attr, len(attr))
    _check(_libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE, buf, len(attr)),
           "read-only root (mount_setattr)")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def enter_namespaces(plan: Plan) -> None:
    """Monitor side: new namespaces and the filesystem view (before forking the candidate)."""
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if not plan.root:
        flags |= CLONE_NEWUSER
    _check(_libc.unshare(flags), "unshare")
    if not plan.root:  # identity map: the candidate keeps the user's uid, not root's
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{plan.uid} {plan.uid} 1\n")
        _write("/proc/self/gid_map", f"{plan.gid} {plan.gid} 1\n")
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    _readonly_everything()
    for d in PRIVATE_TMP:
        if os.path.isdir(d):
            _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, f"size={plan.tmpfs_mb}m,mode=1777")
    for d in plan.hide + ("/proc",):
        if os.path.isdir(d) and os.path.realpath(d) not in PRIVATE_TMP:
            _mount("tmpfs", d, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=555")


def _drop_capabilities() -> None:
    """No capability left in any set, bounding set emptied: mounts cannot be undone."""
    for cap in range(64):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last cap: ignored
    header = struct.pack("<Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = bytes(24)
    _check(_libc.capset(ctypes.create_string_buffer(header, 8),
                        ctypes.create_string_buffer(data, 24)), "capset")


def vm_size() -> int:
    """This process's address-space size in bytes (read before /proc is hidden)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def set_death_signal() -> None:
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def confine(plan: Plan, timeout_s: float, memory_mb: int, base_vm: int, workdir: str) -> None:
    """Candidate side: user, folder, environment and limits. Runs before any candidate code."""
    os.makedirs(workdir, mode=0o700, exist_ok=True)
    if plan.root:
        os.chown(workdir, NOBODY, NOBODY)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)  # all capabilities go with root
    elif plan.full:
        _drop_capabilities()
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    set_death_signal()  # after the uid change, which clears it
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update({"HOME": workdir, "TMPDIR": workdir, "PATH": "/usr/bin:/bin",
                       "LANG": "C.UTF-8"})
    tempfile.tempdir = workdir
    cpu = max(1, int(timeout_s + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if memory_mb > 0:
        cap = base_vm + memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # no fork, no new threads
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:  # compiled simulators must not try to write numba cache files
        import numba.core.caching as caching

        caching.Cache.save_overload = lambda self, sig, data: None  # type: ignore[method-assign]
    except ImportError:
        pass
    sys.addaudithook(audit_hook(workdir))


def seed_everything(seed: int, numba_seeder: Callable[[int], None] | None) -> None:
    """Seed the candidate's random, numpy and numba generators from (run seed, program hash)."""
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    if numba_seeder is not None:
        numba_seeder(seed % (1 << 32))


def rng_state() -> tuple:
    """The candidate's generators (random, numpy, numba's two), to be put back by
    set_rng_state."""
    helper: Any = importlib.import_module("numba._helperlib")  # C functions, untyped
    return (random.getstate(), np.random.get_state(),
            helper.rnd_get_state(helper.rnd_get_np_state_ptr()),
            helper.rnd_get_state(helper.rnd_get_py_state_ptr()))


def set_rng_state(state: tuple) -> None:
    helper: Any = importlib.import_module("numba._helperlib")
    random.setstate(state[0])
    np.random.set_state(state[1])
    helper.rnd_set_state(helper.rnd_get_np_state_ptr(), state[2])
    helper.rnd_set_state(helper.rnd_get_py_state_ptr(), state[3])


def unshare_network() -> bool:
    """Reduced mode as root: at least a fresh, empty network namespace."""
    return _libc.unshare(CLONE_NEWNET) == 0


def audit_hook(workdir: str) -> Callable[[str, tuple], None]:
    """Second layer: refuse network, new processes, signals and writes outside `workdir`."""
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    root = os.path.realpath(workdir)
    banned = {
        "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
        "os.forkpty", "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill",
    }
    writers = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown",
               "os.truncate", "os.link", "os.symlink", "shutil.rmtree", "shutil.move"}

    def inside(path: Any) -> bool:
        if isinstance(path, int):
            return True  # an already-open descriptor
        try:
            p = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return p.startswith(root + os.sep) or p in (root, "/dev/null")

    def hook(event: str, args: tuple) -> None:
        if event in banned:
            raise PermissionError(f"sandbox: {event} is not allowed for candidates")
        if event == "socket.__new__" and len(args) > 1 and isinstance(args[1], int):
            if args[1] in (socket.AF_INET, socket.AF_INET6):
                raise PermissionError("sandbox: network access is not allowed for candidates")
        if event in ("socket.connect", "socket.bind", "socket.sendto", "socket.getaddrinfo"):
            raise PermissionError("sandbox: network access is not allowed for candidates")
        if event == "open" and len(args) >= 3:
            path, mode, flags = args[0], args[1], args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & write_flags)
            if writing and not inside(path):
                raise PermissionError(f"sandbox: writing {path!r} outside the working folder")
        if event in writers and args and not inside(args[0]):
            raise PermissionError(f"sandbox: {event} on {args[0]!r} outside the working folder")

    return hook
