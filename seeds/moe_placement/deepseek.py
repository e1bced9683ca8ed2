"""DeepSeek's EPLB greedy (github.com/deepseek-ai/EPLB, eplb.py) re-implemented with numpy + numba.

rebalance_experts(weight[L, E], num_replicas, num_groups, num_nodes, num_gpus)
    -> phy2log [L, R] int64 (expert of each physical slot; slot r is on GPU r // (R / num_gpus)),
       log2phy [L, E, max logcnt] int64 (slots of each expert by replica rank, -1 padded),
       logcnt [L, E] int64 (replicas per expert).

Hierarchical policy when num_groups % num_nodes == 0 (groups packed onto nodes, experts replicated
inside each node, replicas packed onto the node's GPUs), else the global policy (one group, one
node). Like the reference it computes in float32. The reference sorts with torch's unstable sort;
here equal loads are taken in order of lowest index, so phy2log can differ from it only where loads
tie (the replica counts and the GPU loads then agree).
"""

import numpy as np
from numba import njit


@njit
def _order_desc(w):
    """Indices of w by descending value, ties by lowest index: stable insertion sort of runs of
    16, then bottom-up merges (the order of np.argsort(-w, kind="mergesort"), as fast, and far
    less for numba to compile). Outside the evolved block: the order is not the heuristic, and
    the mutator, drawn to deep loops, would spend its changes (and a recompile of both packing
    steps) on it."""
    n = w.shape[0]
    order = np.empty(n, np.int64)
    for i in range(n):
        j = i
        while j % 16 and w[order[j - 1]] < w[i]:
            order[j] = order[j - 1]
            j -= 1
        order[j] = i
    buf = np.empty(n, np.int64)
    width = 16
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j = lo, mid
            for k in range(lo, hi):
                if i < mid and (j >= hi or w[order[i]] >= w[order[j]]):
                    buf[k] = order[i]
                    i += 1
                else:
                    buf[k] = order[j]
                    j += 1
        order, buf = buf, order
        width *= 2
    return order


# EVOLVE-BLOCK-START


@njit
def _balanced_packing(w, num_packs, pack, rank):
    """Greedy: items [n] by descending weight (ties: lowest index) into the lightest non-full pack.

    Writes pack[n] and rank[n] (position inside the pack); every pack gets n / num_packs items.
    """
    n = w.shape[0]
    per_pack = n // num_packs
    if per_pack == 1:
        for i in range(n):
            pack[i] = i
            rank[i] = 0
        return
    order = _order_desc(w)
    load = np.zeros(num_packs, np.float32)  # float32 sums, as in the reference
    items = np.zeros(num_packs, np.int64)
    for i in order:
        best = -1
        for p in range(num_packs):
            if items[p] < per_pack and (best < 0 or load[p] < load[best]):
                best = p
        pack[i] = best
        rank[i] = items[best]
        load[best] += w[i]
        items[best] += 1


@njit
def _replicate(w, num_phy, phy2log, rank, cnt):
    """Greedy: each extra slot goes to the expert with the largest float32 w / cnt (ties: lowest)."""
    num_log = w.shape[0]
    for e in range(num_log):
        phy2log[e] = e
        rank[e] = 0
        cnt[e] = 1
    for i in range(num_log, num_phy):
        best = 0
        best_val = w[0] / np.float32(cnt[0])
        for e in range(1, num_log):
            v = w[e] / np.float32(cnt[e])
            if v > best_val:
                best_val = v
                best = e
        phy2log[i] = best
        rank[i] = cnt[best]
        cnt[best] += 1


@njit
def _pack_groups(weight, num_groups, num_nodes):
    """Step 1: groups onto nodes. -> mlog2log [L, E]: expert at each node-major position."""
    L, E = weight.shape
    group_size = E // num_groups
    groups_per_node = num_groups // num_nodes
    mlog2log = np.empty((L, E), np.int64)
    gload = np.empty(num_groups, np.float32)
    gpack = np.empty(num_groups, np.int64)
    grank = np.empty(num_groups, np.int64)
    for l in range(L):
        for k in range(num_groups):  # group sums rounded to float32 once
            s = 0.0
            for j in range(group_size):
                s += weight[l, k * group_size + j]
            gload[k] = np.float32(s)
        _balanced_packing(gload, num_nodes, gpack, grank)
        for k in range(num_groups):
            base = (gpack[k] * groups_per_node + grank[k]) * group_size
            for j in range(group_size):
                mlog2log[l, base + j] = k * group_size + j
    return mlog2log


