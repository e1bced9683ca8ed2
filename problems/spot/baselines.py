"""Reference policies with the candidate signature (plain functions; numba compiles them).

Ports of the published strategies (sky_spot / ADRS leaderboard):
greedy                 the leaderboard seed: spot when available, idle otherwise, on-demand when
                       the slack can no longer absorb one (or, off spot, two) restart overheads;
greedy_round_robin     the same, moving to the next region whenever the current one has no spot;
uniform_progress       Uniform Progress (Wu et al., NSDI'24, `rc_cr_threshold`);
uniform_progress_global  UP on the availability of all regions, moving to the first region with
                       spot (ADRS `multi_region_rc_cr_threshold`);
uniform_progress_round_robin  single-region UP that tries the next region while it waits.
"""

from __future__ import annotations

import math

NONE, SPOT, ON_DEMAND = 0, 1, 2


def greedy(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type, last_type,
           region, avail, price, mem):
    if work_left <= 1e-9:
        return NONE, region
    left_ticks = max(0, math.floor((deadline - elapsed) / gap))
    need1d = math.ceil((work_left + overhead) / gap)
    need2d = math.ceil((work_left + 2 * overhead) / gap)
    has_spot = avail[region] == 1
    if need1d >= left_ticks:
        return ON_DEMAND, region
    if need2d >= left_ticks:
        if cur_type == SPOT and has_spot:
            return SPOT, region
        return ON_DEMAND, region
    if has_spot:
        return SPOT, region
    return NONE, region


def greedy_round_robin(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type,
                       last_type, region, avail, price, mem):
    if work_left <= 1e-9:
        return NONE, region
    left_ticks = max(0, math.floor((deadline - elapsed) / gap))
    need1d = math.ceil((work_left + overhead) / gap)
    need2d = math.ceil((work_left + 2 * overhead) / gap)
    has_spot = avail[region] == 1
    if need1d >= left_ticks:
        return ON_DEMAND, region
    if need2d >= left_ticks:
        if cur_type == SPOT and has_spot:
            return SPOT, region
        return ON_DEMAND, region
    if has_spot:
        return SPOT, region
    return NONE, (region + 1) % avail.shape[0]


def _up_request(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type, has_spot):
    """The single-region Uniform Progress decision (rc_cr_threshold) given spot availability."""
    remaining_time = math.floor((deadline - elapsed) / gap) * gap
    behind = (job - work_left) - elapsed * job / deadline  # progress minus the uniform line
    ahead_2d = (elapsed + 2 * overhead) * job / deadline - (job - work_left)
    req = SPOT if has_spot else NONE
    if behind < 0:
        req = SPOT if has_spot else ON_DEMAND
    if cur_type == ON_DEMAND:
        if not has_spot or ahead_2d >= 0:
            req = ON_DEMAND
    need = math.ceil((work_left + overhead) / gap) * gap
    need2d = math.ceil((work_left + 2 * overhead) / gap) * gap
    if need2d >= remaining_time and (cur_type == NONE or cur_type == ON_DEMAND):
        req = ON_DEMAND
    if need >= remaining_time:
        if cur_type == SPOT and pending < 1e-3:
            req = SPOT
        else:
            req = ON_DEMAND
        if overhead == 0 and has_spot:
            req = SPOT
    return req


def uniform_progress(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type,
                     last_type, region, avail, price, mem):
    if work_left <= 1e-3:
        return NONE, region
    req = _up_request(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type,
                      avail[region] == 1)
    return req, region


def uniform_progress_round_robin(elapsed, gap, deadline, job, work_left, overhead, pending,
                                 cur_type, last_type, region, avail, price, mem):
    if work_left <= 1e-3:
        return NONE, region
    req = _up_request(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type,
                      avail[region] == 1)
    if req == NONE:
        return NONE, (region + 1) % avail.shape[0]
    return req, region


def uniform_progress_global(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type,
                            last_type, region, avail, price, mem):
    if work_left <= 1e-3:
        return NONE, region
    best = -1
    for r in range(avail.shape[0]):
        if avail[r] == 1:
            best = r
            break
    any_spot = best >= 0
    remaining_time = math.floor((deadline - elapsed) / gap) * gap
    behind = (job - work_left) - elapsed * job / deadline
    ahead_2d = (elapsed + 2 * overhead) * job / deadline - (job - work_left)
    req = SPOT if any_spot else NONE
    if behind < 0:
        req = SPOT if any_spot else ON_DEMAND
    # the published port keys its sticky and deadline rules on the type before preemption
    if last_type == ON_DEMAND:
        if not any_spot or ahead_2d >= 0:
            req = ON_DEMAND
    need = math.ceil((work_left + overhead) / gap) * gap
    if need >= remaining_time:
        if last_type == SPOT and pending < 1e-3:
            req = SPOT
        else:
            req = ON_DEMAND
        if overhead == 0 and any_spot:
            req = SPOT
    if req == SPOT and any_spot and avail[region] != 1:
        return req, best
    return req, region


# the helper is called from jitted policies, so it must be jitted itself
import numba as _numba  # noqa: E402

_up_request = _numba.njit(cache=True)(_up_request)

SINGLE = {"greedy": greedy, "uniform_progress": uniform_progress}
MULTI = {
    "greedy": greedy_round_robin,
    "uniform_progress": uniform_progress_global,
    "uniform_progress_round_robin": uniform_progress_round_robin,
}
