"""Built-in proposer on the real smtt problem: its seeds' children run, ATC's k is recovered."""

from __future__ import annotations

import re

import numpy as np
import pytest

from evolve.problem import make_problem
from evolve.proposers.builtin.lifting import lift
from evolve.proposers.builtin.proposer import DEFAULTS, BuiltinProposer, _parse
from evolve.proposers.builtin.tuning import Objective, tuning_sets
from evolve.result import evaluate_in_process
from tests.builtin_toys import FakeSandbox, context, info, propose, view

smtt = pytest.importorskip("evolve.problems.smtt")


@pytest.fixture(scope="module")
def problem():
    p = make_problem({"name": "smtt", "target": "evolve.problems.smtt:SmttProblem"})
    p.warm_up()
    return p


def seed(problem, name: str) -> str:
    return problem.seed_path(name).read_text()


def atc(problem, k: float) -> str:
    """ATC in the seeds' dispatch loop: lower v runs first, so v is minus ATC's index."""
    return seed(problem, "mdd").replace(
        "v = d_j - min(slack, 0.0)",
        f"v = -np.exp(-max(slack, 0.0) / ({k!r} * p_left / n_left)) / p_j")


@pytest.mark.parametrize("name", ["edd", "mdd"])
def test_children_of_the_seeds_compile_and_evaluate(problem, name):
    code = seed(problem, name)
    bp = BuiltinProposer({}, info(problem))
    results = []
    for s in range(6):
        prop = propose(bp, context(view(1, code), s, problem))
        r = evaluate_in_process(problem, prop.code, "train", sets=problem.gate_sets())
        results.append((prop.operator, r.status, r.compile_fallback))
    assert all(status == "ok" and not fallback for _, status, fallback in results), results


def test_nested_block_tunes_with_one_compile(problem):
    """The seeds' block sits inside the fixed entry: the entry gains `_theta` for tuning."""
    src, facts = _parse(atc(problem, 2.0), "schedule")
    lifted = lift(src, facts, "schedule", np.random.default_rng(0), 6)
    assert lifted.x0 == [2.0] and "def schedule(p, d, _theta):" in lifted.theta_code
    sets, split = tuning_sets(problem, "gate", None)
    obj = Objective(problem, {"entry": "schedule", "template": lifted.template,
                              "theta_code": lifted.theta_code}, sets, split)
    assert obj([2.0]) == evaluate_in_process(problem, atc(problem, 2.0), sets=sets).score
    assert obj.mode == "theta"


def test_tuning_recovers_atc_k_found_by_grid_search(problem):
    src, facts = _parse(atc(problem, 6.0), "schedule")
    lifted = lift(src, facts, "schedule", np.random.default_rng(0), 6)
    sets, split = tuning_sets(problem, "gate", None)
    obj = Objective(problem, {"entry": "schedule", "template": lifted.template,
                              "theta_code": lifted.theta_code}, sets, split)
    grid = np.round(np.geomspace(0.1, 10.0, 50), 4)
    scores = [obj([k]) for k in grid]
    best = max(scores)
    assert best > obj([6.0]) + 0.5  # k = 6 is clearly off

    weights = {k: 0.0 for k in DEFAULTS["operators"]}
    weights["cmaes"] = 1.0
    bp = BuiltinProposer({"builtin": {"operators": weights,
                                      "tune": {"sets": "gate", "max_evals": 96}}}, info(problem))
    prop = propose(bp, context(view(1, atc(problem, 6.0), score=-100.0), 0, problem,
                               sandbox=FakeSandbox(problem)))
    assert (prop.proposer, prop.failure) == ("tune", None), prop.error
    tuned = evaluate_in_process(problem, prop.code, sets=sets).score
    # the gap is rugged in k (grid: 0.66 -> 4.12 %, 0.87 -> 5.0 %, 1.26 -> 9.2 %)
    assert tuned >= best - 0.1, (tuned, best, grid[int(np.argmax(scores))], prop.diff)


def mdd_children(problem, count: int = 8, **cfg) -> list:
    """Children of the MDD seed by xo_append alone (no inspirations: the mates are the seeds)."""
    weights = {k: 0.0 for k in DEFAULTS["operators"]}
    weights["xo_append"] = 1.0
    bp = BuiltinProposer({"builtin": {"operators": weights, **cfg}}, info(problem))
    return [propose(bp, context(view(1, seed(problem, "mdd")), s, problem)) for s in range(count)]


def test_seeds_are_mates_so_mdd_can_take_mddcs_long_job_factor(problem):
    """With no inspirations, xo_append still mates with the packaged seeds: MDD gains MDDC's
    multiplicative factor (with the `m` it reads), the child compiles, the diff names the seed."""
    children = mdd_children(problem, gate_prob=0.0)
    factor = [c for c in children if c.code and "v *= 1.0 + m * m / (1.0 + m * m)" in c.code]
    assert factor, [c.error for c in children]
    c = factor[0]
    assert c.proposer == "crossover" and c.mates == [] and "(mate: seed:mddc)" in c.diff
    assert "m = min(p_j / (t + p_max), 1.0)" in c.code
    r = evaluate_in_process(problem, c.code, "train", sets=problem.gate_sets())
    assert r.status == "ok" and not r.compile_fallback
    assert mdd_children(problem, 1, seed_mates=False)[0].proposer != "crossover"


def test_gated_transplant_weights_mddcs_factor_by_the_instance_size(problem):
    """With gate_prob=1 the factor MDD takes from MDDC acts through a ramp in a size (`n` or
    `n_left`, never a loop counter or a job id), and the child still compiles with numba."""
    children = mdd_children(problem, gate_prob=1.0)
    gated = [c for c in children if c.code and "* (m * m / (1.0 + m * m))" in c.code]
    assert gated, [c.error for c in children]
    for c in gated:
        line = next(ln.strip() for ln in c.code.splitlines() if "* (m * m" in ln)
        assert re.fullmatch(r"v \*= 1\.0 \+ (min\((n|n_left) / [0-9.]+, 1\.0\)|"
                            r"max\(1\.0 - (n|n_left) / [0-9.]+, 0\.0\)) \* \(m \* m / "
                            r"\(1\.0 \+ m \* m\)\)", line), line
    r = evaluate_in_process(problem, gated[0].code, "train", sets=problem.gate_sets())
    assert r.status == "ok" and not r.compile_fallback
