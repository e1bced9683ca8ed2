"""Expert-load workloads: the shipped SGLang statistics, a seeded time-series generator, window
files.

Every workload is a `Series`: load windows [T, L, E] (token-to-expert counts of L MoE layers and E
routed experts) and the (plan, score) pairs to evaluate: plan on window i, score on window j.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from evolve.problem import ProblemError

DATA = Path(__file__).parent / "data" / "sglang_ep_statistics.npz"

# Test split: plan on the first table, score on the second (other lengths, other phase, or both).
TEST_PAIRS = (
    ("prefill_in1024", "prefill_in4096"),
    ("decode_in1000out1000", "decode_in2000out100"),
    ("prefill_in512", "prefill_in2048"),
    ("decode_in500out1500", "decode_in1800out100"),
    ("prefill_in1000out1000", "prefill_in2000out100"),
    ("prefill_in500out1500", "prefill_in1800out100"),
    ("prefill_in2048", "decode_in1000out1000"),
    ("decode_in2000out100", "prefill_in1024"),
)


@dataclass(frozen=True)
class Series:
    """Load windows [T, L, E] float64 with window labels [T], model layer ids [L], (plan, score)
    pairs."""

    name: str
    loads: np.ndarray
    labels: tuple[str, ...]
    layer_ids: np.ndarray
    pairs: tuple[tuple[int, int], ...]

    @property
    def num_experts(self) -> int:
        return int(self.loads.shape[2])


@lru_cache(maxsize=1)
def real_statistics() -> dict[str, np.ndarray]:
    """The 12 DeepSeek-V3/R1 statistics tables by name, each [61 layers, 256 experts] int32
    counts."""
    with np.load(DATA) as z:
        return {k: z[k] for k in sorted(z.files)}


def moe_rows(tables: np.ndarray) -> np.ndarray:
    """Indices of the layer rows that are non-zero in at least one window of `tables` [T, L, E]."""
    return np.flatnonzero(np.asarray(tables).any(axis=(0, 2)))


def real_pair(plan: str, score: str) -> Series:
    """Plan on statistics file `plan`, score on `score` (both names of the shipped tables)."""
    stats = real_statistics()
    for key in (plan, score):
        if key not in stats:
            raise ProblemError(f"problem.splits.test.pairs: unknown statistics {key!r} "
                               f"(choose from {', '.join(stats)})")
    both = np.stack([stats[plan], stats[score]]).astype(np.float64)
    rows = moe_rows(both)
    return Series(f"{plan}->{score}", both[:, rows], (plan, score), rows, ((0, 1),))


# ---- synthetic time series ---------------------------------------------------------------------
@dataclass(frozen=True)
class SeriesSpec:
    """Knobs of the synthetic load time series (calibrated against the shipped SGLang
    statistics)."""

    layers: int = 58
    experts: int = 256
    groups: int = 8  # DeepSeek-V3 routes through 8 groups of 32 experts; groups have their own skew
    windows: int = 6
    tokens_min: int = 1 << 17  # tokens per window, log-uniform between min and max
    tokens_max: int = 1 << 20
    top_k: int = 8
    skew_min: float = 0.5  # per-layer std of the experts' log-popularity, uniform in [min, max]
    skew_max: float = 0.75
    # Student-t log-popularity: a few experts far hotter than a log-normal gives
    tail_dof: float = 15.0
    group_skew: float = 0.35  # std of each group's log-popularity offset
    mix_corr: float = 0.7  # correlation of the prefill and the decode popularity
    # random-walk step of log-popularity per window; 0.4 matches the adjacent-window correlation
    # of the SGLang test pairs (drift.py: mean 0.887 vs 0.898; 0.2 gave 0.934)
    drift: float = 0.4
    reversion: float = 0.9  # pull of the walk back to the base popularity (AR(1) coefficient)
    switch_prob: float = 0.3  # chance per window to switch between prefill-, decode-heavy, mixed
    burst_prob: float = 0.05  # chance per layer and window that one expert bursts
    burst_gain_min: float = 2.0
    burst_gain_max: float = 5.0
    burst_windows: int = 2
    ratio_min: float = 5.0  # max/mean expert load of every layer and window is tempered into
    ratio_max: float = 14.0  # [ratio_min, ratio_max] (the SGLang tables span about 3.7-13.7)

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any] | None, where: str) -> SeriesSpec:
        """Spec from a config section; unknown or badly typed keys raise ProblemError naming
        `where`."""
        cfg = dict(cfg or {})
        known = {f.name: f.type for f in fields(cls)}
        kw: dict[str, Any] = {}  # keys checked against fields(cls) below, values cast to int/float
        for key, value in cfg.items():
            if key not in known:
                raise ProblemError(f"{where}.{key}: unknown generator key (known: "
                                   f"{', '.join(known)})")
            want = int if known[key] == "int" else float
            try:
                kw[key] = want(value)
            except (TypeError, ValueError):
                raise ProblemError(f"{where}.{key}={value!r}: expected a number") from None
        spec = cls(**kw)
        bad = spec._problem()
        if bad:
            raise ProblemError(f"{where}: {bad}")
        return spec

    def _problem(self) -> str:
        if self.layers < 1 or self.experts < 1 or self.windows < 2:
            return (f"need layers >= 1, experts >= 1, windows >= 2 "
                    f"(got {self.layers}, {self.experts}, {self.windows})")
        if self.groups < 1 or self.experts % self.groups:
            return f"experts={self.experts} must split into groups={self.groups}"
        if not 1 <= self.tokens_min <= self.tokens_max:
            return f"need 1 <= tokens_min <= tokens_max (got {self.tokens_min}, {self.tokens_max})"
        if not 0 <= self.skew_min <= self.skew_max or self.tail_dof <= 2:
            return "need 0 <= skew_min <= skew_max and tail_dof > 2"
        if not 1 <= self.ratio_min <= self.ratio_max <= self.experts:
            return (f"need 1 <= ratio_min <= ratio_max <= experts "
                    f"(got {self.ratio_min}, {self.ratio_max})")
        for name in ("mix_corr", "reversion", "switch_prob", "burst_prob"):
            if not 0 <= getattr(self, name) <= 1:
                return f"{name}={getattr(self, name)} must lie in [0, 1]"
        return ""


def _popularity(rng: np.random.Generator, spec: SeriesSpec, skew: np.ndarray) -> np.ndarray:
    """Log-popularity [L, E]: heavy-tailed expert terms plus a shared offset per group."""
    t = rng.standard_t(spec.tail_dof, (spec.layers, spec.experts))
    t /= np.sqrt(spec.tail_dof / (spec.tail_dof - 2))  # unit variance, so `skew` is the std
    group = rng.normal(0.0, spec.group_skew, (spec.layers, spec.groups))
    return skew[:, None] * t + np.repeat(group, spec.experts // spec.groups, axis=1)


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def _temper(share: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Shares [L, E] raised to a per-layer power so that max/mean lies in [lo, hi]."""
    E = share.shape[1]
    ratio = share.max(axis=1) * E
    target = np.clip(ratio, lo, hi)
    log = np.log(share)
    a = np.zeros(len(share))  # power 0 is uniform (ratio 1); the ratio grows with the power
    b = np.full(len(share), 4.0)
    for _ in range(40):
        mid = 0.5 * (a + b)
        above = _softmax(mid[:, None] * log).max(axis=1) * E > target
        b = np.where(above, mid, b)
        a = np.where(above, a, mid)
    power = np.where(ratio == target, 1.0, 0.5 * (a + b))
    return _softmax(power[:, None] * log)


