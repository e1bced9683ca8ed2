"""Parity of the spot simulator with the published one (ADRS / sky_spot) on the published suites.

Reference averages were measured by running the published simulator on the same windows
(tests/data/spot_published_reference.md says how). They are given in cents, so greedy and Uniform
Progress must land within half a cent.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from evolve.evaluators import spot
from evolve.problems.spot import SpotMultiProblem, SpotSingleProblem

_REFERENCE = json.loads((Path(__file__).parent / "data" / "spot_published_reference.json")
                        .read_text())["costs"]
PUBLISHED = {(suite, policy): cost for suite, costs in _REFERENCE.items()
             for policy, cost in costs.items()}
HALF_CENT = 0.005 + 1e-9  # the reference is rounded to cents


def _problem(suite: str, published: bool):
    cfg = {"published_accounting": published, "report_optimum": False}
    if suite == "multi":
        return SpotMultiProblem(cfg)
    return SpotSingleProblem({**cfg, "suite": suite})


def _mean_cost(problem, policy) -> float:
    """The suite's score rule on the test split (jobs for single, scenario means for multi)."""
    disp = spot.compile_policy(policy)
    per_scenario, costs = [], []
    for iset in problem.instance_sets("test"):
        _, _, stats = spot.run_policy(iset.data, disp, problem.sim)
        assert (stats[:, spot.ST_STATUS] == 0).all()
        costs.append(stats[:, spot.ST_COST])
        per_scenario.append(stats[:, spot.ST_COST].mean())
    return float(np.mean(per_scenario) if problem.weighting == "scenario"
                 else np.concatenate(costs).mean())


@pytest.mark.parametrize("suite,policy", sorted(PUBLISHED))
def test_published_parity(suite, policy):
    p = _problem(suite, published=True)
    got = _mean_cost(p, p.policies[policy])
    ref = PUBLISHED[suite, policy]
    assert abs(got - ref) <= HALF_CENT, (suite, policy, got, ref)


def test_suite_sizes():
    assert sum(s.size for s in _problem("leaderboard", False).instance_sets("test")) == 1080
    assert sum(s.size for s in _problem("paper", False).instance_sets("test")) == 1080
    multi = _problem("multi", False).instance_sets("test")
    assert [s.size for s in multi] == [8, 8, 6, 6, 4, 2]


@pytest.mark.parametrize("suite", ["leaderboard", "paper"])
def test_single_region_fix_changes_nothing(suite):
    """The published quirks are multi-region only: single-region costs are identical."""
    for policy in ("greedy", "uniform_progress"):
        a = _mean_cost(_problem(suite, True), _problem(suite, True).policies[policy])
        b = _mean_cost(_problem(suite, False), _problem(suite, False).policies[policy])
        assert a == pytest.approx(b, abs=1e-9)


def test_multi_region_fix_changes_costs():
    """Billing at the region actually used (per-tick price) and paid region moves change the
    multi-region averages; both accountings stay within a few dollars."""
    for policy in ("greedy", "uniform_progress"):
        pub = _mean_cost(_problem("multi", True), SpotMultiProblem.policies[policy])
        fix = _mean_cost(_problem("multi", False), SpotMultiProblem.policies[policy])
        assert pub != pytest.approx(fix, abs=1e-6)
        assert abs(pub - fix) < 5.0


def test_default_model_never_misses_a_deadline():
    """The strong guarantee forces on-demand in time, whatever the policy does."""
    def coin(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type, last_type,
             region, avail, price, mem):
        # a deterministic pseudo-random policy: hash of the tick and a per-job seed in mem
        if mem[0] == 0.0:
            mem[0] = 1.0 + (job * 7.0 + deadline * 3.0 + price[0] * 1e4) % 97.0
        h = int(elapsed / gap * 2654435761.0 + mem[0] * 40503.0) % 1000
        return h % 3, (h // 3) % avail.shape[0]

    disp = spot.compile_policy(coin)
    for suite in ("leaderboard", "paper", "multi"):
        p = _problem(suite, False)
        for iset in p.instance_sets("test"):
            _, _, st = spot.run_policy(iset.data, disp, p.sim)
            assert st[:, spot.ST_MISS].sum() == 0, (suite, iset.name)
            assert (st[:, spot.ST_STATUS] == 0).all()


def spot_or_wait(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type, last_type,
                 region, avail, price, mem):
    return (1 if avail[region] == 1 else 0), region


def test_published_safety_net_misses_deadlines_the_default_does_not():
    """The published guarantee keys on the type before a preemption: spot lost in the critical
    zone turns into an idle tick and the job ends late. The default model keeps the deadline."""
    disp = spot.compile_policy(spot_or_wait)
    misses = {}
    for flag in (False, True):
        p = SpotSingleProblem({"published_safety_net": flag, "report_optimum": False})
        misses[flag] = sum(spot.run_policy(s.data, disp, p.sim)[2][:, spot.ST_MISS].sum()
                           for s in p.instance_sets("test"))
    assert misses[False] == 0 and misses[True] > 0
