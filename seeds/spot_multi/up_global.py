"""Uniform Progress seed for spot_multi on the availability of all regions (ADRS
`multi_region_rc_cr_threshold`): the single-region UP rules with "spot somewhere", moving to the
first region that has spot when it asks for spot and its own region has none."""

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
    # the first region with spot (availability 1 > 0; written without literals a tuner would
    # scale: they are categories, not thresholds)
    best = region
    any_spot = False
    for r in range(avail.shape[0]):
        if avail[r] > 0:
            best = r
            any_spot = True
            break
    remaining_time = math.floor((deadline - elapsed) / gap) * gap
    # progress minus the uniform line (the job spread evenly up to the deadline)
    behind = (job - work_left) - pace * elapsed * job / deadline
    ahead_2d = ((elapsed + sticky_overheads * overhead) * pace * job / deadline
                - (job - work_left))
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
    if req == SPOT and any_spot and avail[region] <= 0:
        return req, best
    return req, region
# EVOLVE-BLOCK-END
