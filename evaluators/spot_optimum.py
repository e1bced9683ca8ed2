"""Omniscient optimum of the spot model: the cheapest schedule knowing the whole trace.

A schedule is a set of runs (maximal blocks of ticks on one instance: on-demand, or spot in one
region while it stays available). A run of L ticks yields L*gap - o seconds of work, o = the
restart overhead it pays; the tick in which the job completes is billed in full. Dynamic
programme over ticks t, progress q (in units u = gcd(gap, o), so it is exact for the traces
here) and the instance running (idle / on-demand / spot in region r): each run is charged its
overhead when it starts, which makes progress additive.

It lower-bounds every policy of `spot_sim` under the default accounting: a policy's trajectory
maps onto a DP trajectory with the same cost (runs cut before their overhead is paid are
replaced by idling, which is cheaper and loses no progress), and the DP ignores the strong
guarantee's restrictions. With a region-switch overhead different from d, every start is charged
min(d, switch overhead), which keeps the bound valid.
"""

from __future__ import annotations

import math

import numba
import numpy as np

MAX_WIDTH = 20000  # progress cells per tick band; coarser units above this (bound stays valid)


@numba.njit(cache=True)
def _optimum_one(avail, prices, n_reg, n_ticks, g, o, wq, horizon, tick_h, od_price):
    """Min cost for one job. avail/prices (H, R); progress unit quantities g, o, wq (ints)."""
    n_states = n_reg + 2  # 0 idle, 1 on-demand, 2 + r spot in region r
    size = wq + o + 1  # index = q + o, q in [-o, wq - 1]; q >= wq means done
    cur = np.full((n_states, size), np.inf)
    nxt = np.full((n_states, size), np.inf)
    cur[0, o] = 0.0
    lo, hi = 0, 0
    best = np.inf
    c_od = od_price * tick_h
    steps = min(horizon, n_ticks)
    for t in range(steps):
        nlo = max(lo + min(0, g - o), wq - (horizon - t - 1) * g, -o)
        nhi = min(hi + g, wq - 1)
        for s in range(n_states):
            for q in range(max(nlo, -o), nhi + 1):
                nxt[s, q + o] = np.inf
        for q in range(lo, hi + 1):
            k = q + o
            m = np.inf
            for s in range(n_states):
                if cur[s, k] < m:
                    m = cur[s, k]
            if m == np.inf:
                continue
            if nlo <= q <= nhi and m < nxt[0, k]:
                nxt[0, k] = m
            # on-demand: continue, or start (paying the overhead)
            for st in range(2):
                base = cur[1, k] if st == 0 else m
                tq = q + g if st == 0 else q + g - o
                val = base + c_od
                if val < np.inf:
                    if tq >= wq:
                        if val < best:
                            best = val
                    elif tq >= nlo and tq <= nhi and val < nxt[1, tq + o]:
                        nxt[1, tq + o] = val
            for r in range(n_reg):
                if avail[t, r] == 0:
                    continue
                c = prices[t, r] * tick_h
                for st in range(2):
                    base = cur[2 + r, k] if st == 0 else m
                    tq = q + g if st == 0 else q + g - o
                    val = base + c
                    if val < np.inf:
                        if tq >= wq:
                            if val < best:
                                best = val
                        elif tq >= nlo and tq <= nhi and val < nxt[2 + r, tq + o]:
                            nxt[2 + r, tq + o] = val
        cur, nxt = nxt, cur
        lo, hi = nlo, nhi
        if lo > hi:
            break
    return best


def progress_units(gap: float, overhead: float, job: float, deadline: float):
    """(g, o, wq) in a common unit; exact when gap and overhead are whole milliseconds."""
    ms_gap, ms_o = int(round(gap * 1000)), int(round(overhead * 1000))
    unit = math.gcd(ms_gap, ms_o) if ms_o > 0 else ms_gap
    width = (max(deadline - job, 0.0) + overhead) * 1000 / unit
    if width > MAX_WIDTH or abs(gap * 1000 - ms_gap) > 1e-6 or abs(overhead * 1000 - ms_o) > 1e-6:
        unit = max(1, math.ceil((max(deadline - job, 0.0) + overhead) * 1000 / MAX_WIDTH))
    # rounding in the job's favour (more progress, less overhead) keeps a lower bound
    g = math.ceil(gap * 1000 / unit - 1e-9)
    o = math.floor(overhead * 1000 / unit + 1e-9)
    wq = math.floor(job * 1000 / unit + 1e-9)
    return g, o, wq


def optimum_costs(batch, od_price: float) -> np.ndarray:
    """(n,) minimum cost of each job of a SpotBatch (inf when no schedule meets the deadline)."""
    out = np.empty(batch.n, np.float64)
    for i in range(batch.n):
        w = int(batch.inst_win[i])
        gap = float(batch.win_gap[w])
        o = min(float(batch.overhead[i]), float(batch.switch_overhead[i]))
        g, oq, wq = progress_units(gap, o, float(batch.work[i]), float(batch.deadline[i]))
        horizon = int(math.floor(float(batch.deadline[i]) / gap + 1e-9))
        out[i] = _optimum_one(batch.avail[w], batch.prices[w], int(batch.win_regions[w]),
                              int(batch.win_ticks[w]), g, oq, wq, horizon, gap / 3600.0, od_price)
    return out
