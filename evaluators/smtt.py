"""Single-machine (weighted) tardiness of job orders, batched over a flat instance set.

Layout shared by every kernel here: instance i owns jobs offsets[i] .. offsets[i+1]-1 of the flat
arrays p, d, w (shape (N,), float64); `orders` holds, at the same flat positions, the instance's
order as local job indices 0..n_i-1 (shape (N,), int64). Unweighted problems pass w = ones.

`total_tardiness` is the numba kernel; `total_tardiness_py` is the very same function body run by
the Python interpreter (the benchmark compares the two).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Reasons `check_orders` reports per instance (0 = valid order).
ORDER_OK = 0
ORDER_LENGTH = 1
ORDER_NAN = 2
ORDER_NOT_INTEGER = 3
ORDER_RANGE = 4
ORDER_DUPLICATE = 5


@njit(cache=True)
def total_tardiness(p, d, w, offsets, orders):
    """Sum of w_j * max(0, C_j - d_j) per instance -> (m,) float64."""
    m = offsets.shape[0] - 1
    out = np.zeros(m, dtype=np.float64)
    for i in range(m):
        base = offsets[i]
        t = 0.0
        total = 0.0
        for k in range(base, offsets[i + 1]):
            j = base + orders[k]
            t += p[j]
            late = t - d[j]
            if late > 0.0:
                total += w[j] * late
        out[i] = total
    return out


total_tardiness_py = total_tardiness.py_func


@njit(cache=True)
def check_orders(values, lengths, offsets):
    """Validate raw candidate outputs (float64, flat) -> (reason (m,) int64, detail (m,) float64).

    `lengths[i]` is how many values instance i returned; they sit back to back in `values`.
    `detail` is the offending value (or the returned length for ORDER_LENGTH).
    """
    m = offsets.shape[0] - 1
    reason = np.zeros(m, dtype=np.int64)
    detail = np.zeros(m, dtype=np.float64)
    start = 0
    for i in range(m):
        n = offsets[i + 1] - offsets[i]
        got = lengths[i]
        if got != n:
            reason[i] = ORDER_LENGTH
            detail[i] = got
            start += max(got, 0)
            continue
        seen = np.zeros(n, dtype=np.bool_)
        for k in range(start, start + n):
            v = values[k]
            if v != v:
                reason[i] = ORDER_NAN
                detail[i] = v
                break
            if v != np.floor(v):
                reason[i] = ORDER_NOT_INTEGER
                detail[i] = v
                break
            if v < 0 or v >= n:
                reason[i] = ORDER_RANGE
                detail[i] = v
                break
            j = int(v)
            if seen[j]:
                reason[i] = ORDER_DUPLICATE
                detail[i] = v
                break
            seen[j] = True
        start += n
    return reason, detail
