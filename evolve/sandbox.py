"""Process isolation for one candidate: fork from a warm worker, limit, run, report, kill.

The warm worker already holds numpy, numba and the problem's compiled simulator, so a candidate
costs one fork. The child gets its own session (so the whole group can be killed), a private temp
folder, address-space / CPU / process limits, an unprivileged user and a fresh network namespace
when running as root, and an audit hook that refuses network, subprocesses and writes outside its
folder. It streams framed messages (JSON header + npz arrays) back over a pipe; the worker reads
them with a wall-clock deadline and never unpickles anything the child wrote.
"""

from __future__ import annotations

import ctypes
import errno
import io
import json
import os
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

NOBODY = 65534
CLONE_NEWNET = 0x40000000
_HDR = struct.Struct("<II")


@dataclass(frozen=True)
class Limits:
    """Hard limits for one candidate process."""

    timeout_s: float = 60.0
    memory_mb: int = 2048  # address space the candidate may add on top of the warm worker
    max_output_kb: int = 256  # captured stdout/stderr; the rest is discarded
    isolate_network: bool = True
    drop_privileges: bool = True


@dataclass
class ChildExit:
    """How the child ended, as the worker observed it."""

    timed_out: bool
    status: int | None  # raw wait status, None when unknown
    output: str


# ---- framing ------------------------------------------------------------------------------
def send(fd: int, header: dict, arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write one framed message: JSON header and an optional npz payload."""
    payload = b""
    if arrays:
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
        payload = buf.getvalue()
    head = json.dumps(header, default=float).encode()
    data = _HDR.pack(len(head), len(payload)) + head + payload
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def decode(head: bytes, payload: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    header = json.loads(head.decode())
    arrays: dict[str, np.ndarray] = {}
    if payload:
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    return header, arrays


class _Reader:
    """Incrementally reassembles framed messages and the capped output stream."""

    def __init__(self, max_output: int):
        self.buf = bytearray()
        self.out = bytearray()
        self.max_output = max_output
        self.out_dropped = 0

    def feed_output(self, data: bytes) -> None:
        room = self.max_output - len(self.out)
        if room > 0:
            self.out += data[:room]
        self.out_dropped += max(0, len(data) - max(room, 0))

    def messages(self) -> Iterator[tuple[dict, dict]]:
        while len(self.buf) >= _HDR.size:
            hl, pl = _HDR.unpack_from(self.buf)
            if hl > 1 << 20 or pl > 1 << 31:
                raise ValueError("corrupt message from the candidate process")
            end = _HDR.size + hl + pl
            if len(self.buf) < end:
                return
            head = bytes(self.buf[_HDR.size : _HDR.size + hl])
            payload = bytes(self.buf[_HDR.size + hl : end])
            del self.buf[:end]
            yield decode(head, payload)

    def output_text(self) -> str:
        text = self.out.decode(errors="replace")
        if self.out_dropped:
            text += f"\n[... {self.out_dropped} more bytes of output discarded]"
        return text


# ---- the child side -----------------------------------------------------------------------
def _vm_size_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _audit_hook(workdir: str) -> Callable:
    """Refuse what a heuristic never needs: network, new processes, writes outside `workdir`."""
    import socket

    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    root = os.path.realpath(workdir)
    banned = {
        "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
        "os.forkpty", "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill",
    }
    writers = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown",
               "os.truncate", "os.link", "os.symlink", "shutil.rmtree", "shutil.move"}

    def inside(path: Any) -> bool:
        try:
            p = os.fsdecode(path) if not isinstance(path, int) else None
        except TypeError:
            return False
        if p is None:
            return True  # an already-open descriptor
        return os.path.realpath(p).startswith(root + os.sep) or os.path.realpath(p) == "/dev/null"

    def hook(event: str, args: tuple) -> None:
        if event in banned:
            raise PermissionError(f"sandbox: {event} is not allowed for candidates")
        if event == "socket.__new__" and args and getattr(args[1], "__int__", None):
            if int(args[1]) in (socket.AF_INET, socket.AF_INET6):
                raise PermissionError("sandbox: network access is not allowed for candidates")
        if event in ("socket.connect", "socket.bind", "socket.sendto", "socket.getaddrinfo"):
            raise PermissionError("sandbox: network access is not allowed for candidates")
        if event == "open" and len(args) >= 3:
            path, mode, flags = args[0], args[1], args[2]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & write_flags
            )
            if writing and not inside(path):
                raise PermissionError(f"sandbox: writing {path!r} outside the working folder")
        if event in writers and args and not inside(args[0]):
            raise PermissionError(f"sandbox: {event} on {args[0]!r} outside the working folder")

    return hook


def _unshare_network() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.unshare(CLONE_NEWNET) == 0
    except (OSError, AttributeError):
        return False


def isolate(limits: Limits, workdir: str, out_fd: int) -> None:
    """Apply every limit to the current (child) process. Call once, right after fork."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(out_fd)
    if os.geteuid() == 0:
        if limits.isolate_network:
            _unshare_network()
        if limits.drop_privileges:
            os.chown(workdir, NOBODY, NOBODY)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
    os.chdir(workdir)
    os.environ["HOME"] = os.environ["TMPDIR"] = workdir
    tempfile.tempdir = workdir
    cpu = int(limits.timeout_s) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if limits.memory_mb > 0:
        cap = _vm_size_bytes() + limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # no fork, no new threads
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:  # compiled simulators must not try to write numba cache files as another user
        import numba.core.caching as caching

        caching.Cache.save_overload = lambda self, sig, data: None
    except ImportError:
        pass
    sys.addaudithook(_audit_hook(workdir))


def run_child(body: Callable[[int], None], limits: Limits) -> Iterator[tuple[str, Any]]:
    """Fork a sandboxed child running `body(result_fd)`; yield ("msg", (header, arrays)) as they
    arrive and finally ("exit", ChildExit). Closing the generator kills the child's group."""
    workdir = tempfile.mkdtemp(prefix="evolve-cand-")
    res_r, res_w = os.pipe()
    out_r, out_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # ---- child
        code = 0
        try:
            os.close(res_r)
            os.close(out_r)
            isolate(limits, workdir, out_w)
            body(res_w)
        except BaseException as e:  # noqa: BLE001 - last resort report
            code = 1
            try:
                from evolve.result import classify_exception

                kind, msg = classify_exception(e)
                send(res_w, {"type": "error", "kind": kind, "message": msg})
            except BaseException:  # noqa: BLE001
                code = 3
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except BaseException:  # noqa: BLE001
                pass
            os._exit(code)
    # ---- worker
    os.close(res_w)
    os.close(out_w)
    reader = _Reader(limits.max_output_kb * 1024)
    deadline = time.monotonic() + limits.timeout_s
    timed_out = False
    reaped = False
    open_fds = {res_r, out_r}
    try:
        while open_fds:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select(list(open_fds), [], [], min(left, 1.0))
            for fd in ready:
                try:
                    data = os.read(fd, 1 << 20)
                except OSError as e:
                    if e.errno == errno.EINTR:
                        continue
                    data = b""
                if not data:
                    open_fds.discard(fd)
                elif fd == out_r:
                    reader.feed_output(data)
                else:
                    reader.buf += data
                    for msg in reader.messages():
                        yield "msg", msg
        _kill_group(pid)  # leftovers of the group (and the child itself on timeout)
        _, status = os.waitpid(pid, 0)
        reaped = True
        yield "exit", ChildExit(timed_out, status, reader.output_text())
    finally:
        if not reaped:
            _kill_group(pid)
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        for fd in (res_r, out_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(workdir, ignore_errors=True)


class ChildRun:
    """A sandboxed child's messages as an iterator; keeps its reported error and exit."""

    def __init__(self, body: Callable[[int], None], limits: Limits):
        self.limits = limits
        self._gen = run_child(body, limits)
        self.error: tuple[str, str] | None = None
        self.exit: ChildExit | None = None

    def __iter__(self) -> Iterator[tuple[dict, dict]]:
        for kind, item in self._gen:
            if kind == "exit":
                self.exit = item
                return
            header, arrays = item
            if header.get("type") == "error":
                self.error = (str(header.get("kind", "runtime_error")), str(header.get("message", "")))
                continue
            yield header, arrays

    def close(self) -> None:
        """Kill the child's group (if still running) and reap it."""
        self._gen.close()

    def output(self) -> str:
        return self.exit.output if self.exit else ""

    def failure(self) -> tuple[str, str]:
        """(kind, message) for a child that did not deliver: its error, a timeout, or its exit."""
        if self.error is not None:
            return self.error
        if self.exit is not None and self.exit.timed_out:
            return "timeout", f"no result within {self.limits.timeout_s:g} s"
        return describe_status(self.exit.status if self.exit else None)


def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def describe_status(status: int | None) -> tuple[str, str]:
    """(failure kind, message) for a child that ended without reporting a result."""
    if status is None:
        return "runtime_error", "the candidate process ended without a result"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return "timeout", "CPU time limit exceeded"
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        if sig == signal.SIGKILL:
            return "memory_limit", "the candidate process was killed (SIGKILL; likely out of memory)"
        return "runtime_error", f"the candidate process crashed ({name})"
    code = os.WEXITSTATUS(status)
    return "runtime_error", f"the candidate process exited (code {code}) before returning a result"
