"""Exact solvers: Lawler's decomposition (unweighted, integer data) and a subset DP (weighted).

Lawler (1977): index the jobs in EDD order (ties by SPT) and let k be the longest job (ties: the
latest in that order). Some optimal sequence puts exactly the jobs 1..k+delta (without k) before
k and the rest after it, for some delta >= 0. Both sides are again SMTT problems (the right one
starts at C_k), so the optimum is a memoised recursion over (job range, longest job, start time).
Every subproblem is {i in [a, b] : rank[i] <= rank[k]} with rank the (p, EDD index) order, so
(first member, last member, k, t) names it uniquely.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.typed import Dict

UNSOLVED = -1  # returned when the memo budget runs out


@njit(cache=True)
def _probe(a, b, r, t, P, D, rank, byrank, memo, tt, budget):
    """Subproblem {i in [a, b] : rank[i] < r} from time t.

    Returns (kind, value, first, last, k, key, before): kind 0 = value known, 1 = must branch
    on k (the longest job; `before` = work of the members ahead of it), 2 = budget exhausted.
    """
    n = P.shape[0]
    first = -1
    last = -1
    k = -1
    for i in range(a, b + 1):
        if rank[i] < r:
            if first < 0:
                first = i
            last = i
            if k < 0 or rank[i] > rank[k]:
                k = i
    if first < 0:
        return 0, 0, first, last, k, 0, 0
    if first == last:
        return 0, max(0, t + P[first] - D[first]), first, last, k, 0, 0
    key = ((first * n + last) * n + k) * tt + t
    got = memo.get(key, -1)
    if got >= 0:
        return 0, got, first, last, k, key, 0
    if len(memo) >= budget:
        return 2, 0, first, last, k, key, 0
    rk = rank[k]
    # EDD from t without a tardy job is optimal; if every job is late wherever it goes, SPT is.
    c = t
    on_time = True
    all_late = True
    for i in range(first, last + 1):
        if rank[i] <= rk:
            c += P[i]
            if c > D[i]:
                on_time = False
            if t + P[i] < D[i]:
                all_late = False
    if on_time:
        memo[key] = 0
        return 0, 0, first, last, k, key, 0
    if all_late:
        c = t
        total = 0
        for q in range(rk + 1):
            i = byrank[q]
            if first <= i <= last:
                c += P[i]
                total += c - D[i]
        memo[key] = total
        return 0, total, first, last, k, key, 0
    before = 0
    for i in range(first, k):
        if rank[i] < rk:
            before += P[i]
    return 1, 0, first, last, k, key, before


RULES = 3


@njit(cache=True)
def _split_ok(e, k, last, rk, ck, D, rank, rules):
    """Position tests for k finishing at ck with members up to e ahead of it."""
    if rules & 1:
        nx = e + 1
        while nx <= last and rank[nx] >= rk:
            nx += 1
        if nx <= last and D[nx] <= ck:
            return False
    if rules & 2 and e != k and D[e] > ck:
        return False
    return True


@njit(cache=True)
def _lawler(P, D, rank, byrank, budget):
    """Iterative recursion (numba cannot cache recursive functions): explicit frame stack.

    Frame phases: 0 ask left part, 1 waiting for it, 2 ask right part, 3 waiting for it,
    5 move the split point delta one job further (or finish the frame).
    """
    n = P.shape[0]
    memo = Dict.empty(key_type=types.int64, value_type=types.int64)
    tt = P.sum() + 1
    kind, v, first, last, k, key, before = _probe(0, n - 1, n, 0, P, D, rank, byrank, memo, tt,
                                                  budget)
    if kind != 1:
        return v if kind == 0 else UNSOLVED
    cap = n + 2
    f_first = np.empty(cap, np.int64)
    f_last = np.empty(cap, np.int64)
    f_k = np.empty(cap, np.int64)
    f_t = np.empty(cap, np.int64)
    f_key = np.empty(cap, np.int64)
    f_e = np.empty(cap, np.int64)
    f_before = np.empty(cap, np.int64)
    f_best = np.empty(cap, np.int64)
    f_left = np.empty(cap, np.int64)
    f_phase = np.empty(cap, np.int64)
    sp = 0
    f_first[0], f_last[0], f_k[0], f_t[0], f_key[0] = first, last, k, 0, key
    f_e[0], f_before[0], f_best[0], f_phase[0] = k, before, -1, 0
    sp = 1
    while True:
        top = sp - 1
        ph = f_phase[top]
        kk = f_k[top]
        rk = rank[kk]
        ck = f_t[top] + f_before[top] + P[kk]
        if ph == 0:
            if not _split_ok(f_e[top], kk, f_last[top], rk, ck, D, rank, RULES):
                f_phase[top] = 5
                continue
            kind, v, first, last, k, key, before = _probe(
                f_first[top], f_e[top], rk, f_t[top], P, D, rank, byrank, memo, tt, budget)
            if kind == 2:
                return UNSOLVED
            if kind == 0:
                f_left[top] = v
                f_phase[top] = 2
            else:
                f_phase[top] = 1
                f_first[sp], f_last[sp], f_k[sp], f_t[sp], f_key[sp] = first, last, k, f_t[top], key
                f_e[sp], f_before[sp], f_best[sp], f_phase[sp] = k, before, -1, 0
                sp += 1
        elif ph == 2:
            lower = f_left[top] + max(0, ck - D[kk])
            if f_best[top] >= 0 and lower >= f_best[top]:
                f_phase[top] = 5
                continue
            kind, v, first, last, k, key, before = _probe(
                f_e[top] + 1, f_last[top], rk, ck, P, D, rank, byrank, memo, tt, budget)
            if kind == 2:
                return UNSOLVED
            if kind == 0:
                if f_best[top] < 0 or lower + v < f_best[top]:
                    f_best[top] = lower + v
                f_phase[top] = 5
            else:
                f_phase[top] = 3
                f_first[sp], f_last[sp], f_k[sp], f_t[sp], f_key[sp] = first, last, k, ck, key
                f_e[sp], f_before[sp], f_best[sp], f_phase[sp] = k, before, -1, 0
                sp += 1
        else:  # phase 5: next split point, or the frame is done
            e = f_e[top] + 1
            while e <= f_last[top] and rank[e] >= rk:
                e += 1
            if e <= f_last[top]:
                f_e[top] = e
                f_before[top] += P[e]
                f_phase[top] = 0
                continue
            result = f_best[top]
            memo[f_key[top]] = result
            sp -= 1
            if sp == 0:
                return result
            par = sp - 1
            if f_phase[par] == 1:
                f_left[par] = result
                f_phase[par] = 2
            else:
                pk = f_k[par]
                val = f_left[par] + max(0, f_t[par] + f_before[par] + P[pk] - D[pk]) + result
                if f_best[par] < 0 or val < f_best[par]:
                    f_best[par] = val
                f_phase[par] = 5


@njit(cache=True)
def lawler_value(p, d, budget):
    """Optimal total tardiness of integer data p (>0), d (any sign); UNSOLVED past `budget`
    states."""
    n = p.shape[0]
    if n == 0:
        return 0
    P0 = p.astype(np.int64)
    D0 = d.astype(np.int64)
    edd = _edd_spt(P0, D0)
    P = P0[edd]
    D = D0[edd]
    byrank = _rank_order(P)
    rank = np.empty(n, dtype=np.int64)
    for q in range(n):
        rank[byrank[q]] = q
    return _lawler(P, D, rank, byrank, budget)


@njit(cache=True)
def _edd_spt(P, D):
    """Indices sorted by (D, P, index)."""
    o = np.argsort(P, kind="mergesort")
    return o[np.argsort(D[o], kind="mergesort")]


@njit(cache=True)
def _rank_order(P):
    """EDD positions sorted by (P, position): rank order of the decomposition."""
    return np.argsort(P, kind="mergesort")


@njit(cache=True)
def subset_dp_value(p, d, w):
    """Optimal total weighted tardiness by DP over job subsets: O(2^n n), n <= ~22."""
    n = p.shape[0]
    size = 1 << n
    f = np.empty(size, dtype=np.float64)
    f[0] = 0.0
    for mask in range(1, size):
        c = 0.0
        for j in range(n):
            if mask >> j & 1:
                c += p[j]
        best = np.inf
        for j in range(n):
            if mask >> j & 1:
                late = c - d[j]
                v = f[mask ^ (1 << j)] + (w[j] * late if late > 0.0 else 0.0)
                if v < best:
                    best = v
        f[mask] = best
    return f[size - 1]