def generate(seed: int, spec: SeriesSpec) -> np.ndarray:
    """Seeded load windows [windows, layers, experts] (float64 integer counts).

    Prefill and decode traffic have correlated but different popularity; the served mix switches
    between prefill-heavy, decode-heavy and mixed; popularity drifts as a mean-reverting random
    walk; now and then one expert bursts for a few windows. Each layer's skew is tempered into
    [ratio_min, ratio_max] (max/mean expert load). Counts are Poisson draws of tokens * top_k *
    share.
    """
    rng = np.random.default_rng(seed)
    L, E, T = spec.layers, spec.experts, spec.windows
    skew = rng.uniform(spec.skew_min, spec.skew_max, L)
    prefill = _popularity(rng, spec, skew)
    c = spec.mix_corr
    decode = c * prefill + np.sqrt(1 - c * c) * _popularity(rng, spec, skew)
    mixes = np.array([0.85, 0.15, 0.5])  # prefill share of the traffic in each regime
    regime = int(rng.integers(3))
    walk_p = np.zeros((L, E))
    walk_d = np.zeros((L, E))
    burst_left = np.zeros((L, E), np.int64)
    burst_gain = np.ones((L, E))
    out = np.empty((T, L, E))
    for t in range(T):
        if t and rng.random() < spec.switch_prob:
            regime = (regime + int(rng.integers(1, 3))) % 3
        walk_p = spec.reversion * walk_p + rng.normal(0.0, spec.drift, (L, E))
        walk_d = spec.reversion * walk_d + rng.normal(0.0, spec.drift, (L, E))
        start = rng.random(L) < spec.burst_prob
        for l in np.flatnonzero(start):
            e = int(rng.integers(E))
            burst_left[l, e] = spec.burst_windows
            burst_gain[l, e] = rng.uniform(spec.burst_gain_min, spec.burst_gain_max)
        m = mixes[regime]
        share = m * _softmax(prefill + walk_p) + (1 - m) * _softmax(decode + walk_d)
        share = share * np.where(burst_left > 0, burst_gain, 1.0)
        share = _temper(share / share.sum(axis=1, keepdims=True), spec.ratio_min, spec.ratio_max)
        burst_left = np.maximum(burst_left - 1, 0)
        tokens = np.exp(rng.uniform(np.log(spec.tokens_min), np.log(spec.tokens_max)))
        out[t] = rng.poisson(share * tokens * spec.top_k)
    return out


