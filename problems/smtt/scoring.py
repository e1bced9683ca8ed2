"""Trusted side of an evaluation: collect a candidate's orders, validate them, compute metrics.

`collect` runs in the sandbox (untrusted); it only packs what the candidate returned. Everything
that decides a score (`score_orders`, `set_metrics`) recomputes the objective from the trusted
instance data, so an order produced for another instance simply scores on the real one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

import numpy as np
from numba import njit

from evolve.evaluators.smtt import (
    ORDER_LENGTH,
    ORDER_NAN,
    ORDER_NOT_INTEGER,
    ORDER_RANGE,
    check_orders,
    total_tardiness,
)
from evolve.problem import InvalidOutput

from .instances import Instances

OUT_OK, OUT_NOT_1D, OUT_NOT_NUMERIC = 0, 1, 2
ZERO_TOL = 1e-9


def collect(fn: Callable, rows: list[tuple[np.ndarray, ...]]) -> dict[str, np.ndarray]:
    """Call fn on every instance's arguments -> {"values" (sum of lengths,) f64, "lengths" (m,),
    "kinds" (m,)}."""
    values, lengths, kinds = [], np.zeros(len(rows), np.int64), np.zeros(len(rows), np.int64)
    for i, args in enumerate(rows):
        a = np.asarray(fn(*args))
        if a.ndim != 1:
            kinds[i] = OUT_NOT_1D
            lengths[i] = a.ndim
        elif a.dtype.kind not in "iuf":
            kinds[i] = OUT_NOT_NUMERIC
            lengths[i] = ord(a.dtype.kind)
        else:
            values.append(a.astype(np.float64))
            lengths[i] = a.size
    flat = np.concatenate(values) if values else np.zeros(0)
    return {"values": flat, "lengths": lengths, "kinds": kinds}


def _array(outputs: Mapping[str, np.ndarray], key: str, size: int | None) -> np.ndarray:
    a = outputs.get(key)
    if not isinstance(a, np.ndarray) or a.ndim != 1 or a.dtype.kind not in "iuf" or (
            size is not None and a.size != size):
        raise InvalidOutput(f"malformed evaluation output '{key}'")
    return a


def score_orders(inst: Instances,
                 outputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Validate -> (objective per instance (m,), orders (N,) int64); raises InvalidOutput."""
    kinds = _array(outputs, "kinds", inst.m)
    lengths = _array(outputs, "lengths", inst.m).astype(np.int64)
    values = _array(outputs, "values", None).astype(np.float64)
    sizes = inst.sizes
    for i in np.flatnonzero(kinds != OUT_OK)[:1]:
        what = (f"a {lengths[i]}-d array" if kinds[i] == OUT_NOT_1D
                else f"an array of dtype kind '{chr(int(lengths[i]))}'")
        raise InvalidOutput(f"instance {i} (n={sizes[i]}): schedule returned {what}, "
                            f"expected a 1-d integer array (a permutation of range(n))")
    if np.any(lengths < 0) or lengths.sum() != values.size:
        raise InvalidOutput("malformed evaluation output 'lengths'")
    reason, detail = check_orders(values, lengths, inst.offsets)
    bad = np.flatnonzero(reason)
    if bad.size:
        i = int(bad[0])
        r, v, n = int(reason[i]), float(detail[i]), int(sizes[i])
        if r == ORDER_LENGTH:
            msg = f"returned {v:.0f} jobs"
        elif r == ORDER_NAN:
            msg = "contains NaN"
        elif r == ORDER_NOT_INTEGER:
            msg = f"contains the non-integer {v!r}"
        elif r == ORDER_RANGE:
            msg = f"contains job {v:g}, outside 0..{n - 1}"
        else:
            msg = f"contains job {v:.0f} twice"
        more = f" ({bad.size} of {inst.m} instances invalid)" if bad.size > 1 else ""
        raise InvalidOutput(f"instance {i} (n={n}): the order {msg}; expected a permutation "
                            f"of range({n}){more}")
    orders = values.astype(np.int64)
    return total_tardiness(inst.p, inst.d, inst.w, inst.offsets, orders), orders


