"""Tick simulator of the Can't-Be-Late spot model (SkyPilot `sky_spot`, as used by ADRS).

Every job of a batch advances on one clock: at round T a job on window w is at tick
t = T - win_start[w] (windows cut from one trace at different offsets share its clock, so no
job's past is another job's future). A round is three steps: `observe` (trusted: what each
running job's policy may see at its tick), `propose` (the policy's (action, region) per job) and
`apply` (trusted: the tick runs). `simulate_nb` does all three in one numba call (in-process runs
and the trusted replay); the sandbox splits them, the worker observing and applying
(evolve/problems/spot/problem.py: `feed`), the candidate's child proposing (`propose_nb`, or
its plain-Python twin `propose_py` for candidates numba cannot compile), so the child never holds
a trace.

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
# avail, prices, win_ticks, win_regions, win_gap, win_start
_WINDOWS = (types.int8[:, :, ::1], types.float64[:, :, ::1], types.int64[::1], types.int64[::1],
            types.float64[::1], types.int64[::1])
_JOBS = (types.int64[::1], types.float64[::1], types.float64[::1], types.float64[::1],
         types.float64[::1])  # inst_win, work, deadline, overhead, switch_overhead
SIM_SIG = types.void(
    POLICY_TYPE, types.boolean, *_WINDOWS, *_JOBS, types.float64, types.int64,
    types.int16[:, ::1], types.int16[:, ::1], types.float64[:, ::1],
)

# per-job state: floats, ints
FS_DONE, FS_PENDING, FS_COST, FS_LEFT = 0, 1, 2, 3
N_FS = 4
(JS_REGION, JS_PREV, JS_SPOT, JS_OD, JS_IDLE, JS_FORCED, JS_RESTARTS, JS_STATUS, JS_BAD_T,
 JS_A, JS_RG, JS_CUR, JS_LAST, JS_PHASE) = range(14)
N_JS = 14
WAITING, RUNNING, ENDED = 0, 1, 2  # JS_PHASE: before its window starts, running, finished
# an observation row per running job: floats rf (the policy's first 7 arguments, then the spot
# price per region), ints ri (the job, cur_type, last_type, region, regions, then the
# availability per region, -1 = not observed); a proposal row: (action, region)
N_RF = 7  # elapsed, gap, deadline, job, work_left, overhead, pending
RI_JOB, RI_CUR, RI_LAST, RI_REGION, RI_NREG = 0, 1, 2, 3, 4
N_RI = 5
_F2, _I2 = types.float64[:, ::1], types.int64[:, ::1]
_F2_RO = types.Array(types.float64, 2, "C", readonly=True)
_I2_RO = types.Array(types.int64, 2, "C", readonly=True)
# (rows as the worker built them, or as the child received them: read-only)
PROPOSE_SIGS = [types.void(POLICY_TYPE, types.int64, f, i, _F2, _I2)
                for f, i in ((_F2, _I2), (_F2_RO, _I2_RO))]


@numba.njit(cache=True)
def begin(work, fs, js):
    """Every job before its first tick: nothing done, no region used, status OK."""
    for i in range(work.shape[0]):
        fs[i, :] = 0.0
        fs[i, FS_LEFT] = work[i]
        js[i, :] = 0
        js[i, JS_BAD_T] = -1


@numba.njit(cache=True)
def _finish(i, t, w, prices, win_gap, deadline, od_price, flags, fs, js, stats):
    """Job i ends at its tick t: its stats row."""
    gap = win_gap[w]
    tick_h = gap / 3600.0
    cost = fs[i, FS_COST]
    status = js[i, JS_STATUS]
    region = js[i, JS_REGION]
    if (flags & PUB_PRICING) != 0:
        cost = js[i, JS_SPOT] * (prices[w, 0, region] * tick_h) + js[i, JS_OD] * (od_price * tick_h)
    if status == EXHAUSTED:
        # unfinished work at on-demand price, flagged as a miss
        cost += fs[i, FS_LEFT] / 3600.0 * od_price
    if status == INVALID or status == MISSING:
        cost = np.inf
    row = stats[i]
    row[ST_COST] = cost
    row[ST_TICKS] = t
    row[ST_STATUS] = status
    row[ST_FORCED] = js[i, JS_FORCED]
    row[ST_SPOT] = js[i, JS_SPOT]
    row[ST_OD] = js[i, JS_OD]
    row[ST_IDLE] = js[i, JS_IDLE]
    row[ST_RESTARTS] = js[i, JS_RESTARTS]
    row[ST_MISS] = 1.0 if (status == EXHAUSTED or t * gap > deadline[i] + 1e-6) else 0.0
    row[ST_BAD_TICK] = js[i, JS_BAD_T]
    row[ST_BAD_ACTION] = js[i, JS_A]
    row[ST_BAD_REGION] = js[i, JS_RG]
    row[ST_REGION] = region
    js[i, JS_PHASE] = ENDED


@numba.njit(cache=True)
def observe(T, avail, prices, win_ticks, win_regions, win_gap, win_start, inst_win, work,
            deadline, overhead, od_price, flags, cap, fs, js, stats, rf, ri, live):
    """Round T, trusted: each running job's previous tick earns progress (a preempted spot
    instance is seen now), then its observation row; returns the number of rows k, and the
    number of jobs not ended in live[0]. A job out of proposal columns (cap) ends as MISSING.

    avail (n_win, H, R) int8 1 = spot available; prices (n_win, H, R) spot $/h; win_* (n_win,);
    per job (n,): window, work, deadline, overhead (seconds); fs (n, N_FS), js (n, N_JS) state;
    stats (n, N_STATS); rows rf (n, N_RF + R), ri (n, N_RI + R)."""
    obs_all = (flags & OBS_ALL) != 0
    k = 0
    left_jobs = 0
    for i in range(inst_win.shape[0]):
        if js[i, JS_PHASE] == ENDED:
            continue
        left_jobs += 1
        w = inst_win[i]
        t = T - win_start[w]
        if t < 0:
            continue
        js[i, JS_PHASE] = RUNNING
        n_ticks = win_ticks[w]
        n_reg = win_regions[w]
        gap = win_gap[w]
        job = work[i]
        region = js[i, JS_REGION]
        has = 0
        if t < n_ticks:
            has = avail[w, t, region]
        last = js[i, JS_PREV]
        cur = last
        if cur == SPOT and has == 0:
            cur = NONE  # preempted: observed now, the previous tick still ran
        done = fs[i, FS_DONE]
        pending = fs[i, FS_PENDING]
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
        fs[i, FS_DONE] = done
        fs[i, FS_PENDING] = pending
        left = job - done
        fs[i, FS_LEFT] = left
        js[i, JS_CUR] = cur
        js[i, JS_LAST] = last
        if t >= cap:
            js[i, JS_STATUS] = MISSING
            js[i, JS_BAD_T] = t
            _finish(i, t, w, prices, win_gap, deadline, od_price, flags, fs, js, stats)
            left_jobs -= 1
            continue
        tt = t if t < n_ticks else n_ticks - 1
        for r in range(n_reg):
            rf[k, N_RF + r] = prices[w, tt, r]
            if t >= n_ticks:
                ri[k, N_RI + r] = 0
            elif obs_all or r == region:
                ri[k, N_RI + r] = avail[w, t, r]
            else:
                ri[k, N_RI + r] = -1
        rf[k, 0] = t * gap
        rf[k, 1] = gap
        rf[k, 2] = deadline[i]
        rf[k, 3] = job
        rf[k, 4] = left
        rf[k, 5] = overhead[i]
        rf[k, 6] = pending
        ri[k, RI_JOB] = i
        ri[k, RI_CUR] = cur
        ri[k, RI_LAST] = last
        ri[k, RI_REGION] = region
        ri[k, RI_NREG] = n_reg
        k += 1
    live[0] = left_jobs
    return k


@numba.njit(cache=True)
def apply(T, k, ri, props, replay, avail, prices, win_ticks, win_regions, win_gap,
          win_start, inst_win, deadline, overhead, switch_overhead, od_price, flags, fs, js,
          rec_action, rec_region, stats):
    """Round T, trusted: the proposals props (k, 2) (action, region) of the jobs ri[:k, RI_JOB]
    run their tick (the strong guarantee may force on-demand; a change of type or region sets
    the pending overhead); recorded unless `replay` (then (-1, -1) means none was recorded)."""
    pub_price = (flags & PUB_PRICING) != 0
    pub_switch = (flags & PUB_SWITCH) != 0
    pub_safety = (flags & PUB_SAFETY) != 0
    guard = (flags & NO_GUARANTEE) == 0
    for j in range(k):
        i = ri[j, RI_JOB]
        w = inst_win[i]
        t = T - win_start[w]
        a = props[j, 0]
        rg = props[j, 1]
        if not replay:
            rec_action[i, t] = max(-32768, min(32767, a))
            rec_region[i, t] = max(-32768, min(32767, rg))
        js[i, JS_A] = a
        js[i, JS_RG] = rg
        if replay and a == -1 and rg == -1:
            js[i, JS_STATUS] = MISSING
            js[i, JS_BAD_T] = t
            _finish(i, t, w, prices, win_gap, deadline, od_price, flags, fs, js, stats)
            continue
        if a < 0 or a > 2 or rg < 0 or rg >= win_regions[w]:
            js[i, JS_STATUS] = INVALID
            js[i, JS_BAD_T] = t
            _finish(i, t, w, prices, win_gap, deadline, od_price, flags, fs, js, stats)
            continue
        left = fs[i, FS_LEFT]
        region = js[i, JS_REGION]
        if left <= 1e-8:
            if pub_price:
                js[i, JS_REGION] = rg  # the published policy moves region even at its last call
            _finish(i, t, w, prices, win_gap, deadline, od_price, flags, fs, js, stats)
            continue
        if t >= win_ticks[w]:
            js[i, JS_STATUS] = EXHAUSTED
            _finish(i, t, w, prices, win_gap, deadline, od_price, flags, fs, js, stats)
            continue
        gap = win_gap[w]
        d = overhead[i]
        ds = switch_overhead[i]
        pending = fs[i, FS_PENDING]
        cur = js[i, JS_CUR]
        last = js[i, JS_LAST]
        req = a
        new_region = rg
        rem_time = math.floor((deadline[i] - t * gap) / gap) * gap
        if guard and left > 1e-3:
            need = math.ceil((left + d) / gap) * gap
            if need >= rem_time:
                keep_spot = pending < 1e-3 and ((pub_safety and last == SPOT)
                                                or (not pub_safety and cur == SPOT))
                forced_type = SPOT if keep_spot else ON_DEMAND
                if not pub_switch:
                    new_region = region
                if req != forced_type or new_region != rg:
                    js[i, JS_FORCED] += 1
                req = forced_type
        if req == SPOT and avail[w, t, new_region] == 0:
            req = NONE
        if req != NONE:
            if cur != req:
                pending = d
                js[i, JS_RESTARTS] += 1
                if new_region != region and cur != NONE and not pub_switch and ds > d:
                    pending = ds
            elif new_region != region and not pub_switch:
                pending = ds
                js[i, JS_RESTARTS] += 1
        if req == SPOT:
            js[i, JS_SPOT] += 1
            fs[i, FS_COST] += prices[w, t, new_region] * (gap / 3600.0)
        elif req == ON_DEMAND:
            js[i, JS_OD] += 1
            fs[i, FS_COST] += od_price * (gap / 3600.0)
        else:
            js[i, JS_IDLE] += 1
        fs[i, FS_PENDING] = pending
        js[i, JS_REGION] = new_region
        js[i, JS_PREV] = req


def _propose(policy, k, rf, ri, mem, props):
    """Untrusted: the policy's (action, region) per observation row into props (k, 2); mem
    (n, MEM_SIZE) is each job's own scratch memory."""
    av_buf = np.empty(ri.shape[1] - N_RI, np.int64)
    pr_buf = np.empty(rf.shape[1] - N_RF, np.float64)
    for j in range(k):
        n_reg = ri[j, RI_NREG]
        av = av_buf[:n_reg]
        pr = pr_buf[:n_reg]
        for r in range(n_reg):
            av[r] = ri[j, N_RI + r]
            pr[r] = rf[j, N_RF + r]
        a, rg = policy(rf[j, 0], rf[j, 1], rf[j, 2], rf[j, 3], rf[j, 4], rf[j, 5], rf[j, 6],
                       ri[j, RI_CUR], ri[j, RI_LAST], ri[j, RI_REGION], av, pr, mem[ri[j, RI_JOB]])
        props[j, 0] = int(a)
        props[j, 1] = int(rg)


