"""Insertion/swap local search and iterated local search (ILS) for total weighted tardiness.

All kernels take one instance: p, d, w of shape (n,) float64 and an order (n,) int64 (job
indices, improved in place). Insertion moves are scanned in O(n^2) per step: for a fixed job the
cost change of moving it one slot further is accumulated incrementally.
"""

from __future__ import annotations

import numpy as np
from numba import njit

EPS = 1e-9


@njit(cache=True)
def objective(order, p, d, w):
    t = 0.0
    total = 0.0
    for j in order:
        t += p[j]
        if t > d[j]:
            total += w[j] * (t - d[j])
    return total


@njit(cache=True)
def _late(c, dj, wj):
    return wj * (c - dj) if c > dj else 0.0


@njit(cache=True)
def _completions(order, p, out):
    t = 0.0
    for q in range(order.shape[0]):
        t += p[order[q]]
        out[q] = t


@njit(cache=True)
def _best_insertion(order, C, p, d, w):
    """Best single-job move -> (delta, from, to); delta >= 0 when none improves."""
    n = order.shape[0]
    best, bi, bj = 0.0, -1, -1
    for i in range(n):
        x = order[i]
        px, dx, wx = p[x], d[x], w[x]
        here = _late(C[i], dx, wx)
        acc = 0.0  # forward: jobs i+1..j move earlier by px, x finishes at C[j]
        for j in range(i + 1, n):
            y = order[j]
            acc += _late(C[j] - px, d[y], w[y]) - _late(C[j], d[y], w[y])
            delta = acc + _late(C[j], dx, wx) - here
            if delta < best - EPS:
                best, bi, bj = delta, i, j
        acc = 0.0  # backward: jobs j..i-1 move later by px, x finishes at C[j-1] + px
        for j in range(i - 1, -1, -1):
            y = order[j]
            acc += _late(C[j] + px, d[y], w[y]) - _late(C[j], d[y], w[y])
            start = C[j - 1] if j > 0 else 0.0
            delta = acc + _late(start + px, dx, wx) - here
            if delta < best - EPS:
                best, bi, bj = delta, i, j
    return best, bi, bj


@njit(cache=True)
def _best_swap(order, C, p, d, w, window):
    """Best exchange of two jobs at most `window` slots apart -> (delta, i, j)."""
    n = order.shape[0]
    best, bi, bj = 0.0, -1, -1
    for i in range(n - 1):
        x = order[i]
        start = C[i - 1] if i > 0 else 0.0
        for j in range(i + 1, min(n, i + window + 1)):
            y = order[j]
            shift = p[y] - p[x]
            delta = (_late(start + p[y], d[y], w[y]) - _late(C[i], d[x], w[x])
                     + _late(C[j], d[x], w[x]) - _late(C[j], d[y], w[y]))
            for m in range(i + 1, j):
                z = order[m]
                delta += _late(C[m] + shift, d[z], w[z]) - _late(C[m], d[z], w[z])
            if delta < best - EPS:
                best, bi, bj = delta, i, j
    return best, bi, bj


@njit(cache=True)
def _move(order, i, j):
    x = order[i]
    if i < j:
        for q in range(i, j):
            order[q] = order[q + 1]
    else:
        for q in range(i, j, -1):
            order[q] = order[q - 1]
    order[j] = x


@njit(cache=True)
def local_search(order, p, d, w, window):
    """Descend with best insertions, then best swaps (window-limited), until neither improves."""
    n = order.shape[0]
    C = np.empty(n, dtype=np.float64)
    while True:
        _completions(order, p, C)
        _delta, i, j = _best_insertion(order, C, p, d, w)
        if i >= 0:
            _move(order, i, j)
            continue
        _delta, i, j = _best_swap(order, C, p, d, w, window)
        if i < 0:
            break
        order[i], order[j] = order[j], order[i]
    return objective(order, p, d, w)


@njit(cache=True)
def ils(p, d, w, start, iterations, seed, window):
    """Iterated local search from `start` -> (best value, best order).

    Kick: 2-5 random insertions/swaps near each other; accept ties and improvements; return to
    the best order after n quiet iterations.
    """
    np.random.seed(seed)
    n = p.shape[0]
    cur = start.copy()
    cur_v = local_search(cur, p, d, w, window)
    best = cur.copy()
    best_v = cur_v
    if n < 3:
        return best_v, best
    quiet = 0
    cand = np.empty(n, dtype=np.int64)
    for _ in range(iterations):
        if best_v <= 0.0:
            break
        cand[:] = cur
        for _k in range(2 + np.random.randint(4)):
            i = np.random.randint(n)
            j = min(n - 1, max(0, i + np.random.randint(-window, window + 1)))
            if i == j:
                continue
            if np.random.random() < 0.5:
                _move(cand, i, j)
            else:
                cand[i], cand[j] = cand[j], cand[i]
        v = local_search(cand, p, d, w, window)
        if v <= cur_v + EPS:
            cur[:] = cand
            cur_v = v
        if v < best_v - EPS:
            best[:] = cand
            best_v = v
            quiet = 0
        else:
            quiet += 1
            if quiet > n:
                cur[:] = best
                cur_v = best_v
                quiet = 0
    return best_v, best