def generated_series(name: str, seed: int, spec: SeriesSpec) -> Series:
    """A generated series; plan on window i, score on window i + 1."""
    loads = generate(seed, spec)
    pairs = tuple((i, i + 1) for i in range(spec.windows - 1))
    labels = tuple(f"window {i}" for i in range(spec.windows))
    return Series(name, loads, labels, np.arange(spec.layers), pairs)


# ---- user window files (evolve-replay --instances) ----------------------------------------------
def _window_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.json"), key=lambda x: x.name)
            if not found:
                raise ProblemError(f"{p}: no *.json window files in this folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise ProblemError(f"{p}: no such file or folder")
    return files


def _read_window(path: Path) -> np.ndarray:
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise ProblemError(f"{path}: cannot read ({e})") from None
    except json.JSONDecodeError as e:
        raise ProblemError(f"{path}: line {e.lineno}: invalid JSON ({e.msg})") from None
    if not isinstance(obj, dict) or "logical_count" not in obj:
        raise ProblemError(f"{path}: field 'logical_count' missing (expected "
                           f"{{\"logical_count\": [[...]]}})")
    try:
        a = np.asarray(obj["logical_count"], dtype=np.float64)
    except (TypeError, ValueError):
        raise ProblemError(f"{path}: field 'logical_count' is not a table of numbers") from None
    if a.ndim != 2 or a.size == 0:
        raise ProblemError(f"{path}: field 'logical_count' has shape {a.shape}, expected "
                           "[layers][experts]")
    bad = np.argwhere(~np.isfinite(a) | (a < 0))
    if bad.size:
        l, x = bad[0]
        raise ProblemError(f"{path}: logical_count[{l}][{x}] = {float(a[l, x])!r}, expected a "
                           "finite count >= 0")
    return a


def read_windows(paths: list[str]) -> Series:
    """Window files in SGLang format ({"logical_count": [[E floats] x L]}) as one series.

    Folders are read in file-name order; layer rows that are zero in every window (dense layers)
    are dropped; plan on window i, score on window i + 1.
    """
    files = _window_files(paths)
    if len(files) < 2:
        raise ProblemError(f"{', '.join(paths)}: need at least 2 window files (plan on one, score "
                           "on the next)")
    tables = [_read_window(f) for f in files]
    for f, a in zip(files, tables):
        if a.shape != tables[0].shape:
            raise ProblemError(f"{f}: logical_count has shape {a.shape}, but {files[0].name} has "
                               f"{tables[0].shape}")
    loads = np.stack(tables)
    rows = moe_rows(loads)
    if rows.size == 0:
        raise ProblemError(f"{files[0].parent}: every window file is all zero")
    name = Path(paths[0]).name if len(paths) == 1 else f"{files[0].stem}..{files[-1].stem}"
    pairs = tuple((i, i + 1) for i in range(len(files) - 1))
    return Series(name, loads[:, rows], tuple(f.name for f in files), rows, pairs)
