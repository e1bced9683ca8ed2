"""Sandbox test helpers: run `evolve` as root or as a throwaway plain user, find its processes."""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.engine_util import ROOT
from tests.raycluster import pids_with_env

SECRET = "sk-test-" + uuid.uuid4().hex  # an "API key" the controller holds; must never leak


def _blocked_ancestor(path: str) -> str | None:
    """The first folder above `path` that others cannot enter (e.g. /root), if any."""
    parts = Path(path).resolve().parts
    for i in range(2, len(parts) + 1):
        p = Path(*parts[:i])
        if p.is_dir() and not (p.stat().st_mode & stat.S_IXOTH):
            return str(p)
    return None


@contextlib.contextmanager
def plain_user() -> Iterator[tuple[int, int]]:
    """A user created for the test (uid, gid); removed afterwards."""
    if os.geteuid() != 0:
        yield os.getuid(), os.getgid()
        return
    name = f"evt{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", name],
                          capture_output=True).returncode == 0
    try:
        if made:
            info = pwd.getpwnam(name)
            yield info.pw_uid, info.pw_gid
        else:  # no useradd: an unused numeric uid works the same for the kernel
            yield 47000 + os.getpid() % 1000, 47000 + os.getpid() % 1000
    finally:
        if made:
            subprocess.run(["userdel", name], capture_output=True)


def as_user_cmd(cmd: list[str], uid: int, gid: int) -> list[str]:
    """`cmd` run as uid/gid. Folders above Python that the user cannot enter (a pyenv under
    /root) are bridged in a private mount namespace; nothing changes on the host."""
    if os.geteuid() != 0:
        return cmd
    steps = ["mount --make-rprivate /"]
    prefix = os.path.realpath(sys.base_prefix)
    blocked = _blocked_ancestor(prefix)
    if blocked:
        stage = tempfile.mkdtemp(prefix="evolve-pyprefix-")
        steps += [f"mount --bind {shlex.quote(prefix)} {stage}",
                  f"mount -t tmpfs -o mode=755 tmpfs {shlex.quote(blocked)}",
                  f"mkdir -p {shlex.quote(prefix)}",
                  f"mount --move {stage} {shlex.quote(prefix)}"]
    run = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *cmd]
    steps.append("exec " + " ".join(shlex.quote(a) for a in run))
    return ["unshare", "-m", "--", "sh", "-c", " && ".join(steps)]


def user_dir(uid: int, gid: int) -> Path:
    """A fresh folder the user owns (parents stay traversable)."""
    d = Path(tempfile.mkdtemp(prefix="evolve-user-"))
    d.chmod(0o755)
    os.chown(d, uid, gid)
    return d


def evolve_env(home: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", OPENAI_API_KEY=SECRET,
               ANTHROPIC_API_KEY=SECRET[::-1], XDG_CACHE_HOME=str(home / "cache"),
               NUMBA_CACHE_DIR=str(home / "numba"), HOME=str(home))
    return env


def marked_pids(controller_pid: int) -> list[int]:
    """Processes started for one controller (workers, monitors, candidates): their environment
    block, fixed at exec and inherited by forks, names the controller."""
    return pids_with_env("EVOLVE_PARENT_PID", str(controller_pid))


class Listener:
    """A loopback TCP listener that counts connections (a candidate must never reach it)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=5)
        self.sock.close()


def outside_target() -> Path:
    """A world-writable folder in the repository: only a read-only mount keeps writes out."""
    d = ROOT / "tests" / f".escape-{uuid.uuid4().hex[:8]}"
    d.mkdir()
    d.chmod(0o777)
    return d / "escaped.txt"


def remove_target(target: Path) -> None:
    shutil.rmtree(target.parent, ignore_errors=True)
