"""Reference values for instance sets: exact where it is affordable, iterated local search beyond.

Unweighted integer data: Lawler's decomposition (exact; solves the published n <= 500 sets) with
a memo budget, ILS when the budget runs out. Weighted data (strongly NP-hard): subset DP up to
`dp_max_n` jobs, ILS beyond. Non-integer data: subset DP or ILS.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from . import rules
from .exact import UNSOLVED, lawler_value, subset_dp_value
from .instances import Instances
from .localsearch import ils

log = logging.getLogger(__name__)

DEFAULTS = {
    "exact_max_n": 500,  # Lawler is tried up to this size (unweighted integer data)
    "memo_budget": 4_000_000,  # Lawler states before giving up on an instance (~ a few 100 MB)
    "dp_max_n": 20,  # subset DP (2^n states) for weighted or non-integer data
    "ils_iterations_per_job": 20,
    "ils_window": 32,
    "seed": 0,
}


def solve_one(p: np.ndarray, d: np.ndarray, w: np.ndarray, weighted: bool,
              integral: bool, opts: dict) -> tuple[float, bool]:
    """(reference value, proven optimal) of one instance."""
    n = p.size
    if not weighted and integral and n <= opts["exact_max_n"]:
        v = lawler_value(p, d, int(opts["memo_budget"]))
        if v != UNSOLVED:
            return float(v), True
    if n <= opts["dp_max_n"]:
        return float(subset_dp_value(p, d, w if weighted else np.ones(n))), True
    ww = w if weighted else np.ones(n)
    best_v = np.inf
    for start in (rules.mdd(p, d, ww), rules.atc(p, d, ww)):
        v, _ = ils(p, d, ww, start, int(opts["ils_iterations_per_job"] * n), int(opts["seed"]),
                   min(n, int(opts["ils_window"])))
        if v < best_v:
            best_v = v
    return float(best_v), False


def solve(inst: Instances, opts: dict | None = None, only_missing: bool = True) -> Instances:
    """`inst` with references filled in (those already known are kept when `only_missing`)."""
    o = {**DEFAULTS, **(opts or {})}
    ref = inst.ref.copy()
    exact = inst.ref_exact.copy()
    integral = inst.is_integral()
    t0 = time.perf_counter()
    todo = [i for i in range(inst.m) if not (only_missing and np.isfinite(ref[i]))]
    for count, i in enumerate(todo, 1):
        p, d, w = inst.arrays(i)
        ref[i], exact[i] = solve_one(p, d, w, inst.weighted, integral, o)
        if count % 50 == 0:
            log.info("smtt references %s: %d/%d (%.0f s)", inst.source, count, len(todo),
                     time.perf_counter() - t0)
    return inst.with_refs(ref, exact)
