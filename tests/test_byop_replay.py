"""A program replayed through `evolve-replay` with the OpenEvolve adapter gets exactly the score its
evaluator gives it when called directly in a separate process (the deterministic metrics equal;
only wall-clock ones may differ), also for an evaluator that runs the program in a `python
script.py` subprocess, which the sandboxed child runs inline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FUNCMIN = ROOT / "examples" / "openevolve_funcmin"
POPEN = ROOT / "tests" / "byop" / "popen"
DIRECT = """import importlib.util, json, sys
from evolve.problems.openevolve.compat import install
install()  # the stand-in for openevolve.evaluation_result (OpenEvolve is not installed)
spec = importlib.util.spec_from_file_location("evaluator", sys.argv[1])
ev = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ev)
result = getattr(ev, sys.argv[3])(sys.argv[2])
print(json.dumps(getattr(result, "metrics", result)))
"""


def direct(evaluator: Path, program: Path, function: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", DIRECT, str(evaluator), str(program), function],
                          capture_output=True, text=True, timeout=600, cwd=program.parent)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def replay(tmp_path: Path, evaluator: Path, program: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "evolve.cli.replay", str(program), "--problem",
                           "openevolve", f"problem.evaluator={evaluator}",
                           f"problem.initial_program={evaluator.parent / 'initial_program.py'}",
                           "--json", "--progress", "never"],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["program"]


@pytest.mark.parametrize("evaluator, program, function, timed", [
    (FUNCMIN / "evaluator.py", FUNCMIN / "evolved_program.py", "evaluate_stage2",
     {"seconds_per_trial"}),
    (POPEN / "evaluator.py", POPEN / "initial_program.py", "evaluate", set()),
])
def test_replay_scores_what_the_evaluator_says(tmp_path, evaluator, program, function, timed):
    want = direct(evaluator, program, function)
    got = replay(tmp_path, evaluator, program)
    assert got["status"] == "ok", got["error"]
    assert set(got["metrics"]) == set(want)
    assert {k: v for k, v in got["metrics"].items() if k not in timed} \
        == {k: v for k, v in want.items() if k not in timed}
    assert got["score"] == want["combined_score"]
    if evaluator.parent == POPEN:  # the driver ran, with its argv, and exited 0
        assert want == {"combined_score": 0.75, "exit_code": 0.0, "said_argv": 1.0}
