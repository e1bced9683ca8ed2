"""Vectorised "snake" EPLB baseline: water-filling replication, then serpentine dealing onto GPUs.

Same contract as DeepSeek's rebalance_experts. Whole layers are handled at once with numpy (no
Python loop over layers): replica counts come from a bisection on the per-replica load, and the
replicas, sorted by load, are dealt 0, 1, .., P-1, P-1, .., 0, 0, 1, .. onto the P packs so that
every pack gets the same number of items. Hierarchical mode deals groups onto nodes the same way.
"""

from __future__ import annotations

import numpy as np


def replica_counts(w: np.ndarray, slots: int) -> np.ndarray:
    """Replicas per expert [B, n] (each >= 1, rows sum to `slots`) that about minimise max w / c."""
    B, n = w.shape
    lo = np.zeros(B)
    hi = w.max(axis=1) + 1e-12
    for _ in range(32):  # bisect the per-replica load: ceil(w / lam) replicas must fit in `slots`
        mid = 0.5 * (lo + hi)
        need = np.maximum(1, np.ceil(w / mid[:, None])).sum(axis=1)
        fits = need <= slots
        hi = np.where(fits, mid, hi)
        lo = np.where(fits, lo, mid)
    c = np.maximum(1, np.ceil(w / hi[:, None])).astype(np.int64)
    spare = slots - c.sum(axis=1)  # >= 0; hand it to the experts with the heaviest replicas
    order = np.argsort(-(w / c), axis=1, kind="stable")
    bonus = np.zeros_like(c)
    np.put_along_axis(bonus, order, (np.arange(n)[None, :] < spare[:, None]).astype(np.int64),
                      axis=1)
    return c + bonus


def snake_deal(load: np.ndarray, packs: int) -> tuple[np.ndarray, np.ndarray]:
    """Items [B, m] dealt by descending load in serpentine order: (pack [B, m], rank in pack
    [B, m])."""
    B, m = load.shape
    order = np.argsort(-load, axis=1, kind="stable")
    k = np.arange(m)
    rnd, pos = k // packs, k % packs
    pack_of_k = np.where(rnd % 2 == 0, pos, packs - 1 - pos)
    pack = np.empty((B, m), np.int64)
    rank = np.empty((B, m), np.int64)
    np.put_along_axis(pack, order, np.broadcast_to(pack_of_k, (B, m)), axis=1)
    np.put_along_axis(rank, order, np.broadcast_to(rnd, (B, m)), axis=1)
    return pack, rank


def log2phy_of(phy2log: np.ndarray, logcnt: np.ndarray) -> np.ndarray:
    """[L, E, max logcnt]: each expert's slots in ascending order, -1 padded."""
    L, R = phy2log.shape
    E = logcnt.shape[1]
    order = np.argsort(phy2log, axis=1, kind="stable")  # slots grouped by expert, ascending
    experts = np.take_along_axis(phy2log, order, axis=1)
    start = np.cumsum(logcnt, axis=1) - logcnt
    rank = np.arange(R)[None, :] - np.take_along_axis(start, experts, axis=1)
    out = np.full((L, E, max(int(logcnt.max()), 1)), -1, np.int64)
    out[np.arange(L)[:, None], experts, rank] = order
    return out


def _place(w: np.ndarray, slots: int, packs: int) -> np.ndarray:
    """Rows of expert loads [B, n] -> local expert of each slot [B, slots] (pack p owns a block)."""
    B, n = w.shape
    cnt = replica_counts(w, slots)
    expert = np.repeat(np.tile(np.arange(n), B), cnt.ravel()).reshape(B, slots)
    per_rep = np.take_along_axis(w / cnt, expert, axis=1)
    pack, rank = snake_deal(per_rep, packs)
    slot = pack * (slots // packs) + rank
    out = np.empty((B, slots), np.int64)
    np.put_along_axis(out, slot, expert, axis=1)
    return out


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    """Snake placement for loads weight [L, E]: (phy2log [L, R], log2phy [L, E, X], logcnt
    [L, E])."""
    w = np.asarray(weight, dtype=np.float64)
    L, E = w.shape
    if num_groups % num_nodes:  # global policy: one node, experts in their own order
        num_groups = num_nodes = 1
    gsize = E // num_groups
    gload = w.reshape(L, num_groups, gsize).sum(axis=2)
    node, rank = snake_deal(gload, num_nodes)
    # Node-major expert order: node n holds its groups in dealing order, experts in group order.
    key = (node * (num_groups // num_nodes) + rank)  # [L, groups] position of each group
    group_at = np.argsort(key, axis=1)
    mlog2log = (group_at[:, :, None] * gsize + np.arange(gsize)).reshape(L, E)
    per_node = E // num_nodes
    wm = np.take_along_axis(w, mlog2log, axis=1).reshape(L * num_nodes, per_node)
    local = _place(wm, num_replicas // num_nodes, num_gpus // num_nodes)
    mlog = local.reshape(L, num_nodes, -1) + (np.arange(num_nodes) * per_node)[None, :, None]
    phy2log = np.take_along_axis(mlog2log, mlog.reshape(L, num_replicas), axis=1)
    logcnt = np.bincount((phy2log + E * np.arange(L)[:, None]).ravel(),
                         minlength=L * E).reshape(L, E)
    return phy2log, log2phy_of(phy2log, logcnt), logcnt
