"""Every attack class on the trust boundary, as root and as a plain user created by the test.

One run evaluates all hostile programs of tests/hostile/ next to honest ones. Each must leave the
run finished, the program recorded with the right failure kind or an honest score, no secret in
the archive, logs or output, no file written outside the candidate's folder, no connection made,
no process signalled and no process left behind.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine_util import ROOT, SORTING, evolve_cmd
from tests.sandbox_util import (
    SECRET,
    Listener,
    as_user_cmd,
    evolve_env,
    marked_pids,
    outside_target,
    plain_user,
    remove_target,
    user_dir,
)

HOSTILE = ROOT / "tests" / "hostile"
EXPECTED = {
    # resource abuse
    "infinite_loop.py": "timeout",
    "memory_bomb.py": "memory_limit",
    "fork_bomb.py": "runtime_error",
    "print_100mb.py": "ok",
    # leaving early or lying about it
    "os_exit.py": "runtime_error",
    "sys_exit.py": "runtime_error",
    "forged_kind.py": "runtime_error",  # an error frame that claims kind "ok"
    "early_done.py": "invalid_output",  # "done" before any set
    "partial_done.py": "invalid_output",  # "done" after the gate only
    # malformed results
    "forge_fds.py": "invalid_output",  # pickle + forged frames on every inherited descriptor
    "npz_bomb.py": "invalid_output",  # the old deflated format, 200 MB inflated
    "deep_json.py": "invalid_output",
    "oversized_frame.py": "invalid_output",
    "wrong_length.py": "invalid_output",
    "duplicates.py": "invalid_output",
    "mutate_input.py": "input_mutation",
    # reward hacks and escapes
    "patch_scorer.py": "ok",  # scored honestly outside its process
    "forged_fallback.py": "ok",
    "steal_secrets.py": "runtime_error",
    "write_outside.py": "runtime_error",
    "open_socket.py": "runtime_error",
    "ctypes_escape.py": "ok",  # hook switched off, libc used directly: namespaces hold
    "kill_all.py": "ok",  # its signals reach nothing but itself (pid 1 of its namespace)
    "raise_at_import.py": "runtime_error",
    # honest programs, running beside the attacks
    "good.py": "ok",
    "slow_good.py": "ok",
    "stochastic.py": "ok",
}
ENGINE_ONLY = {"deep_expression.py"}  # any outcome, as long as the engine survives it


def _programs(folder: Path, listener: Listener, target: Path, sentinel: int) -> list[Path]:
    folder.mkdir()
    out = []
    for name in sorted(EXPECTED) + sorted(ENGINE_ONLY):
        text = (HOSTILE / name).read_text()
        if name == "ctypes_escape.py":
            text = text.replace('PORT, TARGET, PARENT = 0, "", 0',
                                f"PORT, TARGET, PARENT = {listener.port}, {str(target)!r}, "
                                f"{sentinel}")
        p = folder / name
        p.write_text(text)
        p.chmod(0o644)
        out.append(p)
    return out


def _all_text(run_dir: Path) -> str:
    con = sqlite3.connect(run_dir / "archive.sqlite")
    try:
        dump = "\n".join(con.iterdump())
    finally:
        con.close()
    return dump + "\n".join(p.read_text(errors="replace") for p in run_dir.glob("*")
                            if p.is_file() and p.suffix in (".log", ".json", ".py", ".yaml"))


# the Ray attack test (tests/test_ray_backend.py) clears and checks the same /tmp/evolve_escape.txt:
# one xdist worker for both, so that one test's clean-up never hides the other's escape
@pytest.mark.xdist_group("ray")
@pytest.mark.parametrize("who", ["root", "user"])
def test_attacks_recorded_and_contained(who, tmp_path):
    if who == "root" and os.geteuid() != 0:
        pytest.skip("the root variant needs root (the plain-user variant runs as this user)")
    marker = Path("/tmp/evolve_pickle_marker")
    escape = Path("/tmp/evolve_escape.txt")
    for p in (marker, escape):
        p.unlink(missing_ok=True)
    listener, target = Listener(), outside_target()
    with plain_user() as (uid, gid):
        if who == "root":
            uid, gid = 0, 0
        base = user_dir(uid, gid) if who == "user" else tmp_path
        wrap = (lambda c: as_user_cmd(c, uid, gid)) if who == "user" else (lambda c: c)
        sentinel = subprocess.Popen(wrap(["sleep", "600"]))
        try:
            files = _programs(base / "programs", listener, target, sentinel.pid)
            run_dir = base / "run"
            cmd = wrap(evolve_cmd(*SORTING, "proposer=scripted",
                                  f"proposer.programs=[{','.join(map(str, files))}]",
                                  f"search.iterations={len(files)}", "evaluator.timeout_s=4",
                                  "evaluator.memory_mb=400", "evaluator.workers=2",
                                  f"run_dir={run_dir}", "progress=false"))
            proc = subprocess.Popen(cmd, cwd=ROOT, env=evolve_env(base), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            out, err = proc.communicate(timeout=1200)
            assert proc.returncode == 0, out + err
            time.sleep(0.5)
            assert marked_pids(proc.pid) == [], "processes of the run outlived it"
            assert sentinel.poll() is None, "a candidate killed a process outside its sandbox"
        finally:
            sentinel.kill()
            sentinel.wait()
            listener.close()
            escaped_target = target.exists()
            remove_target(target)  # also when an assertion above failed
        con = sqlite3.connect(run_dir / "archive.sqlite")
        got = {Path(op).name if "/" in (op or "") else op: (status, error or "", score, fallback)
               for op, status, error, score, fallback in con.execute(
                   "select operator, status, error, score, compile_fallback from programs "
                   "where proposer='scripted'")}
        (status,) = con.execute("select status from runs").fetchone()
        con.close()
    assert status == "finished"
    assert set(got) == set(EXPECTED) | ENGINE_ONLY, sorted(got)
    wrong = {n: got[n][:2] for n, kind in EXPECTED.items() if got[n][0] != kind}
    assert not wrong, wrong
    assert got["good.py"][2] == 0.0 and got["slow_good.py"][2] == 0.0
    assert got["patch_scorer.py"][2] < -0.4  # reversed order, scored by the worker
    assert got["forged_fallback.py"][2] == 0.0 and len(got["forged_fallback.py"][3] or "") <= 300
    assert "broke the result protocol" in got["forge_fds.py"][1]
    assert got["forged_kind.py"][1] == "all fine"
    assert "os.fork" in got["fork_bomb.py"][1] and "network" in got["open_socket.py"][1]
    assert not marker.exists(), "a pickle written by a candidate was unpickled"
    assert not escape.exists() and not escaped_target, "a candidate wrote outside its folder"
    assert listener.connections == 0, "a candidate reached the host's loopback"
    text = _all_text(run_dir) + out + err
    assert SECRET not in text and SECRET[::-1] not in text, "a secret leaked"


def test_kill_9_leaves_nothing_running(tmp_path):
    """`kill -9` of evolve with two candidates looping forever: all gone within 5 s."""
    loop = tmp_path / "loop.py"
    loop.write_text((HOSTILE / "infinite_loop.py").read_text())
    loop2 = tmp_path / "loop2.py"
    loop2.write_text((HOSTILE / "infinite_loop.py").read_text() + "\nOTHER = 2  # no duplicate\n")
    proc = subprocess.Popen(
        evolve_cmd(*SORTING, "proposer=scripted", f"proposer.programs=[{loop},{loop2}]",
                   "search.iterations=2", "evaluator.timeout_s=600", "evaluator.workers=2",
                   f"run_dir={tmp_path / 'run'}", "progress=false"),
        cwd=ROOT, env=evolve_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 600
        # 2 workers + 2 monitors + 2 candidates, once both loops run.
        while len(marked_pids(proc.pid)) < 6 and time.monotonic() < end:
            assert proc.poll() is None, "evolve ended before its candidates ran"
            time.sleep(0.2)
        assert len(marked_pids(proc.pid)) >= 6
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 5
    while marked_pids(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marked_pids(proc.pid) == []


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))
