"""Every shipped problem declares whether the same program always gets the same score."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolve.config import problem_config
from evolve.problem import make_problem

CONF = Path(__file__).resolve().parents[1] / "evolve/conf/problem"
EXPECTED = {"smtt": True, "smtt_weighted": True, "spot_single": True, "spot_multi": True,
            "moe_placement": False}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_problem_declares_determinism(name):
    problem = make_problem(problem_config(name))
    assert problem.deterministic is EXPECTED[name]
    # deterministic exactly when nothing is timed: a measured runtime is what varies
    assert (problem.timed_calls == 0) is problem.deterministic


def test_the_adapters_promise_no_determinism():
    # an OpenEvolve/Shinka evaluator is the user's code: it may sample or time the program
    from evolve.problems.openevolve.problem import OpenEvolveProblem
    from evolve.problems.shinka.problem import ShinkaProblem

    assert OpenEvolveProblem.deterministic is False and ShinkaProblem.deterministic is False


def test_every_shipped_problem_is_listed():
    shipped = {p.stem for p in CONF.glob("*.yaml") if not p.stem.startswith("_")}
    assert shipped == set(EXPECTED) | {"openevolve", "shinka"}
