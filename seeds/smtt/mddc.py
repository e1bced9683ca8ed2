"""Seed: MDDC, the LLM-discovered "MDD Challenger" of Çetinkaya et al., as a dispatch loop.

At every step the unscheduled job with the lowest priority `v` runs next (ties: lowest job index;
the authors' code breaks ties by (due date, processing time), so a tie can order differently).
Evolution edits the EVOLVE-BLOCK, which computes `v` for job j; the loop around it stays fixed.
"""

import numpy as np


def schedule(p, d):
    """p, d: (n,) float64 processing times and due dates (read-only) -> (n,) int64 job order."""
    n = p.shape[0]
    done = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    t = 0.0  # current time: the completion time of the jobs scheduled so far
    p_left = 0.0  # total processing time of the unscheduled jobs
    for j in range(n):
        p_left += p[j]
    for pos in range(n):
        n_left = n - pos  # unscheduled jobs
        p_max = 0.0  # longest unscheduled job
        for j in range(n):
            if not done[j] and p[j] > p_max:
                p_max = p[j]
        best = -1
        best_v = 0.0
        for j in range(n):
            if done[j]:
                continue
            # EVOLVE-BLOCK-START
            # Priority v of unscheduled job j: lower runs first. Also in scope: t, n_left, p_left,
            # p_max and the whole arrays p, d.
            p_j = p[j]
            d_j = d[j]
            v = max(1.1 * p_j + t, d_j)  # MDD's modified due date, processing time weighted 1.1
            m = min(p_j / (t + p_max), 1.0)  # job length relative to the longest, capped at 1
            v *= 1.0 + m * m / (1.0 + m * m)  # long jobs wait (factor 1 .. 1.5)
            v += p_j / (t + p_left / n_left)  # SPT-like tie-break against the mean job length
            # EVOLVE-BLOCK-END
            if best < 0 or v < best_v:
                best = j
                best_v = v
        done[best] = True
        order[pos] = best
        t += p[best]
        p_left -= p[best]
    return order
