"""`evaluator.backend=ray` on a real two-node Ray cluster started here (head + a second node on
this machine, each with its own temp dir), shared by the module and torn down at its end with
nothing of it, or of the runs, left running.

* the same seed gives the same SMTT archive on Ray as on the local pool;
* hostile programs get the same failure kinds as locally, and the run finishes;
* a node's raylet killed mid-run: the budget is finished, nothing completed lost, resubmissions
  counted in run.json;
* a cluster that does not answer: one line, exit 2, no run folder.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.engine_util import ROOT, SORTING, evolve_cmd, rows, run_evolve
from tests.raycluster import RayCluster, free_port, pids_with_env
from tests.sandbox_util import SECRET, evolve_env
from tests.test_determinism_smtt import QUERY, WALL_CLOCK
from tests.test_sandbox_attacks import EXPECTED

# one worker under pytest-xdist: the module's cluster, and no second Ray cluster beside it
pytestmark = pytest.mark.xdist_group("ray")

HOSTILE = ROOT / "tests" / "hostile"
# the attacks needing no listener or sentinel (test_sandbox_attacks covers those locally)
ATTACKS = ["infinite_loop.py", "memory_bomb.py", "fork_bomb.py", "os_exit.py", "sys_exit.py",
           "write_outside.py", "steal_secrets.py", "open_socket.py", "kill_all.py",
           "raise_at_import.py", "mutate_input.py", "good.py"]
SMTT_ITERATIONS = 24  # tuning (grow_cmaes) takes part, and both nodes serve (actors start on both)
SMTT_SMALL = ["problem=smtt", "proposer=builtin", f"search.iterations={SMTT_ITERATIONS}",
              "search.seed=3",
              "problem.train.sizes=[20]", "problem.train.per_class_by_size=[]",
              "progress=false"]


@pytest.fixture(scope="module")
def cluster():
    c = RayCluster(cpus=(2, 2))
    try:
        yield c.start()
    finally:
        c.stop()
    assert c.pids() == [], "processes of the test's Ray cluster outlived its teardown"


def _ray(cluster: RayCluster, workers: int = 4) -> list[str]:
    return ["evaluator.backend=ray", f"evaluator.ray.address={cluster.address}",
            f"evaluator.workers={workers}"]


def _nothing_left(pid: int) -> None:
    """No worker, zygote or candidate of the controller `pid` is left (they die with their actor,
    which the bridge ends when the run closes)."""
    end = time.monotonic() + 60  # hang guard: actors are ended asynchronously by Ray
    while pids_with_env("EVOLVE_CONTROLLER_PID", str(pid)) and time.monotonic() < end:
        time.sleep(0.5)
    assert pids_with_env("EVOLVE_CONTROLLER_PID", str(pid)) == []


def _evolve(*args: str, env: dict | None = None, timeout: float = 1800) \
        -> subprocess.CompletedProcess:
    proc = subprocess.Popen(evolve_cmd(*args), cwd=ROOT, env=env or dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=timeout)
    _nothing_left(proc.pid)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _archive(run_dir: Path) -> list[tuple]:
    out = []
    for *cols, metrics in rows(run_dir, QUERY):
        m = {k: v for k, v in json.loads(metrics or "{}").items() if k not in WALL_CLOCK}
        out.append((*cols, m))
    return out


def test_unreachable_cluster_is_one_line_and_exit_2(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_evolve(*SORTING, "evaluator.backend=ray",
                      f"evaluator.ray.address=127.0.0.1:{free_port()}", f"run_dir={run_dir}",
                      "progress=false", check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "evaluator.ray.address=127.0.0.1:" in lines[0], proc.stderr
    assert "does not answer" in lines[0]
    assert not run_dir.exists()


def test_without_an_address_a_private_ray_is_started_and_ended(tmp_path):
    """evaluator.ray.address=null: a local Ray of the run's own (not a cluster found on the
    machine), gone with the run: its processes carry the run's marker too."""
    run_dir = tmp_path / "run"
    proc = _evolve(*SORTING, "proposer=builtin", "search.iterations=2", "evaluator.backend=ray",
                   "evaluator.workers=1", f"run_dir={run_dir}", "progress=false")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert rows(run_dir, "select status from runs") == [("finished",)]
    assert json.loads((run_dir / "run.json").read_text())["ray"]["nodes"] == 1


