"""Sweeps (`evolve -m`) on Hydra's basic, joblib and Ray launchers: one finished run per job.

Real processes throughout: joblib's loky workers, and a local Ray cluster started here with
`ray start` (tests/raycluster.py: session files in a temporary folder) and ended even on failure.
Each job is a full evolve session (signal handlers, asyncio, sandbox worker processes) in the
launcher's worker.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.engine_util import SORTING, rows, run_evolve
from tests.raycluster import RAY, RayCluster

TINY = [*SORTING, "proposer=builtin", "search.iterations=2", "evaluator.workers=1",
        "progress=false"]
GOOD = "tests/hostile/good.py"
# 2 x 2 = 4 jobs: the smallest grid in which every value of each key meets every value of the other
SWEEP = [f"problem.seed_program=keyed,{GOOD}", "search.seed=0,1"]
SEEDS = "01"


def _check_sweep(proc: subprocess.CompletedProcess, sweep: Path) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    jobs = sorted((p for p in sweep.iterdir() if p.is_dir() and p.name != "latest"),
                  key=lambda p: int(p.name))
    assert [p.name for p in jobs] == [str(i) for i in range(4)]
    seen = set()
    for job in jobs:
        assert rows(job, "select status from runs") == [("finished",)], job
        assert rows(job, "select max(iteration) from programs") == [(2,)]
        config = (job / "config.yaml").read_text()
        seed = next(line.split(":")[1].strip() for line in config.splitlines()
                    if line.startswith("  seed:"))
        program = next(line.split(":", 1)[1].strip() for line in config.splitlines()
                       if line.startswith("  seed_program:"))
        seen.add((program, seed))
        assert (job / ".hydra" / "overrides.yaml").exists()
        assert f"  {job}  finished  best " in proc.stdout  # the summary line of the job
    assert seen == {(p, s) for p in ("keyed", GOOD) for s in SEEDS}
    assert (sweep / "multirun.yaml").exists()


@pytest.mark.slow
def test_sweep_on_the_basic_launcher(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_evolve("-m", *TINY, *SWEEP, f"hydra.sweep.dir={sweep}", timeout=1200)
    _check_sweep(proc, sweep)
    assert (tmp_path / "latest").resolve() == sweep.resolve()  # `latest` names the sweep


@pytest.mark.slow
def test_a_failed_job_does_not_stop_the_others(tmp_path):
    """On joblib's launcher (jobs in loky worker processes): a seed that cannot run fails its job
    (exit 1, status failed); the other job finishes, and the sweep's exit code says that one
    failed. (The joblib sweep of the other tests' grid would prove nothing more: each job is
    the same session in a loky worker, checked here by its folder, config and summary line.)"""
    sweep = tmp_path / "sweep"
    proc = run_evolve("-m", *TINY, "problem.seed_program=tests/hostile/raise_at_import.py,keyed",
                      "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                      f"hydra.sweep.dir={sweep}", check=False, timeout=900)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert rows(sweep / "0", "select status from runs") == [("failed",)]
    assert rows(sweep / "1", "select status from runs") == [("finished",)]
    assert rows(sweep / "1", "select max(iteration) from programs") == [(2,)]
    assert "  seed_program: keyed" in (sweep / "1" / "config.yaml").read_text().splitlines()
    assert (sweep / "1" / ".hydra" / "overrides.yaml").exists()
    assert (sweep / "multirun.yaml").exists()
    assert (tmp_path / "latest").resolve() == sweep.resolve()  # `latest` names the sweep
    lines = proc.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("sweep folder: "))
    summary = lines[start + 1:]
    assert len(summary) == 2, proc.stdout
    assert "  failed  " in summary[0] and "raise_at_import" in summary[0]
    assert "  finished  " in summary[1] and "problem.seed_program=keyed" in summary[1]


@pytest.fixture
def ray_cluster():
    """A one-node Ray cluster (2 CPUs) for the test, ended (only it) in the finalizer, always."""
    if not RAY.exists():
        pytest.fail("ray is not installed (make install installs the launchers)")
    cluster = RayCluster(cpus=(2,))
    try:
        yield cluster.start().address
    finally:
        cluster.stop()


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one Ray cluster at a time on the machine (tests/conftest.py)
def test_sweep_on_a_ray_cluster(tmp_path, ray_cluster):
    sweep = tmp_path / "sweep"
    proc = run_evolve("-m", *TINY, *SWEEP, "hydra/launcher=ray",
                      f"hydra.launcher.ray.init.address={ray_cluster}",
                      f"hydra.sweep.dir={sweep}", timeout=1500)
    _check_sweep(proc, sweep)  # the relative problem target loaded: jobs ran in the user's folder
