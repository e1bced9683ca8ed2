"""Greedy seed for spot_single: spot whenever it is available, idle otherwise, on-demand once the
slack can no longer absorb a restart (the ADRS leaderboard seed, `greedy_safety_seed`)."""

import math

import numba
import numpy as np

NONE, SPOT, ON_DEMAND = 0, 1, 2


# EVOLVE-BLOCK-START
def decide(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type, last_type,
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
# EVOLVE-BLOCK-END