def test_same_seed_same_smtt_archive_as_local(cluster, tmp_path):
    local = tmp_path / "local"
    on_ray = tmp_path / "ray"
    proc = _evolve(*SMTT_SMALL, "evaluator.workers=2", f"run_dir={local}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _evolve(*SMTT_SMALL, *_ray(cluster), f"run_dir={on_ray}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    a, b = _archive(local), _archive(on_ray)
    assert sum(r[4] not in ("seed", "migration") for r in a) == SMTT_ITERATIONS
    assert a == b
    info = json.loads((on_ray / "run.json").read_text())
    assert info["ray"]["nodes"] == 2 and info["ray"]["resubmitted"] == 0  # both nodes served


def test_hostile_programs_same_failure_kinds_as_local(cluster, tmp_path):
    folder = tmp_path / "programs"
    folder.mkdir()
    files = []
    for name in ATTACKS:
        (folder / name).write_text((HOSTILE / name).read_text())
        files.append(folder / name)
    escape = Path("/tmp/evolve_escape.txt")
    escape.unlink(missing_ok=True)
    run_dir = tmp_path / "run"
    proc = _evolve(*SORTING, "proposer=scripted",
                   f"proposer.programs=[{','.join(map(str, files))}]",
                   f"search.iterations={len(files)}", "evaluator.timeout_s=4",
                   "evaluator.memory_mb=400", *_ray(cluster), f"run_dir={run_dir}",
                   "progress=false", env=evolve_env(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    con = sqlite3.connect(run_dir / "archive.sqlite")
    got = {Path(op).name: status for op, status in con.execute(
        "select operator, status from programs where proposer='scripted'")}
    dump = "\n".join(con.iterdump())
    con.close()
    assert rows(run_dir, "select status from runs") == [("finished",)]
    assert got == {n: EXPECTED[n] for n in ATTACKS}
    assert not escape.exists(), "a candidate wrote outside its folder"
    text = dump + proc.stdout + proc.stderr + (run_dir / "run.log").read_text()
    assert SECRET not in text and SECRET[::-1] not in text, "a secret leaked"


def _slow_programs(folder: Path, n: int) -> list[Path]:
    """n distinct honest programs that each keep an actor busy for a while (pure Python)."""
    folder.mkdir()
    out = []
    for i in range(n):
        p = folder / f"slow_{i:02d}.py"
        p.write_text("import numpy as np\n\n\ndef solve(x):\n    acc = 0.0\n"
                     "    for i in range(3000000):\n"
                     f"        acc += (i % 7) * 1e-12 * {i + 1}\n"
                     "    return np.argsort(x + acc * 0.0)\n")
        out.append(p)
    return out


def _recorded(run_dir: Path) -> int:
    try:
        return rows(run_dir, "select count(*) from programs where proposer='scripted'")[0][0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_killing_a_nodes_raylet_mid_run_loses_nothing(cluster, tmp_path):
    """Runs last in the module: the second node stays dead."""
    files = _slow_programs(tmp_path / "programs", 12)
    run_dir = tmp_path / "run"
    programs = ",".join(map(str, files))
    proc = subprocess.Popen(
        evolve_cmd(*SORTING, "proposer=scripted", f"proposer.programs=[{programs}]",
                   "search.iterations=12", "search.concurrency=4", "evaluator.timeout_s=600",
                   "evaluator.ray.start_timeout_s=30", *_ray(cluster), f"run_dir={run_dir}",
                   "progress=false"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 1800  # hang guard
        while time.monotonic() < end and proc.poll() is None and _recorded(run_dir) < 2:
            time.sleep(0.5)
        assert proc.poll() is None, "the run ended before the node could be killed"
        os.kill(cluster.raylet_pid(1), signal.SIGKILL)
        out, err = proc.communicate(timeout=1800)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _nothing_left(proc.pid)
    assert proc.returncode == 0, out + err
    assert rows(run_dir, "select status from runs") == [("finished",)]
    got = rows(run_dir, "select iteration, status, score from programs where proposer='scripted' "
                        "order by iteration")
    assert [r[0] for r in got] == list(range(1, 13))  # the whole budget, nothing lost
    assert all(r[1] == "ok" and r[2] == 0.0 for r in got), got
    stats = json.loads((run_dir / "run.json").read_text())["ray"]
    assert stats["actors_lost"] >= 1 and stats["resubmitted"] >= 1, stats
    assert "tasks resubmitted" in (run_dir / "run.log").read_text()


def test_losing_the_cluster_stops_the_run_resumable(cluster, tmp_path):
    """Runs after the raylet test: the head goes too. The run stops (status `stopped`, the reason
    says why and how to resume), never hangs, and keeps what it completed."""
    files = _slow_programs(tmp_path / "programs", 8)
    run_dir = tmp_path / "run"
    programs = ",".join(map(str, files))
    proc = subprocess.Popen(
        evolve_cmd(*SORTING, "proposer=scripted", f"proposer.programs=[{programs}]",
                   "search.iterations=8", *_ray(cluster, workers=2), f"run_dir={run_dir}",
                   "progress=false"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 1800  # hang guard
        while time.monotonic() < end and proc.poll() is None and _recorded(run_dir) < 2:
            time.sleep(0.5)
        assert proc.poll() is None, "the run ended before the cluster could be lost"
        for pid in cluster.pids():
            os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=1800)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _nothing_left(proc.pid)
    assert proc.returncode == 1, out + err
    assert f"resume={run_dir} continues the run" in err
    [(status, reason)] = rows(run_dir, "select status, stop_reason from runs")
    assert status == "stopped" and reason.startswith("Ray cluster lost: "), reason
    kept = _recorded(run_dir)
    assert kept >= 2 and rows(run_dir, "select count(distinct iteration) from programs "
                                       "where proposer='scripted'") == [(kept,)]
