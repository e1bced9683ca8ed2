"""A real Ray cluster on this machine for tests and benchmarks: a head and, optionally, a second
node, each with its own temporary folder (session files, sockets, logs), started with `ray start`.

Teardown ends exactly this cluster's processes (found by their temporary folders, and everything
they started), never other Ray clusters on the machine: `ray stop` would end every one of them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = Path(sys.executable).parent / "ray"
START_TIMEOUT = 900  # hang guard only: `ray start` takes 20-40 s on two busy cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            out.setdefault(ppid, []).append(int(entry))
    return out


def pids_with_env(name: str, value: str) -> list[int]:
    """Processes whose environment (fixed at exec, inherited by forks) holds name=value."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if needle in f.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                pass
    return found


class RayCluster:
    """`ray start --head` plus `nodes - 1` more nodes on 127.0.0.1, each with its own temp dir."""

    def __init__(self, cpus: tuple[int, ...] = (2, 2)):
        self.cpus = cpus
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # short folders: Ray's socket paths are limited to ~100 characters
        self.temps = [tempfile.mkdtemp(prefix="ray", dir="/tmp") for _ in cpus]

    def start(self) -> RayCluster:
        if not RAY.exists():
            raise RuntimeError("ray is not installed (pip install -e '.[ray]')")
        common = ["--node-ip-address=127.0.0.1", "--disable-usage-stats"]
        try:
            self._ray("start", "--head", f"--port={self.port}", f"--num-cpus={self.cpus[0]}",
                      f"--temp-dir={self.temps[0]}", "--include-dashboard=false", *common)
            for cpus, temp in zip(self.cpus[1:], self.temps[1:]):
                self._ray("start", f"--address={self.address}", f"--num-cpus={cpus}",
                          f"--temp-dir={temp}", f"--node-manager-port={free_port()}", *common)
        except BaseException:
            self.stop()
            raise
        return self

    def _ray(self, *args: str) -> None:
        # a loopback test cluster needs no token: a ~/.ray/auth_token left by the user's own
        # Ray would otherwise switch the cluster to token auth, which test clients do not send
        env = dict(os.environ, RAY_AUTH_MODE="disabled")
        proc = subprocess.run([str(RAY), *args], capture_output=True, text=True,
                              timeout=START_TIMEOUT, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"ray {args[0]} failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")

    def raylet_pid(self, node: int) -> int:
        """The raylet of node `node` (0: the head)."""
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                cmd = _cmdline(int(entry))
                if "/raylet/raylet " in cmd and f"{self.temps[node]}/" in cmd:
                    return int(entry)
        raise LookupError(f"no raylet for node {node}")

    def pids(self) -> list[int]:
        """Every process of this cluster: those naming one of its folders, and their
        descendants (Ray's workers and agents)."""
        roots = [int(e) for e in os.listdir("/proc") if e.isdigit()
                 and any(f"{t}/" in _cmdline(int(e)) or _cmdline(int(e)).rstrip().endswith(t)
                         for t in self.temps)]
        kids, out, todo = _children(), set(), list(roots)
        while todo:
            pid = todo.pop()
            if pid not in out and pid != os.getpid():
                out.add(pid)
                todo.extend(kids.get(pid, []))
        return sorted(out)

    def stop(self) -> None:
        """End this cluster's processes (TERM, then KILL), remove its folders."""
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
            pids = self.pids()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            end = time.monotonic() + wait
            while self.pids() and time.monotonic() < end:
                time.sleep(0.2)
            if not self.pids():
                break
        for t in self.temps:
            shutil.rmtree(t, ignore_errors=True)
