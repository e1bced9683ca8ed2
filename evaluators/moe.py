"""MoE expert-placement simulator: validity of an EPLB placement and its balancedness on a load
window.

Layout convention (DeepSeek EPLB, vLLM, SGLang): physical slot r of R lives on GPU r // (R / G), and
GPU g on node g // (G / N). Expert e belongs to group e // (E / num_groups). A token routed to
expert e is spread evenly over its replicas, so each replica carries load[e] / logcnt[e].

Balancedness (higher is better, 1 = perfect) is computed over a whole model:
sum over layers of the mean GPU load / sum over layers of the max GPU load, where the mean is the
layer's total load / G (load of an expert without a replica counts in the mean but on no GPU).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from evolve.problem import InvalidOutput


@dataclass(frozen=True)
class Shapes:
    """Deployment shape: replicas (physical slots), expert groups, nodes, GPUs."""

    num_replicas: int
    num_groups: int
    num_nodes: int
    num_gpus: int

    @property
    def hierarchical(self) -> bool:
        # The same rule as DeepSeek's eplb.py: groups that pack evenly onto nodes stay on one node.
        return self.num_groups % self.num_nodes == 0

    def problems(self, num_experts: int) -> list[str]:
        """Reasons why the shape cannot hold `num_experts` experts ([] when it can)."""
        out = []
        r, ng, n, g = self.num_replicas, self.num_groups, self.num_nodes, self.num_gpus
        if min(r, ng, n, g) < 1:
            out.append("all of num_replicas, num_groups, num_nodes, num_gpus must be >= 1")
            return out
        if r < num_experts:
            out.append(f"num_replicas={r} < {num_experts} experts")
        if r % g:
            out.append(f"num_replicas={r} is not a multiple of num_gpus={g}")
        if g % n:
            out.append(f"num_gpus={g} is not a multiple of num_nodes={n}")
        if self.hierarchical and num_experts % ng:
            out.append(f"{num_experts} experts do not split into num_groups={ng} groups")
        return out


@dataclass
class Balance:
    """Balancedness of one placement on one load window (per-layer arrays have shape [L])."""

    gpu: float
    node: float
    slot: float
    layer_gpu: np.ndarray  # [L] mean / max GPU load per layer
    gpu_load: np.ndarray  # [L, G]
    mean_gpu: np.ndarray  # [L]


# ---- validity ---------------------------------------------------------------------------------
# Error codes of the numba check; the message is built in Python from (code, layer, a, b).
(_OK, _RANGE, _COUNT, _L2P_SHORT, _L2P_RANGE, _L2P_WRONG, _L2P_DUP, _L2P_PAD, _DROPPED,
 _SPLIT_GROUP) = range(10)


@njit(cache=True)
def _check(phy2log, log2phy, logcnt, load, group_size, slots_per_node, hierarchical):
    """First violation as (code, layer, a, b); code 0 when the placement is valid."""
    L, R = phy2log.shape
    E = logcnt.shape[1]
    M = log2phy.shape[2]
    cnt = np.zeros(E, np.int64)
    seen = np.full(R, -1, np.int64)
    node_of_group = np.empty(max(E // group_size, 1), np.int64)
    for l in range(L):
        cnt[:] = 0
        for r in range(R):
            e = phy2log[l, r]
            if e < 0 or e >= E:
                return _RANGE, l, r, e
            cnt[e] += 1
        for e in range(E):
            if logcnt[l, e] != cnt[e]:
                return _COUNT, l, e, cnt[e]
        for e in range(E):
            if cnt[e] > M:
                return _L2P_SHORT, l, e, cnt[e]
            for j in range(M):
                v = log2phy[l, e, j]
                if j < cnt[e]:
                    if v < 0 or v >= R:
                        return _L2P_RANGE, l, e, v
                    if phy2log[l, v] != e:
                        return _L2P_WRONG, l, e, v
                    if seen[v] == l:
                        return _L2P_DUP, l, e, v
                    seen[v] = l
                elif v != -1:
                    return _L2P_PAD, l, e, v
        for e in range(E):
            if cnt[e] == 0 and load[l, e] > 0:
                return _DROPPED, l, e, 0
        if hierarchical:
            node_of_group[:] = -1
            for r in range(R):
                k = phy2log[l, r] // group_size
                node = r // slots_per_node
                if node_of_group[k] == -1:
                    node_of_group[k] = node
                elif node_of_group[k] != node:
                    return _SPLIT_GROUP, l, k, r
    return _OK, 0, 0, 0


def _int_array(name: str, x, ndim: int) -> np.ndarray:
    try:
        a = np.asarray(x)
    except Exception as e:  # noqa: BLE001 - any conversion failure is the candidate's fault
        raise InvalidOutput(f"{name}: not convertible to a numpy array "
                            f"({type(e).__name__})") from None
    if not np.issubdtype(a.dtype, np.integer):
        raise InvalidOutput(f"{name}: dtype {a.dtype}, expected an integer array")
    if a.ndim != ndim:
        raise InvalidOutput(f"{name}: {a.ndim} dimensions {a.shape}, expected {ndim}")
    return np.ascontiguousarray(a, dtype=np.int64)


def validate(phy2log, log2phy, logcnt, load: np.ndarray, shapes: Shapes) -> tuple[np.ndarray, ...]:
    """Check a placement for the scored window `load` [L, E]; raise InvalidOutput on the first flaw.

    phy2log [L, R]: expert of each slot; log2phy [L, E, M >= max logcnt]: slots of each expert,
    padded with -1; logcnt [L, E]: replicas per expert. Returns the three arrays as int64.
    """
    L, E = load.shape
    R = shapes.num_replicas
    phy2log = _int_array("phy2log", phy2log, 2)
    logcnt = _int_array("logcnt", logcnt, 2)
    log2phy = _int_array("log2phy", log2phy, 3)
    if phy2log.shape != (L, R):
        raise InvalidOutput(f"phy2log: shape {phy2log.shape}, expected (layers, num_replicas) = "
                            f"{(L, R)}")
    if logcnt.shape != (L, E):
        raise InvalidOutput(f"logcnt: shape {logcnt.shape}, expected (layers, experts) = {(L, E)}")
    if log2phy.shape[:2] != (L, E) or log2phy.shape[2] < 1:
        raise InvalidOutput(f"log2phy: shape {log2phy.shape}, expected ({L}, {E}, max replicas)")
    group_size = E // shapes.num_groups if shapes.hierarchical else E
    code, l, a, b = _check(phy2log, log2phy, logcnt, np.ascontiguousarray(load, dtype=np.float64),
                           group_size, R // shapes.num_nodes, shapes.hierarchical)
    if code != _OK:
        raise InvalidOutput(_message(code, l, a, b, shapes, log2phy.shape[2], load, logcnt))
    return phy2log, log2phy, logcnt


def _message(code, l, a, b, shapes: Shapes, m: int, load, logcnt) -> str:
    spn = shapes.num_replicas // shapes.num_nodes
    return {
        _RANGE: f"layer {l}: phy2log slot {a} holds expert {b}, outside [0, {load.shape[1]}) "
                "(every physical slot must hold an expert)",
        _COUNT: f"layer {l}: logcnt[{a}] = {logcnt[l, a]} but phy2log gives expert {a} {b} slot(s)",
        _L2P_SHORT: f"layer {l}: expert {a} has {b} replicas but log2phy has only {m} columns",
        _L2P_RANGE: f"layer {l}: log2phy of expert {a} lists slot {b}, outside [0, "
                    f"{shapes.num_replicas})",
        _L2P_WRONG: f"layer {l}: log2phy of expert {a} lists slot {b}, which phy2log gives to "
                    "another expert",
        _L2P_DUP: f"layer {l}: log2phy lists slot {b} twice (expert {a})",
        _L2P_PAD: f"layer {l}: log2phy of expert {a} has {b} past its logcnt entries (padding must "
                  "be -1)",
        _DROPPED: f"layer {l}: expert {a} has load {load[l, a]:g} in the scored window but no "
                  "replica",
        _SPLIT_GROUP: f"layer {l}: hierarchical mode ({shapes.num_groups} groups, "
                      f"{shapes.num_nodes} nodes) but group {a} has replicas on two nodes (slot "
                      f"{b} is on node {b // spn})",
    }[code]


# ---- simulation -------------------------------------------------------------------------------
@njit(cache=True)
def slot_loads(phy2log, logcnt, load):
    """Load carried by each physical slot [L, R]: load[l, e] / logcnt[l, e] for e =
    phy2log[l, r]."""
    L, R = phy2log.shape
    out = np.empty((L, R), np.float64)
    for l in range(L):
        for r in range(R):
            e = phy2log[l, r]
            out[l, r] = load[l, e] / logcnt[l, e]
    return out


def _ratio(mean: np.ndarray, peak: np.ndarray) -> float:
    top = float(peak.sum())
    return float(mean.sum()) / top if top > 0 else 1.0


def balance(phy2log: np.ndarray, logcnt: np.ndarray, load: np.ndarray, shapes: Shapes) -> Balance:
    """Route `load` [L, E] through a placement (int64 phy2log [L, R], logcnt [L, E]; validated)."""
    load = np.ascontiguousarray(load, dtype=np.float64)
    L, R = phy2log.shape
    G, N = shapes.num_gpus, shapes.num_nodes
    slots = slot_loads(phy2log, logcnt, load)
    gpu = slots.reshape(L, G, R // G).sum(axis=2)
    node = gpu.reshape(L, N, G // N).sum(axis=2)
    total = load.sum(axis=1)
    mean_gpu = total / G
    peak = gpu.max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        layer = np.where(peak > 0, mean_gpu / np.where(peak > 0, peak, 1.0), 1.0)
    return Balance(
        gpu=_ratio(mean_gpu, peak),
        node=_ratio(total / N, node.max(axis=1)),
        slot=_ratio(total / R, slots.max(axis=1)),
        layer_gpu=layer,
        gpu_load=gpu,
        mean_gpu=mean_gpu,
    )


def describe_layer(phy2log: np.ndarray, logcnt: np.ndarray, load: np.ndarray, b: Balance, l: int,
                   shapes: Shapes, layer_id: int | None = None) -> str:
    """One line on why row `l` (model layer `layer_id`) is unbalanced: its hottest GPU and
    expert."""
    R, G = shapes.num_replicas, shapes.num_gpus
    g = int(np.argmax(b.gpu_load[l]))
    slots = phy2log[l, g * (R // G):(g + 1) * (R // G)]
    share = load[l, slots] / logcnt[l, slots]
    e = int(slots[int(np.argmax(share))])
    mean_e = load[l].mean() or 1.0
    name = l if layer_id is None else layer_id
    return (f"layer {name}: {b.layer_gpu[l]:.3f} (GPU {g} carries "
            f"{b.gpu_load[l, g] / (b.mean_gpu[l] or 1):.2f}x the mean GPU load; its heaviest "
            f"expert {e} has {load[l, e] / mean_e:.1f}x the mean expert load and "
            f"{int(logcnt[l, e])} replica(s))")
