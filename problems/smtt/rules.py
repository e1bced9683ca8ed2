"""Constructive heuristics as numba kernels: (p, d, w) of shape (n,) float64 -> order (n,) int64.

EDDC, MDDC, PSK and the augmented variants reproduce the code of Çetinkaya et al.
(github.com/ibrahimoguzc/DiscoverHeuristics, testing/heuristics_comparison.ipynb) step by step,
including its sort keys and tie-breaking, because that code (not the printed pseudocode)
produced the published gaps. Ties elsewhere go to the lowest job index.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .localsearch import objective


@njit(cache=True)
def _lex(primary, secondary):
    """Indices sorted by (primary, secondary, index), like np.lexsort((secondary, primary))."""
    o = np.argsort(secondary, kind="mergesort")
    return o[np.argsort(primary[o], kind="mergesort")]


@njit(cache=True)
def edd(p, d, w):
    return np.argsort(d, kind="mergesort")


@njit(cache=True)
def spt(p, d, w):
    """SPT; WSPT (p/w) when weights differ."""
    return np.argsort(p / w, kind="mergesort")


@njit(cache=True)
def mdd(p, d, w):
    """Baker & Bertrand: min max(t + p_j, d_j); weighted: Kanet & Li's max(p_j, d_j - t) / w_j."""
    n = p.shape[0]
    weighted = np.any(w != 1.0)
    done = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    t = 0.0
    for pos in range(n):
        best, best_v = -1, 0.0
        for j in range(n):
            if done[j]:
                continue
            v = max(p[j], d[j] - t) / w[j] if weighted else max(t + p[j], d[j])
            if best < 0 or v < best_v:
                best, best_v = j, v
        done[best] = True
        order[pos] = best
        t += p[best]
    return order


@njit(cache=True)
def atc_k(p, d, w, k):
    """Apparent Tardiness Cost with look-ahead k: max (w/p) exp(-max(d - p - t, 0) / (k p_bar))."""
    n = p.shape[0]
    done = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    t = 0.0
    left = p.sum()
    for pos in range(n):
        scale = k * left / (n - pos)
        best, best_v = -1, 0.0
        for j in range(n):
            if done[j]:
                continue
            v = w[j] / p[j] * np.exp(-max(d[j] - p[j] - t, 0.0) / scale)
            if best < 0 or v > best_v:
                best, best_v = j, v
        done[best] = True
        order[pos] = best
        t += p[best]
        left -= p[best]
    return order


ATC_GRID = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])


@njit(cache=True)
def atc(p, d, w):
    """ATC with k tuned per instance: the best of ATC_GRID on the instance's own objective."""
    best = atc_k(p, d, w, ATC_GRID[0])
    best_v = objective(best, p, d, w)
    for q in range(1, ATC_GRID.shape[0]):
        o = atc_k(p, d, w, ATC_GRID[q])
        v = objective(o, p, d, w)
        if v < best_v:
            best, best_v = o, v
    return best


@njit(cache=True)
def psk(p, d, w):
    """Panwalkar, Smith & Koulamas (1993) as the authors coded it (list in SPT, ties by d)."""
    si = _lex(p, d)
    P = p[si]
    D = d[si]
    n = p.shape[0]
    U = np.arange(n)
    size = n
    out = np.empty(n, dtype=np.int64)
    pos = 0
    c = 0.0
    while size > 0:
        i = U[0]
        if size == 1:
            out[pos] = i
            break
        pick = -1
        if c + P[i] >= D[i]:
            pick = i
        else:
            for jj in range(1, size):
                j = U[jj]
                if D[i] <= c + P[j]:
                    pick = i
                    break
                if D[i] <= D[j]:
                    if U[size - 1] == j:
                        pick = i
                        break
                else:
                    i = j
                    if U[size - 1] == i:
                        pick = i
                        break
        out[pos] = pick
        pos += 1
        c += P[pick]
        q = 0
        while U[q] != pick:
            q += 1
        U[q:size - 1] = U[q + 1:size]
        size -= 1
    return si[out]


