"""Upper bounds on the GPU balancedness any valid placement can reach on a known load window.

Both bounds lower-bound the max GPU load of every layer and then fold the layers the way the
simulator does (sum of mean GPU loads / sum of the lower bounds):

* replication bound: the max GPU load is at least the mean and at least the heaviest replica,
  and no split of R slots over the experts makes the heaviest replica lighter than the greedy
  water-filling does (it is optimal for min-max of load / replicas).
* hierarchical bound (only when groups must stay on one node): the node holding the heaviest
  group carries that group plus the lightest groups it is forced to share with (slot capacity
  R / N per node), and its GPUs share that node load at best evenly.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from evolve.evaluators.moe import Shapes


@njit(cache=True)
def min_max_replica_load(load, num_replicas):
    """[L] smallest possible heaviest-replica load when `num_replicas` slots cover `load` [L, E].

    Experts with zero load need no slot; the greedy gives each next slot to the expert with the
    largest load per replica.
    """
    L, E = load.shape
    out = np.zeros(L, np.float64)
    cnt = np.empty(E, np.int64)
    for l in range(L):
        used = 0
        for e in range(E):
            cnt[e] = 1 if load[l, e] > 0 else 0
            used += cnt[e]
        for _ in range(num_replicas - used):
            best, arg = -1.0, -1
            for e in range(E):
                if cnt[e] > 0 and load[l, e] / cnt[e] > best:
                    best, arg = load[l, e] / cnt[e], e
            if arg < 0:
                break
            cnt[arg] += 1
        top = 0.0
        for e in range(E):
            if cnt[e] > 0 and load[l, e] / cnt[e] > top:
                top = load[l, e] / cnt[e]
        out[l] = top
    return out


def _fold(mean: np.ndarray, floor: np.ndarray) -> float:
    top = float(floor.sum())
    return float(mean.sum()) / top if top > 0 else 1.0


def replication_floor(load: np.ndarray, shapes: Shapes) -> np.ndarray:
    """[L] lower bound on the max GPU load of any placement of `load` [L, E]."""
    load = np.ascontiguousarray(load, dtype=np.float64)
    mean = load.sum(axis=1) / shapes.num_gpus
    return np.maximum(mean, min_max_replica_load(load, shapes.num_replicas))


def hierarchical_floor(load: np.ndarray, shapes: Shapes) -> np.ndarray:
    """[L] lower bound on the max GPU load when every group stays on one node (hierarchical
    mode)."""
    load = np.ascontiguousarray(load, dtype=np.float64)
    floor = replication_floor(load, shapes)
    if not shapes.hierarchical:
        return floor
    L, E = load.shape
    N, G = shapes.num_nodes, shapes.num_gpus
    capacity = shapes.num_replicas // N
    groups = load.reshape(L, shapes.num_groups, E // shapes.num_groups)
    gload = groups.sum(axis=2)  # [L, groups]
    need = (groups > 0).sum(axis=2)  # slots each group needs at least
    for l in range(L):
        live = np.flatnonzero(need[l] > 0)
        if live.size == 0:
            continue
        heavy = live[np.argmax(gload[l, live])]
        others = live[live != heavy]
        # Most groups one other node can take: fill it with the groups needing the fewest slots.
        fit = int(np.searchsorted(np.cumsum(np.sort(need[l, others])), capacity, side="right"))
        forced = max(0, others.size - (N - 1) * fit)
        node = gload[l, heavy] + np.sort(gload[l, others])[:forced].sum()
        floor[l] = max(floor[l], node / (G // N), gload[l].sum() / G)
    return floor


def bounds(load: np.ndarray, shapes: Shapes) -> dict[str, float]:
    """Balancedness bounds on `load` [L, E]: replication and hierarchical (equal in global mode)."""
    load = np.ascontiguousarray(load, dtype=np.float64)
    mean = load.sum(axis=1) / shapes.num_gpus
    return {
        "bound_replication": _fold(mean, replication_floor(load, shapes)),
        "bound_hierarchical": _fold(mean, hierarchical_floor(load, shapes)),
    }
