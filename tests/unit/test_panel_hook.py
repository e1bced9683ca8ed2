"""The web UI finds a built-in problem's panel without importing the problem module (its numba
code), and what it finds is exactly what the `Problem.panel` hook returns."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from evolve.web.panels import panel_for, panel_hook, problem_class

TARGETS = ["evolve.problems.smtt:SmttProblem", "evolve.problems.spot:SpotSingleProblem",
           "evolve.problems.spot:SpotMultiProblem",
           "evolve.problems.moe_placement:MoePlacementProblem",
           "evolve.problems.openevolve:OpenEvolveProblem", "evolve.problems.shinka:ShinkaProblem"]
METRICS = {"mean_gap_pct": 1.5, "cost/low": 12.5, "bound/low": 10.0, "mean_cost": 12.5,
           "balancedness_gpu": 0.8, "oracle_gpu": 0.9}
SETS = [{"split": "train", "set": "a", "score": -1.0, "metrics": METRICS}]


def _run(target: str) -> SimpleNamespace:
    return SimpleNamespace(config={"problem": {"target": target}})


@pytest.mark.parametrize("target", TARGETS)
def test_the_hook_found_is_the_problem_class_hook(target):
    cls = problem_class(_run(target))  # type: ignore[arg-type]
    assert cls is not None
    hook = panel_hook(_run(target))  # type: ignore[arg-type]
    assert hook is not None
    assert hook(METRICS, SETS) == cls.panel(METRICS, SETS)


def test_untrusted_targets_get_no_panel():
    for target in ("os:system", "evolve.web.panels:x", "", "evolve.problems:Problem"):
        assert panel_for(_run(target), METRICS) == []  # type: ignore[arg-type]


def test_finding_a_panel_imports_no_numba():
    code = ("import sys\nfrom types import SimpleNamespace\n"
            "from evolve.web.panels import panel_for\n"
            f"for t in {TARGETS!r}:\n"
            "    run = SimpleNamespace(config={'problem': {'target': t}})\n"
            "    panel_for(run, {'mean_cost': 1.0})\n"
            "assert 'numba' not in sys.modules, 'numba imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("target,problem", [("evolve.problems.spot:SpotSingleProblem",
                                             "spot_single"),
                                            ("evolve.problems.spot:SpotMultiProblem",
                                             "spot_multi")])
def test_the_spot_panel_found_knows_its_problem(target, problem):
    # a real row of the shipped baseline table: only the right problem name fills its columns
    from evolve.problems.spot.panel import _table

    sets = _table()["problems"][problem]["splits"]["train"]
    set_name, scenarios = next(iter(sets.items()))
    scenario, row = next(iter(scenarios.items()))
    metrics = {f"cost/{scenario}": row["optimum"] * 1.5, f"bound/{scenario}": row["optimum"]}
    stored = [{"split": "train", "set": set_name, "score": -1.0, "metrics": metrics}]
    hook = panel_hook(_run(target))  # type: ignore[arg-type]
    assert hook is not None
    tables = hook(metrics, stored)
    assert tables == problem_class(_run(target)).panel(metrics, stored)  # type: ignore[union-attr,arg-type]
    first = tables[0]["rows"][0]
    assert first[-3:-1] == [row["greedy"], row["uniform_progress"]]