@njit(cache=True)
def eddc(p, d, w):
    """EDD Challenger as run by the authors: SPT start (ties by d), guarded insertion toward EDD.

    A job moves ahead of its predecessor only while that predecessor's due date exceeds the work
    of the jobs in front of the pair; the scan goes on to the lower pairs even without a swap.
    """
    S = _lex(p, d)
    n = S.shape[0]
    if n == 0:
        return S
    ahead = p[S[0]]  # work in positions 0..i-1: a set that pass i only permutes
    for i in range(1, n):
        entering = S[i]
        j = i
        avail = ahead
        while j > 0 and d[S[j]] < d[S[j - 1]]:
            front = S[j - 1]
            if d[front] > avail:
                S[j], S[j - 1] = S[j - 1], S[j]
            avail -= p[front]  # positions 0..j-2, untouched by the swap
            j -= 1
        ahead += p[entering]
    return S


@njit(cache=True)
def _mddc_pick(U, size, p, d, t):
    """MDDC urgency (Çetinkaya et al.) over the list U[:size]; first minimum wins."""
    pmax = 0.0
    psum = 0.0
    for q in range(size):
        pmax = max(pmax, p[U[q]])
        psum += p[U[q]]
    best, best_v = 0, 0.0
    for q in range(size):
        j = U[q]
        u = max(p[j] * 1.1 + t, d[j])
        m = min(p[j] / (t + pmax), 1.0)
        u *= 1.0 + m ** 2 / (1.0 + m ** 2)
        u += p[j] / (t + psum / size)
        if q == 0 or u < best_v:
            best, best_v = q, u
    return best


@njit(cache=True)
def _mdd_pick(U, size, p, d, t):
    best, best_v = 0, 0.0
    for q in range(size):
        j = U[q]
        v = max(p[j] + t, d[j])
        if q == 0 or v < best_v:
            best, best_v = q, v
    return best


@njit(cache=True)
def _dispatch(p, d, w, challenger, augmented):
    """MDD or MDDC dispatching; `augmented` re-optimises the partial schedule after each step by
    moving the best single job to its end (the authors' "Augmented" variants)."""
    n = p.shape[0]
    U = _lex(d, p) if challenger else np.arange(n)
    size = n
    S = np.empty(n, dtype=np.int64)
    k = 0
    t = 0.0
    C = np.empty(n, dtype=np.float64)
    while size > 0:
        q = _mddc_pick(U, size, p, d, t) if challenger else _mdd_pick(U, size, p, d, t)
        job = U[q]
        U[q:size - 1] = U[q + 1:size]
        size -= 1
        S[k] = job
        k += 1
        t += p[job]
        if augmented:
            _to_end(S[:k], p, d, w, C)
    return S


@njit(cache=True)
def _to_end(S, p, d, w, C):
    """Move to the end the one job whose move lowers the objective most (first best, strict)."""
    k = S.shape[0]
    c = 0.0
    base = 0.0
    for q in range(k):
        c += p[S[q]]
        C[q] = c
        base += w[S[q]] * max(0.0, c - d[S[q]])
    best_v, best_i = base, -1
    prefix = 0.0
    for i in range(k - 1):
        x = S[i]
        trial = prefix
        for m in range(i + 1, k):
            y = S[m]
            trial += w[y] * max(0.0, C[m] - p[x] - d[y])
        trial += w[x] * max(0.0, C[k - 1] - d[x])
        if trial < best_v:
            best_v, best_i = trial, i
        prefix += w[x] * max(0.0, C[i] - d[x])
    if best_i >= 0:
        x = S[best_i]
        S[best_i:k - 1] = S[best_i + 1:k].copy()
        S[k - 1] = x


@njit(cache=True)
def mddc(p, d, w):
    return _dispatch(p, d, w, True, False)


@njit(cache=True)
def aug_mdd(p, d, w):
    return _dispatch(p, d, w, False, True)


@njit(cache=True)
def aug_mddc(p, d, w):
    return _dispatch(p, d, w, True, True)