propose_py = _propose
propose_nb = numba.njit(PROPOSE_SIGS, cache=True)(_propose)


@numba.njit(SIM_SIG, cache=True)
def simulate_nb(policy, use_policy, avail, prices, win_ticks, win_regions, win_gap, win_start,
                inst_win, work, deadline, overhead, switch_overhead, od_price, flags,
                rec_action, rec_region, stats):
    """Every job to its end in one call: with use_policy call `policy` (recording its
    proposals in rec_action / rec_region (n, L) int16), else replay them. stats (n, N_STATS)."""
    n = inst_win.shape[0]
    width = max(avail.shape[2], 1)
    fs = np.zeros((n, N_FS))
    js = np.zeros((n, N_JS), np.int64)
    rf = np.zeros((n, N_RF + width))
    ri = np.zeros((n, N_RI + width), np.int64)
    props = np.zeros((n, 2), np.int64)
    mem = np.zeros((n, MEM_SIZE))
    live = np.zeros(1, np.int64)
    cap = rec_action.shape[1]
    begin(work, fs, js)
    T = 0
    while True:
        k = observe(T, avail, prices, win_ticks, win_regions, win_gap, win_start, inst_win, work,
                    deadline, overhead, od_price, flags, cap, fs, js, stats, rf, ri, live)
        if k == 0 and live[0] == 0:
            break
        if use_policy:
            propose_nb(policy, k, rf, ri, mem, props)
        else:
            for j in range(k):
                i = ri[j, RI_JOB]
                t = T - win_start[inst_win[i]]
                props[j, 0] = rec_action[i, t]
                props[j, 1] = rec_region[i, t]
        apply(T, k, ri, props, not use_policy, avail, prices, win_ticks, win_regions,
              win_gap, win_start, inst_win, deadline, overhead, switch_overhead, od_price, flags,
              fs, js, rec_action, rec_region, stats)
        T += 1


@numba.njit(POLICY_SIG, cache=True)
def replay_stub(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type, last_type,
                region, avail, price, mem):
    """Placeholder policy for replay runs (never called when use_policy is False)."""
    return NONE, region