@njit
def _replicate_nodes(weight, mlog2log, num_phy, num_nodes):
    """Step 2: experts replicated inside each node. -> p2m [L, R] (node-local expert of each
    node-local replica), prank [L, R] (its replica rank), mcnt [L, E] (replicas per node-major
    position)."""
    L, E = weight.shape
    log_per_node = E // num_nodes
    phy_per_node = num_phy // num_nodes
    p2m = np.empty((L, num_phy), np.int64)
    prank = np.empty((L, num_phy), np.int64)
    mcnt = np.empty((L, E), np.int64)
    wm = np.empty(log_per_node, np.float32)
    for l in range(L):
        for n in range(num_nodes):
            for j in range(log_per_node):
                wm[j] = weight[l, mlog2log[l, n * log_per_node + j]]
            a = n * phy_per_node
            b = n * log_per_node
            _replicate(wm, phy_per_node, p2m[l, a:a + phy_per_node], prank[l, a:a + phy_per_node],
                       mcnt[l, b:b + log_per_node])
    return p2m, prank, mcnt


@njit
def _pack_gpus(weight, mlog2log, p2m, prank, mcnt, num_nodes, num_gpus):
    """Step 3: each node's replicas onto its GPUs. -> phy2log, phyrank [L, R], logcnt [L, E]."""
    L, E = weight.shape
    num_phy = p2m.shape[1]
    log_per_node = E // num_nodes
    phy_per_node = num_phy // num_nodes
    gpus_per_node = num_gpus // num_nodes
    phy_per_gpu = num_phy // num_gpus
    phy2log = np.empty((L, num_phy), np.int64)
    phyrank = np.empty((L, num_phy), np.int64)
    logcnt = np.empty((L, E), np.int64)
    tphy = np.empty(phy_per_node, np.float32)
    ppack = np.empty(phy_per_node, np.int64)
    prk = np.empty(phy_per_node, np.int64)
    pphy2phy = np.empty(phy_per_node, np.int64)
    for l in range(L):
        for n in range(num_nodes):
            a = n * phy_per_node
            b = n * log_per_node
            for p in range(phy_per_node):
                m = p2m[l, a + p]
                tphy[p] = np.float32(weight[l, mlog2log[l, b + m]]) / np.float32(mcnt[l, b + m])
            _balanced_packing(tphy, gpus_per_node, ppack, prk)
            for p in range(phy_per_node):
                pphy2phy[ppack[p] * phy_per_gpu + prk[p]] = p
            for q in range(phy_per_node):
                p = pphy2phy[q]
                phy2log[l, a + q] = mlog2log[l, b + p2m[l, a + p]]
                phyrank[l, a + q] = prank[l, a + p]
            for j in range(log_per_node):
                logcnt[l, mlog2log[l, b + j]] = mcnt[l, b + j]
    return phy2log, phyrank, logcnt


@njit
def _log2phy(phy2log, phyrank, logcnt):
    """[L, E, max logcnt]: slot of each replica rank, -1 where an expert has fewer replicas."""
    L, R = phy2log.shape
    E = logcnt.shape[1]
    m = 1
    for l in range(L):
        for e in range(E):
            m = max(m, logcnt[l, e])
    out = np.full((L, E, m), -1, np.int64)
    for l in range(L):
        for r in range(R):
            out[l, phy2log[l, r], phyrank[l, r]] = r
    return out


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    """EPLB placement for loads weight [L, E]: (phy2log [L, R], log2phy [L, E, X], logcnt [L, E])."""
    w = np.ascontiguousarray(weight, dtype=np.float32)
    L, E = w.shape
    assert num_replicas % num_gpus == 0 and num_gpus % num_nodes == 0 and num_replicas >= E
    if num_groups % num_nodes == 0:
        assert E % num_groups == 0
    else:
        num_groups, num_nodes = 1, 1
    mlog2log = _pack_groups(w, num_groups, num_nodes)
    p2m, prank, mcnt = _replicate_nodes(w, mlog2log, num_replicas, num_nodes)
    phy2log, rank, logcnt = _pack_gpus(w, mlog2log, p2m, prank, mcnt, num_nodes, num_gpus)
    return phy2log, _log2phy(phy2log, rank, logcnt), logcnt


# EVOLVE-BLOCK-END
