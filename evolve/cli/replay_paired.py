"""Paired comparison behind `evolve-replay`: the program minus each baseline, instance by instance.

Two heuristics replayed on the same instances differ by much less than either's spread over
instances (SMTT: the per-instance gap difference of MDD and MDDC has a standard deviation of
0.8-5.5 points while their means differ by 0.1-0.3), so a difference of set means says little
without the paired interval. The problem names the metric (`Problem.paired_metric`, a mean of
per-instance values) and its direction; instances where either value is undefined (NaN, e.g. an
SMTT optimum of 0) are left out of that pair.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from evolve.result import EvalResult

Z95 = 1.959963984540054  # the normal quantile for the combined interval over sets
TIE = 1e-9


@dataclass(frozen=True)
class Paired:
    """program - baseline over `n` instances: mean difference, its 95% CI, and counts."""

    n: int
    mean: float
    low: float
    high: float
    better: int  # instances where the program is better (by the metric's direction)
    worse: int
    ties: int

    @property
    def se(self) -> float:
        return (self.high - self.mean) / _t95(self.n) if self.n > 1 else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}


def _t95(n: int) -> float:
    return float(stats.t.ppf(0.975, n - 1))


def paired(program: list, baseline: list, lower_is_better: bool) -> Paired | None:
    """The pair of two per-instance lists of one set (None entries: undefined), or None when
    they do not line up or no instance has both values."""
    if len(program) != len(baseline):
        return None
    a = np.array([np.nan if v is None else v for v in program], dtype=np.float64)
    b = np.array([np.nan if v is None else v for v in baseline], dtype=np.float64)
    both = np.isfinite(a) & np.isfinite(b)
    diff = a[both] - b[both]
    n = int(diff.size)
    if n == 0:
        return None
    mean = float(diff.mean())
    half = _t95(n) * float(diff.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
    sign = -1.0 if lower_is_better else 1.0
    return Paired(n, mean, mean - half, mean + half, better=int(np.sum(sign * diff > TIE)),
                  worse=int(np.sum(sign * diff < -TIE)), ties=int(np.sum(np.abs(diff) <= TIE)))


def over_sets(pairs: list[Paired]) -> Paired | None:
    """The mean over sets of their mean differences (every set weighs the same, as in the
    split's metrics), its CI from the sets' standard errors combined (independent sets)."""
    if not pairs or any(p.n < 2 for p in pairs):
        return None
    k = len(pairs)
    mean = sum(p.mean for p in pairs) / k
    half = Z95 * math.sqrt(sum(p.se ** 2 for p in pairs)) / k
    return Paired(sum(p.n for p in pairs), mean, mean - half, mean + half,
                  better=sum(p.better for p in pairs), worse=sum(p.worse for p in pairs),
                  ties=sum(p.ties for p in pairs))


def compare(res: EvalResult, base: dict[str, EvalResult],
            lower_is_better: bool) -> dict[str, tuple[list[Paired | None], Paired | None]]:
    """Per baseline: (one Paired per set of the program, in its order; the over-sets pair)."""
    out: dict[str, tuple[list[Paired | None], Paired | None]] = {}
    for name, r in base.items():
        if not r.ok:
            continue
        theirs = {s["name"]: s.get("per_instance") for s in r.sets}
        per_set = []
        for s in res.sets:
            mine, other = s.get("per_instance"), theirs.get(s["name"])
            per_set.append(paired(mine, other, lower_is_better)
                           if mine is not None and other is not None else None)
        done = [p for p in per_set if p is not None]
        out[name] = (per_set, over_sets(done) if len(done) == len(per_set) else None)
    return out


def fmt(p: Paired | None) -> str:
    """`-0.91 [-1.39, -0.43]` (or `-` when there is no pair)."""
    if p is None:
        return "-"
    if not math.isfinite(p.low):
        return f"{p.mean:+.3g}"
    return f"{p.mean:+.3g} [{p.low:+.3g}, {p.high:+.3g}]"
