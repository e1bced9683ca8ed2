"""Outside problems (issue 15): a `--config-dir` problem whose target, helper module and seeds sit
next to its yaml runs from any folder; contract v2's three-stage cascade records where each
program stopped and never ranks a stopped one above a full evaluation; a bug in the problem's own
code stops the run as `failed` with a `problem_error` and its traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine_util import rows

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "tests" / "byop"
CONF = ["--config-dir", str(HERE)]


def evolve(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evolve.app", *CONF, *args, "progress=false",
                           "evaluator.workers=1"], cwd=cwd, capture_output=True, text=True,
                          timeout=900)  # a hang guard only


def test_three_stage_cascade_from_another_folder(tmp_path):
    progs = ",".join(str(HERE / "programs" / f) for f in
                     ("stop1.py", "stop2.py", "full.py", "hang2.py"))
    run = tmp_path / "run"
    # the current folder is not the repository: target, helper and seed resolve from the yaml
    proc = evolve(tmp_path, "problem=cascade3", "proposer=scripted",
                  f"proposer.programs=[{progs}]", "search.iterations=4", "search.concurrency=1",
                  "evaluator.timeout_s=600", f"hydra.run.dir={run}")
    assert proc.returncode == 0, proc.stderr
    got = rows(run, "select iteration, status, stage, score from programs "
                    "where proposer != 'seed' or island = 0 order by iteration")
    by_iter = {it: (status, stage, score) for it, status, stage, score in got}
    assert by_iter[0] == ("ok", "full", 1.0)
    assert by_iter[1] == ("ok", "stage1", 1000.0)
    assert by_iter[2] == ("ok", "stage2", 500.0)
    assert by_iter[3] == ("ok", "full", 2.0)
    assert by_iter[4][:2] == ("timeout", "stage2")  # stage 2's own 5 s, not the 600 s limit
    assert (run / "best.py").read_text() == (HERE / "programs" / "full.py").read_text()
    top = subprocess.run([sys.executable, "-m", "evolve.cli.archive", "top", str(run), "--json"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    ranked = [(r["stage"], r["score"]) for r in json.loads(top.stdout)]
    assert ranked[:2] == [("full", 2.0), ("full", 1.0)]
    assert {s for s, _ in ranked[2:]} == {"stage1", "stage2"}
    shown = subprocess.run([sys.executable, "-m", "evolve.cli.archive", "top", str(run)],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path).stdout
    assert "(stopped: stage1)" in shown and "(stopped: stage2)" in shown
    arts = rows(run, "select a.name, a.text from artifacts a join programs p "
                     "on p.id = a.program_id where p.iteration = 3")
    assert ("note", "train: 2") in arts


@pytest.mark.parametrize("bug,where", [("score_set", "score_set"), ("summarize", "summarize"),
                                       ("instances", "warm_up")])
def test_a_bug_in_the_problem_fails_the_run_cleanly(tmp_path, bug, where):
    run = tmp_path / "run"
    proc = evolve(tmp_path, "problem=buggy", f"problem.bug={bug}", "search.iterations=2",
                  f"hydra.run.dir={run}")
    assert proc.returncode == 1, proc.stderr
    status, reason = rows(run, "select status, stop_reason from runs")[0]
    assert status == "failed"
    assert f"problem_error in {where}" in reason and "Traceback" in reason, reason
    assert "seed program failed" not in reason
    assert f"problem_error in {where}" in proc.stderr
