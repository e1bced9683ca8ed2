"""Statistics behind `evolve-archive compare`: bootstrap CIs of the mean and rank tests between
groups, all from scipy.stats and seeded, so the same runs always print the same numbers."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 9999  # per metric; the curve bands use fewer (one bootstrap per iteration)
BAND_RESAMPLES = 2000
SEED = 0  # fixed: a comparison is a report, rerunning it must not move the intervals


def finite(values: Iterable[float | None]) -> np.ndarray:
    """The finite values as floats (a run without the metric is left out, not counted as 0)."""
    return np.array([float(v) for v in values
                     if v is not None and isinstance(v, (int, float)) and math.isfinite(v)])


def _bootstrap(data: np.ndarray, resamples: int, axis: int = 0):
    from scipy import stats

    with warnings.catch_warnings():  # constant columns: the interval is the value, say nothing
        warnings.simplefilter("ignore")
        res = stats.bootstrap((data,), np.mean, axis=axis, confidence_level=CONFIDENCE,
                              n_resamples=resamples, method="percentile",
                              rng=np.random.default_rng(SEED))
    return res.confidence_interval


def summary(values: Sequence[float | None]) -> dict[str, Any]:
    """n, mean, 95% percentile-bootstrap CI of the mean, median, min, max of the finite values,
    and how many were missing. One value has no interval (ci_low/ci_high None)."""
    v = finite(values)
    out: dict[str, Any] = {"n": int(len(v)), "missing": len(values) - int(len(v)), "mean": None,
                           "ci_low": None, "ci_high": None, "median": None, "min": None,
                           "max": None, "values": [float(x) for x in v]}
    if not len(v):
        return out
    mean = float(v.mean())
    out.update(mean=mean, median=float(np.median(v)), min=float(v.min()), max=float(v.max()))
    if len(v) == 1:
        return out
    if np.all(v == v[0]):
        out.update(ci_low=mean, ci_high=mean)
        return out
    ci = _bootstrap(v, RESAMPLES)
    # a percentile interval holds the sample mean; min/max only guard the float rounding
    out.update(ci_low=min(float(ci.low), mean), ci_high=max(float(ci.high), mean))
    return out


def _mann_whitney(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    if np.all(np.concatenate([a, b]) == a[0]):
        return 1.0  # every value equal: no evidence of a difference
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def between(groups: Mapping[str, Sequence[float | None]]) -> dict[str, Any]:
    """Is the difference between groups real? Two groups: Mann-Whitney U, two-sided. More:
    Kruskal-Wallis over all, and Mann-Whitney for each pair (p-values not corrected for the
    number of pairs). Groups without values are left out; fewer than two: no test."""
    samples = {k: finite(v) for k, v in groups.items()}
    samples = {k: v for k, v in samples.items() if len(v)}
    if len(samples) < 2:
        return {"test": None, "p": None, "pairs": []}
    pairs = [{"a": a, "b": b, "test": "mann-whitney-u", "p": _mann_whitney(samples[a], samples[b])}
             for a, b in combinations(samples, 2)]
    if len(samples) == 2:
        return {"test": "mann-whitney-u", "p": pairs[0]["p"], "pairs": pairs}
    from scipy import stats

    every = np.concatenate(list(samples.values()))
    if np.all(every == every[0]):
        p = 1.0
    else:
        p = float(stats.kruskal(*samples.values()).pvalue)
    return {"test": "kruskal-wallis", "p": p, "pairs": pairs}


def band(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) per column of a runs x iterations matrix: the mean best-so-far and the
    95% bootstrap interval of that mean. One run: the band is the line."""
    mean = curves.mean(axis=0)
    if curves.shape[0] < 2:
        return mean, mean.copy(), mean.copy()
    ci = _bootstrap(curves, BAND_RESAMPLES, axis=0)
    low = np.where(np.isfinite(ci.low), ci.low, mean)
    high = np.where(np.isfinite(ci.high), ci.high, mean)
    return mean, np.minimum(low, mean), np.maximum(high, mean)
