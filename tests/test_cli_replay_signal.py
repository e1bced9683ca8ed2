"""SIGTERM (and Ctrl-C) stop `evolve-replay` mid-evaluation: exit 130, one line, and every
process the replay started (workers, zygotes, the candidate child) is gone soon after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOREVER = """import numpy as np


def solve(x):
    while True:
        pass
    return np.argsort(x)
"""
TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, start time, cpu ticks) of `pid`, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after "pid (comm)": field 3 is fields[0]
    return fields[0], int(fields[19]), int(fields[11]) + int(fields[12])


def _children(pid: int) -> list[int]:
    out = []
    for f in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            out += [int(c) for c in f.read_text().split()]
        except OSError:
            pass
    return out


def _tree(root: int) -> dict[int, tuple[int, int]]:
    """Descendants of `root`: pid -> (depth, start time)."""
    found: dict[int, tuple[int, int]] = {}
    todo = [(c, 1) for c in _children(root)]
    while todo:
        pid, depth = todo.pop()
        st = _stat(pid)
        if st is None or pid in found:
            continue
        found[pid] = (depth, st[1])
        todo += [(c, depth + 1) for c in _children(pid)]
    return found


def _alive(pid: int, start: int) -> bool:
    st = _stat(pid)
    return st is not None and st[1] == start and st[0] not in ("Z", "X")


def _mentioning(needle: str) -> list[int]:
    """Live processes whose command line or environment mention `needle` (not this one)."""
    hits = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        for name in ("cmdline", "environ"):
            try:
                if needle.encode() in (d / name).read_bytes():
                    st = _stat(int(d.name))
                    if st and st[0] not in ("Z", "X"):
                        hits.append(int(d.name))
                    break
            except OSError:
                pass
    return hits


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_evaluation_and_leaves_nothing_running(tmp_path, sig):
    prog = tmp_path / "forever.py"
    prog.write_text(FOREVER)
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    env = dict(os.environ, EVOLVE_TEST_REPLAY_TAG=str(tmp_path))
    cmd = [sys.executable, "-m", "evolve.cli.replay", str(prog), "--problem", "sorting",
           "--config-dir", "tests/conf", "--timeout", "100000", "--baselines", "none"]
    with out.open("w") as fo, err.open("w") as fe:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=fo, stderr=fe, env=env)
    seen: dict[int, tuple[int, int]] = {}
    try:
        # evaluating: a process below a worker (the candidate) has burnt a second of CPU
        deadline = time.monotonic() + 300  # generous: 2 cores shared with other test runs
        while True:
            assert proc.poll() is None, f"replay ended early: {err.read_text()}"
            tree = _tree(proc.pid)
            seen.update(tree)
            busy = [p for p, (depth, _) in tree.items()
                    if depth >= 2 and (_stat(p) or ("", 0, 0))[2] >= TICKS]
            if busy:
                break
            assert time.monotonic() < deadline, f"never started evaluating: {err.read_text()}"
            time.sleep(0.2)
        seen.update(_tree(proc.pid))
        proc.send_signal(sig)
        rc = proc.wait(timeout=60)
        assert rc == 130, err.read_text()
        name = "SIGTERM" if sig == signal.SIGTERM else "Ctrl-C"
        lines = err.read_text().splitlines()
        assert lines[-1] == f"evolve-replay: interrupted ({name}); evaluation stopped"
        assert out.read_text() == ""
        # nothing the replay started outlives it by more than 5 s
        until = time.monotonic() + 5
        while time.monotonic() < until:
            left = [p for p, (_, start) in seen.items() if _alive(p, start)]
            left += _mentioning(str(tmp_path))
            if not left:
                break
            time.sleep(0.2)
        assert not left, f"still running after the replay exited: {sorted(set(left))}"
    finally:  # never leave a spinning candidate on a shared machine, whatever failed above
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid, (_, start) in seen.items():
            if _alive(pid, start):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
