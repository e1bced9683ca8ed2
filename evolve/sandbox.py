"""One sandboxed child per candidate: fork, confine, read its frames, time it, kill it, reap it.

The worker forks a *monitor*, which closes every descriptor but the child's own three pipes
(results out, commands in, capped stdout/stderr), enters fresh namespaces (isolation.py) and forks
the *candidate*. The monitor never runs candidate code; it relays the candidate's exit status and
dies with the worker, as the candidate dies with it. The worker reads frames (frames.py) with a
deadline, can send the candidate commands (timed calls), measures the candidate's CPU time from
outside (/proc/<pid>/schedstat), and on close kills the whole process group and reaps it.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import fcntl
import gc
import os
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evolve import affinity, frames, isolation
from evolve.isolation import Plan

# The worker's task channel: readable with nothing to read means the controller is gone.
PARENT_FD: int | None = None
# A child that sent nothing for this long is computing: the worker does its chores meanwhile
# (a trivial candidate's result comes first and waits for nothing).
IDLE_AFTER_S = 0.005
# Profiling the evaluation path (evalmarks.PROFILE): the child's step times arrive in a frame.
PROFILE = bool(os.environ.get("EVOLVE_PROFILE_EVAL"))


@dataclass(frozen=True)
class Limits:
    """Hard limits for one candidate process."""

    timeout_s: float = 60.0  # CPU seconds; the wall-clock backstop is 3x + 10 s (load-proof)
    memory_mb: int = 2048  # address space the candidate may add on top of the warm worker
    max_output_kb: int = 256  # captured stdout/stderr; the rest is discarded
    max_result_mb: int = 64  # one result frame; all frames of one child: 4x this
    isolate_network: bool = True  # reduced mode only (full isolation always has no network)
    drop_privileges: bool = True  # reduced mode only (full isolation always drops them)
    hide: tuple[str, ...] = ()  # folders the candidate sees as empty (e.g. the runs folder)

    @property
    def wall_s(self) -> float:
        return 3 * self.timeout_s + 10


@dataclass
class ChildExit:
    """How the child ended, as the worker observed it."""

    timed_out: bool
    status: int | None  # raw wait status of the monitor (it relays the candidate's)
    output: str


Runner = Callable[[dict, int, int], None]  # runner(task, result_fd, command_fd), runs confined


class Child:
    """A sandboxed child: frames in, commands out, CPU time from outside, killed on close.

    It is forked and confined ahead of time (a standby), then waits for its task: the fork and
    the namespaces are off the critical path of an evaluation."""

    def __init__(self, runner: Runner, limits: Limits, plan: Plan):
        self.limits, self.plan = limits, plan
        self._runner = runner
        self.cached: set[str] = set()  # what the owner had loaded when it forked (see worker)
        self.profile: Any = None  # the child's step times, when profiling
        # Worker chores (forking the next standby) done once this child has been quiet for
        # IDLE_AFTER_S: while a real candidate compiles and runs, not after its result.
        self.idle: Callable[[], None] | None = None
        self.deadline = float("inf")
        self.timed_out = False
        self._out = bytearray()
        self._out_dropped = 0
        cap = limits.max_result_mb << 20
        self._reader = frames.FrameReader(cap, 4 * cap)
        self._workdir = isolation.WORKDIR if plan.full else tempfile.mkdtemp(prefix="evolve-cand-")
        self._base_vm = isolation.vm_size()
        res_r, res_w = os.pipe()
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                self._monitor(res_w, cmd_r, out_w)
            finally:
                os._exit(70)
        for fd in (res_w, cmd_r, out_w):
            os.close(fd)
        self.res, self.cmd, self.out = res_r, cmd_w, out_r
        os.set_blocking(cmd_w, False)
        self._open = {res_r, out_r}
        self._pending: collections.deque = collections.deque()
        self._status: int | None = None
        self._candidate_pid: int | None = None

    # ---- child side -----------------------------------------------------------------------
    def _monitor(self, res_w: int, cmd_r: int, out_w: int) -> None:
        worker = os.getppid()
        affinity.unpin()  # forked while its worker streamed on one CPU: not its own CPU
        os.setsid()
        isolation.set_death_signal()
        if os.getppid() != worker:
            os._exit(70)
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 1000) for fd in (res_w, cmd_r, out_w)]
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(high[2], 1)
        os.dup2(high[2], 2)
        os.dup2(high[0], 3)
        os.dup2(high[1], 4)
        os.closerange(5, os.sysconf("SC_OPEN_MAX"))  # nothing of the worker's survives
        if not self.plan.full:
            self._candidate()
        try:
            isolation.enter_namespaces(self.plan)
        except isolation.IsolationError as e:
            frames.write(3, {"type": "error", "kind": "engine_error", "message": f"sandbox: {e}"})
            os._exit(71)
        isolation.set_death_signal()
        life_r, life_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(life_w)
            isolation.set_death_signal()
            if select.select([life_r], [], [], 0)[0]:
                os._exit(70)  # the monitor is already gone
            os.close(life_r)
            self._candidate()
        os.close(life_r)
        for fd in (0, 1, 2, 3, 4):
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # it may die of the child's signal
        while True:
            try:
                _, status, usage = os.wait4(pid, 0)
                break
            except InterruptedError:
                continue
        if os.WIFSIGNALED(status):  # die the same way, so the worker sees the real cause
            sig = os.WTERMSIG(status)
            # pid 1 of a namespace ignores SIGXCPU; the hard limit's SIGKILL is the timeout.
            if sig == signal.SIGKILL and usage.ru_utime + usage.ru_stime >= self.limits.timeout_s:
                sig = signal.SIGXCPU
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 70)

    def _candidate(self) -> None:
        code = 0
        # The worker's objects are not the candidate's garbage: its collections skip them (a
        # full one over the SMTT worker's heap took 92 ms CPU and copied every page it walked).
        gc.freeze()
        try:
            if not self.plan.full and self.plan.root:
                if self.limits.isolate_network:
                    isolation.unshare_network()
                if not self.limits.drop_privileges:  # keep root: confine() then skips setuid
                    self.plan = dataclasses.replace(self.plan, root=False)
            isolation.confine(self.plan, self.limits.timeout_s, self.limits.memory_mb,
                              self._base_vm, self._workdir)
            task = frames.read_one(4)
            if task is None:
                os._exit(0)  # a standby that was never used
            self._runner(task, 3, 4)
        except BaseException as e:  # noqa: BLE001 - last resort report
            code = 1
            try:
                from evolve.result import classify_exception

                kind, msg = classify_exception(e)
                flush_std()
                frames.write(3, {"type": "error", "kind": kind, "message": msg})
            except BaseException:  # noqa: BLE001
                code = 3
        finally:
            flush_std()
            os._exit(code)

    # ---- worker side ----------------------------------------------------------------------
    def alive(self) -> bool:
        """Still waiting for its task (a standby can die, e.g. killed by the OOM killer)."""
        return self._status is None and os.waitpid(self.pid, os.WNOHANG)[0] == 0

    def start(self, task: dict[str, Any]) -> bool:
        """Hand the child its task; the wall-clock deadline starts now."""
        self.deadline = time.monotonic() + self.limits.wall_s
        return self.send(task)

    def next_frame(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The next frame, or None once the child closed its results or the deadline passed.

        Raises frames.FrameError for a malformed or oversized frame."""
        while not self._pending:
            if self.res not in self._open or self.timed_out:
                return None
            self._pump(self.deadline - time.monotonic())
        frame = self._pending.popleft()
        if PROFILE and frame[0].get("type") == "profile":  # off by default (evalmarks.PROFILE)
            self.profile = frame[0]
            return self.next_frame()
        return frame

    def push_back(self, frame: tuple[dict[str, Any], dict[str, Any]]) -> None:
        """Return a frame to the front of the queue (the next reader should see it)."""
        self._pending.appendleft(frame)

    def _pump(self, left: float) -> None:
        if left <= 0:
            self.timed_out = True
            return
        watch = list(self._open) + ([PARENT_FD] if PARENT_FD is not None else [])
        wait = min(left, 1.0) if self.idle is None else min(left, IDLE_AFTER_S)
        try:
            ready, _, _ = select.select(watch, [], [], wait)
        except InterruptedError:
            return
        if not ready and self.idle is not None:
            idle, self.idle = self.idle, None
            idle()
            return
        for fd in ready:
            if fd == PARENT_FD:
                _exit_if_orphaned(self)
                continue
            try:
                data = os.read(fd, 1 << 20)
            except OSError as e:
                if e.errno == errno.EINTR:
                    continue
                data = b""
            if not data:
                self._open.discard(fd)
            elif fd == self.out:
                self._keep_output(data)
            else:
                self._pending.extend(self._reader.feed(data))

    def _keep_output(self, data: bytes) -> None:
        room = max(self.limits.max_output_kb * 1024 - len(self._out), 0)
        self._out += data[:room]
        self._out_dropped += max(0, len(data) - room)

    def send(self, header: dict[str, Any], arrays: dict[str, Any] | None = None) -> bool:
        """Write a command frame; False if the child stopped reading before the deadline."""
        view = memoryview(frames.encode(header, arrays))
        try:  # a streamed round fits the pipe: written at once, without waiting to be able to
            view = view[os.write(self.cmd, view):]
        except BlockingIOError:
            pass
        except OSError:
            return False
        while view:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.timed_out = True
                return False
            try:
                wait = min(left, 1.0) if self.idle is None else min(left, IDLE_AFTER_S)
                _, ready, _ = select.select([], [self.cmd], [], wait)
                if ready:
                    view = view[os.write(self.cmd, view):]
                elif self.idle is not None:  # it compiles before it reads: the idle chore now
                    idle, self.idle = self.idle, None
                    idle()
            except BlockingIOError:
                continue
            except OSError:  # BrokenPipeError included
                return False
        return True

    def cpu_ns(self) -> int | None:
        """The candidate's CPU time so far (ns), read by the worker from /proc."""
        if self._candidate_pid is None:
            self._candidate_pid = self.pid
            if self.plan.full:
                try:
                    with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
                        self._candidate_pid = int(f.read().split()[0])
                except (OSError, ValueError, IndexError):
                    return None
        try:
            with open(f"/proc/{self._candidate_pid}/schedstat") as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def close(self, wait_s: float = 0.0, need_status: bool = True) -> ChildExit:
        """Kill the child's group (after up to `wait_s` for it to exit by itself) and reap it.

        With `need_status=False` (its result is complete) the reaping is left for later: tearing
        down a copy of the worker's address space takes milliseconds nobody needs to wait for."""
        if self._status is None:
            if self.res not in self._open and not self.timed_out:
                wait_s = max(wait_s, 2.0)  # it closed its results: it is exiting, let it say how
            end = time.monotonic() + wait_s
            while time.monotonic() < end:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    self._status = status
                    break
                time.sleep(0.001)
            _kill_group(self.pid)
            if self._status is None and need_status:
                _, self._status = os.waitpid(self.pid, 0)
            elif self._status is None:
                _UNREAPED.append(self.pid)
            self._drain_output()
            for fd in (self.res, self.cmd, self.out):
                try:
                    os.close(fd)
                except OSError:
                    pass
            if not self.plan.full:
                shutil.rmtree(self._workdir, ignore_errors=True)
        text = self._out.decode(errors="replace")
        if self._out_dropped:
            text += f"\n[... {self._out_dropped} more bytes of output discarded]"
        return ChildExit(self.timed_out, self._status, text)

    def _drain_output(self) -> None:
        """The rest of the output the (now dead) child left in its pipe."""
        if self.out not in self._open:
            return
        os.set_blocking(self.out, False)
        while True:
            try:
                data = os.read(self.out, 1 << 20)
            except OSError:
                return
            if not data:
                return
            self._keep_output(data)


def flush_std() -> None:
    """Push what the candidate printed into the output pipe. Called before a final frame: the
    worker kills the child as soon as it has read it, so output still buffered would be lost."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except BaseException:  # noqa: BLE001 - a candidate's stream may do anything
            pass


_UNREAPED: list[int] = []  # killed children whose exit nobody waits for


def reap() -> None:
    """Collect the killed children that have finished exiting (never blocks)."""
    for pid in list(_UNREAPED):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _UNREAPED.remove(pid)


def _exit_if_orphaned(child: Child) -> None:
    """The controller closed the task channel (it died): take the child down and leave."""
    assert PARENT_FD is not None
    buf = bytearray(4)
    fcntl.ioctl(PARENT_FD, termios.FIONREAD, buf)
    if struct.unpack("i", buf)[0] == 0:
        _kill_group(child.pid)
        os._exit(1)


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
            return "memory_limit", ("the candidate process was killed (SIGKILL; likely out of "
                                    "memory)")
        return "runtime_error", f"the candidate process crashed ({name})"
    code = os.WEXITSTATUS(status)
    if code in (70, 71):
        return "engine_error", f"the sandbox could not start the candidate (code {code})"
    return "runtime_error", f"the candidate process exited (code {code}) before returning a result"
