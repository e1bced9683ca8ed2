"""Uniform Progress seed for spot_single (Wu et al., NSDI'24, `rc_cr_threshold`): spot whenever
progress is ahead of the uniform line, on-demand when behind and spot is gone, sticky on-demand
until two overheads of slack are won back, and the deadline guarantee of the greedy seed."""

import math

import numba
import numpy as np

NONE, SPOT, ON_DEMAND = 0, 1, 2


# EVOLVE-BLOCK-START
def decide(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type, last_type,
           region, avail, price, mem):
    # Uniform Progress's thresholds as named values a search can move (these give the
    # published policy exactly): the share of the uniform line to keep up with, and the lead
    # (in restart overheads) on-demand needs before it may be left
    pace = 1.0
    sticky_overheads = 2.0
    if work_left <= 1e-3:
        return NONE, region
    has_spot = avail[region] > 0  # 1 available, 0 not (no literal 1 for a tuner to scale)
    remaining_time = math.floor((deadline - elapsed) / gap) * gap
    # progress minus the uniform line (the job spread evenly up to the deadline)
    behind = (job - work_left) - pace * elapsed * job / deadline
    ahead_2d = ((elapsed + sticky_overheads * overhead) * pace * job / deadline
                - (job - work_left))
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
    return req, region
# EVOLVE-BLOCK-END