@njit(cache=True)
def edd_similarity(d, offsets, orders):
    """Mean Spearman correlation between each order and the EDD order (1 = EDD-like)."""
    m = offsets.shape[0] - 1
    total = 0.0
    count = 0
    for i in range(m):
        a, b = offsets[i], offsets[i + 1]
        n = b - a
        if n < 2:
            continue
        edd = np.argsort(d[a:b], kind="mergesort")
        pos = np.empty(n, dtype=np.int64)
        for q in range(n):
            pos[orders[a + q]] = q
        s = 0.0
        for q in range(n):
            diff = pos[edd[q]] - q
            s += diff * diff
        total += 1.0 - 6.0 * s / (n * (n * n - 1.0))
        count += 1
    return total / count if count else 1.0


def _gaps(T: np.ndarray, ref: np.ndarray):
    nz = ref > ZERO_TOL
    gap = np.full(T.shape, np.nan)
    gap[nz] = (T[nz] - ref[nz]) / ref[nz] * 100.0
    return nz, gap


def instance_gaps(T: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(m,) % gap to the reference per instance, NaN where the reference is 0 (the values whose
    mean is mean_gap_pct)."""
    return _gaps(T, ref)[1]


K = TypeVar("K")


def _group_gaps(keys: list[K], gap: np.ndarray) -> list[tuple[K, float, int]]:
    groups: dict = {}
    for k, g in zip(keys, gap):
        if np.isfinite(g):
            groups.setdefault(k, []).append(g)
    return [(k, float(np.mean(v)), len(v)) for k, v in groups.items()]


def set_metrics(inst: Instances, T: np.ndarray, orders: np.ndarray, miss_penalty_pct: float,
                name: str) -> tuple[dict[str, float], str]:
    """Metrics of one set (see SmttProblem.description) and its feedback line."""
    ref = inst.ref
    nz, gap = _gaps(T, ref)
    misses = int(np.sum(~nz & (T > ZERO_TOL)))
    mean_gap = float(np.nanmean(gap)) if nz.any() else 0.0
    ref_sum = float(ref.sum())
    ratio = (float(T.sum()) - ref_sum) / ref_sum * 100.0 if ref_sum > ZERO_TOL else 0.0
    classes = sorted(_group_gaps(list(zip(inst.rdd.tolist(), inst.tf.tolist())), gap),
                     key=lambda x: -x[1])
    classes = [c for c in classes if np.isfinite(c[0][0])]
    sizes = sorted(_group_gaps(inst.sizes.tolist(), gap))
    score = -(mean_gap + miss_penalty_pct * misses / max(inst.m, 1))
    metrics = {
        "score": score,
        "mean_gap_pct": mean_gap,
        "ratio_gap_pct": ratio,
        "max_gap_pct": float(np.nanmax(gap)) if nz.any() else 0.0,
        "zero_ref_instances": float(np.sum(~nz)),
        "zero_ref_misses": float(misses),
        "below_ref": float(np.sum(T < ref - 1e-6)),
        "exact_ref_fraction": float(np.mean(inst.ref_exact)) if inst.m else 0.0,
        "worst_class_gap_pct": classes[0][1] if classes else float("nan"),
        "total_tardiness": float(T.sum()),
        "edd_similarity": float(edd_similarity(inst.d, inst.offsets, orders)),
    }
    parts = [f"{name}: mean gap {mean_gap:.2f}% over {int(nz.sum())} instances with nonzero "
             f"reference (ratio-of-sums {ratio:.2f}%)"]
    if misses:
        parts.append(f"{misses} of {int(np.sum(~nz))} zero-tardiness instances missed")
    if classes:
        worst = ", ".join(f"RDD={r:g}/TF={t:g} {g:.2f}%" for (r, t), g, _ in classes[:3])
        parts.append(f"worst classes {worst}")
    if len(sizes) > 1:
        parts.append("by n " + ", ".join(f"{n}: {g:.2f}%" for n, g, _ in sizes))
    if metrics["below_ref"]:
        parts.append(f"{int(metrics['below_ref'])} instances below the reference")
    return metrics, "; ".join(parts)
