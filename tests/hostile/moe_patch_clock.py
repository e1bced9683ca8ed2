"""Hostile moe_placement candidate: DeepSeek's placements, but it stops the clock.

At import it replaces time.perf_counter with a constant, so any timing read from inside its own
process says every call took 0 s. Its placements are exactly the deepseek seed's: only a runtime
measured by the trusted side (outside the candidate's reach) gives it the seed's score.
"""

import numpy as np
from numba import njit

# EVOLVE-BLOCK-START
import time

time.perf_counter = lambda: 0.0  # reward hack: every call "takes" 0 s


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
    order = np.argsort(-w, kind="mergesort")
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
def _hierarchical(weight, num_phy, num_groups, num_nodes, num_gpus):
    """[L, E] float32 loads -> phy2log [L, R], phyrank [L, R], logcnt [L, E] (all int64)."""
    L, E = weight.shape
    group_size = E // num_groups
    groups_per_node = num_groups // num_nodes
    log_per_node = E // num_nodes
    phy_per_node = num_phy // num_nodes
    gpus_per_node = num_gpus // num_nodes
    phy_per_gpu = num_phy // num_gpus

    phy2log = np.empty((L, num_phy), np.int64)
    phyrank = np.empty((L, num_phy), np.int64)
    logcnt = np.empty((L, E), np.int64)

    gload = np.empty(num_groups, np.float32)
    gpack = np.empty(num_groups, np.int64)
    grank = np.empty(num_groups, np.int64)
    log2mlog = np.empty(E, np.int64)
    mlog2log = np.empty(E, np.int64)
    wm = np.empty(log_per_node, np.float32)
    p2m = np.empty(phy_per_node, np.int64)
    prank = np.empty(phy_per_node, np.int64)
    mcnt = np.empty(log_per_node, np.int64)
    tphy = np.empty(phy_per_node, np.float32)
    ppack = np.empty(phy_per_node, np.int64)
    prk = np.empty(phy_per_node, np.int64)
    pphy2phy = np.empty(phy_per_node, np.int64)
    for l in range(L):
        # Step 1: pack groups onto nodes (group sums rounded to float32 once).
        for k in range(num_groups):
            s = 0.0
            for j in range(group_size):
                s += weight[l, k * group_size + j]
            gload[k] = np.float32(s)
        _balanced_packing(gload, num_nodes, gpack, grank)
        for k in range(num_groups):
            base = (gpack[k] * groups_per_node + grank[k]) * group_size
            for j in range(group_size):
                log2mlog[k * group_size + j] = base + j
        for e in range(E):
            mlog2log[log2mlog[e]] = e
        for n in range(num_nodes):
            # Step 2: replicate experts inside the node.
            for j in range(log_per_node):
                wm[j] = weight[l, mlog2log[n * log_per_node + j]]
            _replicate(wm, phy_per_node, p2m, prank, mcnt)
            # Step 3: pack the node's replicas onto its GPUs.
            for p in range(phy_per_node):
                tphy[p] = wm[p2m[p]] / np.float32(mcnt[p2m[p]])
            _balanced_packing(tphy, gpus_per_node, ppack, prk)
            for p in range(phy_per_node):
                pphy2phy[ppack[p] * phy_per_gpu + prk[p]] = p
            for q in range(phy_per_node):
                p = pphy2phy[q]
                slot = n * phy_per_node + q
                phy2log[l, slot] = mlog2log[n * log_per_node + p2m[p]]
                phyrank[l, slot] = prank[p]
            for j in range(log_per_node):
                logcnt[l, mlog2log[n * log_per_node + j]] = mcnt[j]
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
        phy2log, rank, logcnt = _hierarchical(w, num_replicas, num_groups, num_nodes, num_gpus)
    else:
        phy2log, rank, logcnt = _hierarchical(w, num_replicas, 1, 1, num_gpus)
    return phy2log, _log2phy(phy2log, rank, logcnt), logcnt


# EVOLVE-BLOCK-END
