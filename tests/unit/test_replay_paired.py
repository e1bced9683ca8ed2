"""The paired comparison behind `evolve-replay` (evolve/cli/replay_paired.py), in process."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from evolve.cli.replay_paired import compare, fmt, over_sets, paired
from evolve.result import EvalResult


def test_mean_difference_and_its_interval_are_the_paired_t_ones():
    rng = np.random.default_rng(3)
    a = rng.normal(2.0, 1.0, 200)
    b = a + rng.normal(0.3, 0.5, 200)  # the program is better by about 0.3 (lower is better)
    p = paired(a.tolist(), b.tolist(), lower_is_better=True)
    assert p is not None and p.n == 200
    want = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert p.mean == pytest.approx(float(np.mean(a - b)))
    assert (p.low, p.high) == (pytest.approx(want.low), pytest.approx(want.high))
    assert p.better == int(np.sum(a < b)) and p.worse == int(np.sum(a > b)) and p.ties == 0
    flipped = paired(a.tolist(), b.tolist(), lower_is_better=False)
    assert flipped is not None and (flipped.better, flipped.worse) == (p.worse, p.better)


def test_undefined_values_leave_their_pair_out_and_ties_are_counted():
    p = paired([1.0, None, 3.0, 5.0, float("nan")], [1.0, 2.0, 2.0, 6.0, 4.0], True)
    assert p is not None and p.n == 3
    assert (p.better, p.worse, p.ties) == (1, 1, 1)
    assert p.mean == pytest.approx(0.0)
    assert paired([None, None], [1.0, 2.0], True) is None  # nothing to pair
    assert paired([1.0, 2.0], [1.0], True) is None  # sets that do not line up
    one = paired([1.0], [2.0], True)
    assert one is not None and one.n == 1 and math.isinf(one.high) and fmt(one) == "-1"


def test_over_sets_weighs_every_set_the_same_and_combines_their_errors():
    rng = np.random.default_rng(5)
    sets = [(rng.normal(0, 1, n), rng.normal(0.2, 1, n)) for n in (800, 200)]
    pairs = [paired(a.tolist(), b.tolist(), True) for a, b in sets]
    assert all(pairs)
    whole = over_sets([p for p in pairs if p])
    assert whole is not None and whole.n == 1000
    assert whole.mean == pytest.approx((pairs[0].mean + pairs[1].mean) / 2)
    se = math.sqrt(pairs[0].se ** 2 + pairs[1].se ** 2) / 2
    assert whole.high - whole.mean == pytest.approx(1.959964 * se, rel=1e-5)


def test_compare_pairs_sets_by_name_and_skips_failed_baselines():
    mine = EvalResult("ok", sets=[{"name": "a", "per_instance": [1.0, 2.0, 3.0]},
                                  {"name": "b", "per_instance": [1.0, 1.0]}])
    base = {"same": EvalResult("ok", sets=[{"name": "b", "per_instance": [1.0, 1.0]},
                                           {"name": "a", "per_instance": [1.0, 2.0, 3.0]}]),
            "partial": EvalResult("ok", sets=[{"name": "a", "per_instance": [2.0, 3.0, 4.0]}]),
            "broken": EvalResult.failure("runtime_error", "boom")}
    out = compare(mine, base, lower_is_better=True)
    assert set(out) == {"same", "partial"}
    per_set, whole = out["same"]
    assert [p.ties if p else None for p in per_set] == [3, 2] and whole is not None
    assert whole.mean == 0.0
    per_set, whole = out["partial"]
    assert per_set[0] is not None and per_set[0].mean == pytest.approx(-1.0)
    assert per_set[1] is None and whole is None  # set b has no pair: no over-sets figure
