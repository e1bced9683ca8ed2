"""The omniscient optimum: exact on small traces, and never above any policy's cost."""

import itertools

import numpy as np
import pytest

from evolve.evaluators import spot
from evolve.evaluators.spot_optimum import progress_units
from evolve.problems.spot import SpotMultiProblem, SpotSingleProblem
from evolve.problems.spot import baselines as B


def _exhaustive(avail, prices, gap, job, deadline, d, cfg):
    """Cheapest cost over every action sequence (idle, on-demand, spot in r) replayed through
    the simulator, among those that meet the deadline."""
    T, R = avail.shape[1], avail.shape[2]
    opts = [(0, 0), (2, 0)] + [(1, r) for r in range(R)]
    seqs = np.array(list(itertools.product(range(len(opts)), repeat=T)))
    n = len(seqs)
    acts = np.zeros((n, T + 1), np.int16)
    regs = np.zeros((n, T + 1), np.int16)
    for k, (a, r) in enumerate(opts):
        acts[:, :T][seqs == k] = a
        regs[:, :T][seqs == k] = r
    b = spot.SpotBatch(avail, prices, [T], [R], [gap], np.zeros(n), np.full(n, job),
                       np.full(n, deadline), np.full(n, d), np.full(n, d), np.zeros(n), ("x",))
    st = spot.replay(b, acts, regs, cfg)
    ok = (st[:, spot.ST_STATUS] == 0) & (st[:, spot.ST_MISS] == 0)
    return st[ok, spot.ST_COST].min(), b.subset([0])


@pytest.mark.parametrize("seed", range(24))
def test_optimum_equals_exhaustive_search(seed):
    """Without the strong guarantee every action sequence is allowed, so the DP must match the
    exhaustive minimum exactly; with it, the DP is a lower bound."""
    rng = np.random.default_rng(seed)
    T, R, gap = 8, 2, 600.0
    avail = (rng.random((1, T, R)) < 0.6).astype(np.int8)
    prices = rng.uniform(0.5, 1.5, (1, T, R))
    d = float(rng.choice([0.0, 150.0, 300.0, 600.0, 900.0]))
    job = gap * int(rng.integers(2, 5))
    deadline = job + d + gap * int(rng.integers(1, 4))
    free, batch = _exhaustive(avail, prices, gap, job, deadline, d, spot.SimConfig(guarantee=False))
    guarded, _ = _exhaustive(avail, prices, gap, job, deadline, d, spot.SimConfig())
    opt = spot.optimum(batch)[0]
    assert opt == pytest.approx(free, abs=1e-9)
    assert opt <= guarded + 1e-9


def test_progress_units_are_exact_for_the_suites():
    for gap, d in ((600.0, 72.0), (600.0, 180.0), (600.0, 1440.0), (195.0, 720.0)):
        g, o, wq = progress_units(gap, d, 48 * 3600.0, 70 * 3600.0)
        unit = gap / g
        assert o * unit == pytest.approx(d) and wq * unit == pytest.approx(48 * 3600.0)


def _policies():
    def spot_or_wait(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type,
                     last_type, region, avail, price, mem):
        return (1 if avail[region] == 1 else 0), region

    def cheapest_region(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type,
                        last_type, region, avail, price, mem):
        best, p = region, 1e9
        for r in range(avail.shape[0]):
            if avail[r] == 1 and price[r] < p:
                best, p = r, price[r]
        return (1 if p < 1e9 else 2), best

    return [B.greedy, B.greedy_round_robin, B.uniform_progress, B.uniform_progress_global,
            B.uniform_progress_round_robin, spot_or_wait, cheapest_region]


@pytest.mark.parametrize("make", [
    lambda: SpotMultiProblem({"report_optimum": False}).instance_sets("test"),
    lambda: SpotMultiProblem({"region_switch_overhead_hours": 0.05}).instance_sets("validation"),
    lambda: SpotSingleProblem({"suite": "paper"}).instance_sets("test")[:1],
    lambda: SpotSingleProblem({}).instance_sets("validation")[:2],
])
def test_optimum_never_above_any_policy(make):
    cfg = spot.SimConfig()
    for iset in make():
        batch = iset.data
        if batch.n > 60:  # keep the runtime low: every third job of large sets
            batch = batch.subset(np.arange(0, batch.n, 3))
        opt = spot.optimum(batch)
        assert np.isfinite(opt).all()
        for pol in _policies():
            _, _, st = spot.run_policy(batch, spot.compile_policy(pol), cfg)
            assert (opt <= st[:, spot.ST_COST] + 1e-9).all(), (iset.name, pol.__name__)
