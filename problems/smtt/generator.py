"""Seeded instance generator: the Potts & Van Wassenhove (1982/1985) scheme.

p_j ~ U{1..100}, w_j ~ U{1..10} (weighted only), P = sum p_j and
d_j ~ U{floor(P(1-TF-RDD/2)) .. floor(P(1-TF+RDD/2))} clamped at 0, for every (RDD, TF) class.
The published n = 100, 200, 500 test sets agree with it (p in 1..100, no negative due date).

`published_n20` is the generator of the published n = 20 test set instead (the DiscoverHeuristics
notebook `testing/data_generation/data_generation.ipynb`): p = int(U(1, 100)) (1..99) and
d = int(U(P(1-TF-RDD/2), P(1-TF+RDD/2))), continuous draws truncated toward zero and not
clamped, so high-TF classes get negative due dates (157 of that set's 800 instances have some).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .instances import Instances, from_arrays

RDD_GRID = (0.2, 0.4, 0.6, 0.8, 1.0)
TF_GRID = (0.2, 0.4, 0.6, 0.8)  # the published test sets; OR-Library also uses TF = 1.0


def processing_times(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,) float64: p_j ~ U{1..100}."""
    return rng.integers(1, 100, size=n, endpoint=True).astype(np.float64)


def instance(rng: np.random.Generator, n: int, rdd: float, tf: float, weighted: bool) -> dict:
    """One instance as a dict of arrays (p, d, w, rdd, tf)."""
    p = processing_times(rng, n)
    w = rng.integers(1, 10, size=n, endpoint=True).astype(np.float64) if weighted else None
    return {"p": p, "d": due_dates(rng, p, rdd, tf), "w": w, "rdd": rdd, "tf": tf}


def due_dates(rng: np.random.Generator, p: np.ndarray, rdd: float, tf: float) -> np.ndarray:
    """(n,) float64 due dates for (n,) processing times p: U{floor(P(1-TF-RDD/2)) ..
    floor(P(1-TF+RDD/2))} clamped at 0, P = sum(p)."""
    total = p.sum()
    lo = int(np.floor(total * (1.0 - tf - rdd / 2.0)))
    hi = int(np.floor(total * (1.0 - tf + rdd / 2.0)))
    return np.maximum(rng.integers(lo, hi, size=p.shape[0], endpoint=True), 0).astype(np.float64)


def published_n20(rng: np.random.Generator, n: int, rdd: float,
                  tf: float) -> tuple[np.ndarray, np.ndarray]:
    """(p, d), both (n,) integer-valued float64, drawn like the published n = 20 test set."""
    p = np.trunc(rng.uniform(1.0, 100.0, size=n))
    total = p.sum()
    d = np.trunc(rng.uniform(total * (1.0 - tf - rdd / 2.0), total * (1.0 - tf + rdd / 2.0),
                             size=n))
    return p, d + 0.0  # + 0.0: no -0.0 in the files


def generate(
    sizes: Sequence[int],
    per_class: int | Sequence[int],
    seed: int,
    weighted: bool = False,
    rdd_grid: Sequence[float] = RDD_GRID,
    tf_grid: Sequence[float] = TF_GRID,
    source: str = "generated",
    published_sizes: Sequence[int] = (),
) -> Instances:
    """per_class instances for every (size, RDD, TF) (a list: one count per size); order: size,
    RDD, TF, repetition. Sizes in `published_sizes` are drawn like the published n = 20 test set
    (`published_n20`, unweighted only), from their own stream seeded by (seed, size)."""
    counts = [int(per_class)] * len(sizes) if isinstance(per_class, int) else list(per_class)
    if len(counts) != len(sizes):
        raise ValueError(f"{len(counts)} per-class counts for {len(sizes)} sizes")
    if weighted and published_sizes:
        raise ValueError("published_sizes: the published n = 20 set is unweighted")
    rng = np.random.default_rng(seed)
    rows = []
    for n, count in zip(sizes, counts):
        side = np.random.default_rng([seed, int(n)]) if n in published_sizes else None
        for rdd in rdd_grid:
            for tf in tf_grid:
                for _ in range(count):
                    # the main stream draws every instance, used or not, so that the other
                    # sizes stay the instances they were (their optima take minutes at n = 500)
                    row = instance(rng, int(n), float(rdd), float(tf), weighted)
                    if side is not None:
                        row["p"], row["d"] = published_n20(side, int(n), float(rdd), float(tf))
                    rows.append(row)
    return from_arrays(rows, weighted, source)
