"""A candidate must not see what it is scored on before it has answered: the references, the
MoE window that scores a placement, a spot trace's future (on any job's clock).

Each problem streams its sets (evolve/episode.py): the child gets one round of visible inputs at
a time and keeps nothing it inherited from the worker. The attack (tests/hostile/lookahead.py,
appended to an honest seed) searches its own process (frames, gc, the engine's loaders and
caches) and the problems' data files; it must find nothing and therefore score exactly what the
honest seed scores. Without streaming it finds the sets and the scores differ (the MoE attack
then places for the window that scores it, at the oracle's balancedness).
The clock tests check the spot feed's order itself, in-process: every observation of a round is
of one tick of the shared trace clock, and that tick only grows.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from evolve.config import problem_config
from evolve.evaluator import Evaluator
from evolve.evaluators import spot, spot_sim
from evolve.problem import make_problem
from evolve.problems.moe_placement.problem import planning_order
from evolve.problems.spot import data as spot_data
from evolve.sandbox import Limits

REPO = Path(__file__).resolve().parents[1]
ATTACK = (REPO / "tests" / "hostile" / "lookahead.py").read_text()

WRAP = {
    "smtt": ("mdd", '''
import numba as _numba
_honest = _numba.njit(schedule)


def schedule(p, d):
    if _hidden():
        return _honest(p, d)[::-1].copy()  # anything found: a visibly different schedule
    return _honest(p, d)
'''),
    "moe_placement": ("deepseek", '''
_honest = rebalance_experts


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    for _what, obj in _hidden():
        series = obj if type(obj).__name__ == "Series" else None
        for i, j in getattr(series, "pairs", ()):
            if series.loads[i].shape == weight.shape and (series.loads[i] == weight).all():
                # place for the window that will score this placement
                return _honest(series.loads[j], num_replicas, num_groups, num_nodes, num_gpus)
    return _honest(weight, num_replicas, num_groups, num_nodes, num_gpus)
'''),
    "spot_multi": ("up_global", '''
import numba as _numba
_honest = _numba.njit(decide)


def decide(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type, last_type,
           region, avail, price, mem):
    if _hidden():
        return 2, region  # anything found: on-demand, a visibly different cost
    return _honest(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type,
                   last_type, region, avail, price, mem)
'''),
}
CASES = [("smtt", "train"), ("moe_placement", "test"), ("spot_multi", "train")]


def _attack(problem: str) -> tuple[str, str]:
    seed, wrapper = WRAP[problem]
    honest = (REPO / "seeds" / problem / f"{seed}.py").read_text()
    return honest, honest + "\n" + ATTACK + wrapper


def _quality(problem: str, metrics: dict) -> float:
    key = {"smtt": "mean_gap_pct", "moe_placement": "balancedness_gpu",
           "spot_multi": "mean_cost"}[problem]
    return metrics[key]


@pytest.mark.parametrize("problem,split", CASES, ids=[p for p, _ in CASES])
def test_the_attack_finds_nothing_and_scores_what_the_honest_seed_scores(problem, split):
    honest, attack = _attack(problem)
    with Evaluator(problem_config(problem), Limits(timeout_s=300, memory_mb=4096),
                   workers=1) as ev:
        got = asyncio.run(ev.evaluate(attack, split=split))
        ref = asyncio.run(ev.evaluate(honest, split=split))
    assert got.ok and ref.ok, (got.error, ref.error)
    assert "lookahead: nothing" in got.output, got.output[-2000:]
    # the attack ran as Python, with every introspection at hand (MoE's entry always does)
    assert got.compile_fallback or problem == "moe_placement"
    assert _quality(problem, got.metrics) == _quality(problem, ref.metrics)


def _spot_rounds(problem: str, split: str):
    """Drive the spot feed with an honest policy; per round, each row's (window, tick, clock)."""
    prob = make_problem(problem_config(problem))
    isets = prob.instance_sets(split)
    merged = spot.merge([s.data for s in isets])
    feed = prob.feed(isets)
    policy = spot.compile_policy(next(iter(prob.policies.values())))
    mem = np.zeros((merged.n, spot.MEM_SIZE))
    rounds = []
    try:
        inputs = next(feed)
        while True:
            rf, ri = inputs["rf"], inputs["ri"]
            rows = []
            for j in range(ri.shape[0]):
                w = int(merged.inst_win[ri[j, spot_sim.RI_JOB]])
                tick = int(round(rf[j, 0] / merged.win_gap[w]))
                rows.append((w, tick, tick + int(merged.win_start[w])))
            rounds.append(rows)
            props = np.zeros((ri.shape[0], 2), np.int64)
            spot_sim.propose_nb(policy, ri.shape[0], rf, ri, mem, props)
            inputs = feed.send({"p": props})
    except StopIteration as end:
        return isets, rounds, end.value


@pytest.mark.parametrize("problem,split", [("spot_single", "train"), ("spot_multi", "train"),
                                           ("spot_single", "test")])
def test_every_spot_round_is_one_tick_of_the_shared_clock(problem, split):
    prob = make_problem(problem_config(problem))
    isets, rounds, outputs = _spot_rounds(problem, split)
    clocks = [{clock for *_, clock in rows} for rows in rounds]
    assert all(len(c) == 1 for c in clocks)  # one tick of the clock per round
    ticks = [c.pop() for c in clocks]
    assert ticks == sorted(ticks) and len(set(ticks)) == len(ticks)  # it only grows
    # and the proposals streamed this way are the in-process run's, to the last tick
    for iset, out in zip(isets, outputs):
        policy = spot.compile_policy(next(iter(prob.policies.values())))
        actions, regions, _ = spot.run_policy(iset.data, policy, prob.sim, True)
        assert np.array_equal(out["actions"], actions)
        assert np.array_equal(out["regions"], regions)


def test_windows_of_one_trace_keep_their_offsets_on_the_clock():
    # overlapping windows run in step (offset differences kept), separate groups start at 0
    starts = spot_data.clock_starts([100, 150, 1000, 400, 2000], [100, 300, 50, 10, 5])
    assert starts.tolist() == [0, 50, 0, 300, 0]
    # the ADRS multi-region windows' recorded start times agree with their clock offsets
    assert spot_data.MULTI_CLOCK[29] - spot_data.MULTI_CLOCK[16] == 10  # 32.5 min / 195 s


def test_a_test_pair_is_placed_before_its_scoring_table_is_anyones_input():
    prob = make_problem(problem_config("moe_placement"))
    series = [s.data for s in prob.instance_sets("test")]
    order = planning_order(series)
    seen = set()
    for s, k in order:
        plan, score = (series[s].labels[i] for i in series[s].pairs[k])
        assert score not in seen or score == plan  # never scored on a table it was shown
        seen.add(plan)
    assert sorted(order) == [(s, 0) for s in range(len(series))]


def test_pairs_that_score_each_other_are_refused():
    from evolve.problem import ProblemError
    from evolve.problems.moe_placement.workloads import Series

    a, b = np.ones((1, 2, 4)), np.full((1, 2, 4), 2.0)
    both = np.concatenate([a, b])
    one = Series("a->b", both, ("a", "b"), np.arange(2), ((0, 1),))
    other = Series("b->a", both[::-1].copy(), ("b", "a"), np.arange(2), ((0, 1),))
    with pytest.raises(ProblemError, match="cycle"):
        planning_order([one, other])
    # the same pairs, one scored in-sample: no cycle, the in-sample one goes first or last freely
    same = Series("a->a", np.concatenate([a, a]), ("a", "a"), np.arange(2), ((0, 1),))
    assert sorted(planning_order([one, same])) == [(0, 0), (1, 0)]
