"""Tick simulator of the Can't-Be-Late spot model (SkyPilot `sky_spot`, as used by ADRS).

One Python source, two builds: `simulate_nb` (numba, explicit signature, cached) and
`simulate_py` (the same function run by CPython: the plain-Python twin used as the fallback for
candidates numba cannot compile, and by the benchmark).

Per tick t of a job (all times in seconds; gap = tick length of the trace):
1. observe: the type that ran during [t-1, t) (`last`) earns progress gap minus any pending
   restart overhead; a spot instance whose region has no spot at t is preempted (`cur` = NONE).
2. the policy proposes (action, region) for [t, t+1); the proposal is recorded.
3. strong guarantee: when ceil((left + d) / gap) ticks no longer fit before the deadline, the
   simulator forces ON_DEMAND (or keeps a running, overhead-free spot instance).
4. SPOT in a region without spot becomes NONE; a change to a running type (or, by default, a
   region change while running) sets the pending overhead; the tick is billed at the price of the
   region actually used.
The job ends at the first tick where no work is left (that tick's proposal is recorded but not run).

`flags` reproduce the published simulator for parity only:
PUB_PRICING  bill every spot tick at the first-tick price of the region the job ends in;
PUB_SWITCH   region switches are free (spot-to-spot moves pay no overhead), forced
             decisions keep the policy's region;
PUB_SAFETY   the guarantee keeps spot when the type *before* preemption was spot (the request then
             turns into NONE and the job can end late);
OBS_ALL      the policy sees the availability of every region (else -1 outside its own).
NO_GUARANTEE switches the strong guarantee off (tests of the optimum only: deadlines can be missed).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types

NONE, SPOT, ON_DEMAND = 0, 1, 2
PUB_PRICING, PUB_SWITCH, PUB_SAFETY, OBS_ALL, NO_GUARANTEE = 1, 2, 4, 8, 16
MEM_SIZE = 16

# stats columns (one row per job)
ST_COST, ST_TICKS, ST_STATUS, ST_FORCED, ST_SPOT, ST_OD, ST_IDLE = 0, 1, 2, 3, 4, 5, 6
ST_RESTARTS, ST_MISS, ST_BAD_TICK, ST_BAD_ACTION, ST_BAD_REGION, ST_REGION = 7, 8, 9, 10, 11, 12
N_STATS = 13
# status codes
OK, INVALID, MISSING, EXHAUSTED = 0, 1, 2, 3

_f8, _i8 = types.float64, types.int64
POLICY_SIG = types.UniTuple(_i8, 2)(
    _f8, _f8, _f8, _f8, _f8, _f8, _f8, _i8, _i8, _i8, types.int64[::1], types.float64[::1],
    types.float64[::1],
)
POLICY_TYPE = types.FunctionType(POLICY_SIG)
SIM_SIG = types.void(
    POLICY_TYPE, types.boolean,
    types.int8[:, :, ::1], types.float64[:, :, ::1],
    types.int64[::1], types.int64[::1], types.float64[::1],
    types.int64[::1], types.float64[::1], types.float64[::1], types.float64[::1],
    types.float64[::1],
    types.float64, types.int64,
    types.int16[:, ::1], types.int16[:, ::1], types.float64[:, ::1],
)


def _simulate(policy, use_policy, avail, prices, win_ticks, win_regions, win_gap,
              inst_win, work, deadline, overhead, switch_overhead, od_price, flags,
              rec_action, rec_region, stats):
    """Simulate every job i; with use_policy call `policy`, else replay rec_action/rec_region.

    avail (n_win, H, R) int8 1 = spot available; prices (n_win, H, R) spot $/h;
    win_* (n_win,): ticks, regions, gap seconds; per job (n,): window, work, deadline, overhead,
    region-switch overhead (seconds); rec_* (n, L) int16 proposals (-1 = none); stats (n, N_STATS).
    """
    n = inst_win.shape[0]
    cap = rec_action.shape[1]
    pub_price = (flags & PUB_PRICING) != 0
    pub_switch = (flags & PUB_SWITCH) != 0
    pub_safety = (flags & PUB_SAFETY) != 0
    obs_all = (flags & OBS_ALL) != 0
    guard = (flags & NO_GUARANTEE) == 0
    for i in range(n):
        w = inst_win[i]
        n_ticks = win_ticks[w]
        n_reg = win_regions[w]
        gap = win_gap[w]
        job = work[i]
        dl = deadline[i]
        d = overhead[i]
        ds = switch_overhead[i]
        tick_h = gap / 3600.0
        obs_av = np.zeros(n_reg, np.int64)
        obs_pr = np.zeros(n_reg, np.float64)
        mem = np.zeros(MEM_SIZE, np.float64)
        done = 0.0
        pending = 0.0
        region = 0
        prev_req = NONE
        cost = 0.0
        n_spot = 0
        n_od = 0
        n_idle = 0
        forced = 0
        restarts = 0
        status = OK
        bad_t = -1
        a = 0
        rg = 0
        t = 0
        left = job
        while True:
            has = 0
            if t < n_ticks:
                has = avail[w, t, region]
            last = prev_req
            cur = last
            if cur == SPOT and has == 0:
                cur = NONE  # preempted: observed now, the previous tick still ran
            if last != NONE:
                prog = gap - pending
                if prog < 0.0:
                    prog = 0.0
                pending -= gap - prog
                if pending < 1e-3:
                    pending = 0.0
                if prog > job - done:
                    prog = job - done
                done += prog
            left = job - done
            if t >= cap:
                status = MISSING
                bad_t = t
                break
            if use_policy:
                tt = t if t < n_ticks else n_ticks - 1
                for r in range(n_reg):
                    obs_pr[r] = prices[w, tt, r]
                    if t >= n_ticks:
                        obs_av[r] = 0
                    elif obs_all or r == region:
                        obs_av[r] = avail[w, t, r]
                    else:
                        obs_av[r] = -1
                a, rg = policy(t * gap, gap, dl, job, left, d, pending, cur, last, region,
                               obs_av, obs_pr, mem)
                a = int(a)
                rg = int(rg)
                rec_action[i, t] = max(-32768, min(32767, a))
                rec_region[i, t] = max(-32768, min(32767, rg))
            else:
                a = rec_action[i, t]
                rg = rec_region[i, t]
                if a == -1 and rg == -1:
                    status = MISSING
                    bad_t = t
                    break
            if a < 0 or a > 2 or rg < 0 or rg >= n_reg:
                status = INVALID
                bad_t = t
                break
            if left <= 1e-8:
                if pub_price:
                    region = rg  # the published policy moves region even at its last call
                break
            if t >= n_ticks:
                status = EXHAUSTED
                break
            req = a
            new_region = rg
            rem_time = math.floor((dl - t * gap) / gap) * gap
            if guard and left > 1e-3:
                need = math.ceil((left + d) / gap) * gap
                if need >= rem_time:
                    keep_spot = pending < 1e-3 and ((pub_safety and last == SPOT)
                                                    or (not pub_safety and cur == SPOT))
                    forced_type = SPOT if keep_spot else ON_DEMAND
                    if not pub_switch:
                        new_region = region
                    if req != forced_type or new_region != rg:
                        forced += 1
                    req = forced_type
            if req == SPOT and avail[w, t, new_region] == 0:
                req = NONE
            if req != NONE:
                if cur != req:
                    pending = d
                    restarts += 1
                    if new_region != region and cur != NONE and not pub_switch and ds > d:
                        pending = ds
                elif new_region != region and not pub_switch:
                    pending = ds
                    restarts += 1
            if req == SPOT:
                n_spot += 1
                cost += prices[w, t, new_region] * tick_h
            elif req == ON_DEMAND:
                n_od += 1
                cost += od_price * tick_h
            else:
                n_idle += 1
            region = new_region
            prev_req = req
            t += 1
        if pub_price:
            cost = n_spot * (prices[w, 0, region] * tick_h) + n_od * (od_price * tick_h)
        if status == EXHAUSTED:
            # unfinished work at on-demand price, flagged as a miss
            cost += left / 3600.0 * od_price
        if status == INVALID or status == MISSING:
            cost = np.inf
        row = stats[i]
        row[ST_COST] = cost
        row[ST_TICKS] = t
        row[ST_STATUS] = status
        row[ST_FORCED] = forced
        row[ST_SPOT] = n_spot
        row[ST_OD] = n_od
        row[ST_IDLE] = n_idle
        row[ST_RESTARTS] = restarts
        row[ST_MISS] = 1.0 if (status == EXHAUSTED or t * gap > dl + 1e-6) else 0.0
        row[ST_BAD_TICK] = bad_t
        row[ST_BAD_ACTION] = a
        row[ST_BAD_REGION] = rg
        row[ST_REGION] = region


simulate_py = _simulate
simulate_nb = numba.njit(SIM_SIG, cache=True)(_simulate)


@numba.njit(POLICY_SIG, cache=True)
def replay_stub(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type, last_type,
                region, avail, price, mem):
    """Placeholder policy for replay runs (never called when use_policy is False)."""
    return NONE, region
