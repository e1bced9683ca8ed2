"""How fast expert popularity drifts between windows: synthetic series against the SGLang pairs.

    python -m evolve.problems.moe_placement.drift

The statistic is the adjacent-window correlation: per layer, the Pearson correlation across
experts of log(1 + load) of the plan window and of the scored window (both rescaled to the same
token count, so the traffic volume does not count as drift), averaged over layers. The generator's
`drift` knob is calibrated so that the train and validation series match the test pairs.
"""

from __future__ import annotations

import numpy as np

from .workloads import TEST_PAIRS, Series, SeriesSpec, generated_series, real_pair

TOKENS = float(1 << 23)  # the SGLang tables' volume (rows sum to 8 x 2^23)


def adjacent_correlation(plan: np.ndarray, score: np.ndarray) -> float:
    """Mean over layers of corr(log(1 + plan[l]), log(1 + score[l])), loads [L, E]."""
    out = []
    for a, b in zip(plan, score):
        if a.sum() <= 0 or b.sum() <= 0:
            continue
        x = np.log1p(a / a.sum() * TOKENS)
        y = np.log1p(b / b.sum() * TOKENS)
        if x.std() > 0 and y.std() > 0:
            out.append(float(np.corrcoef(x, y)[0, 1]))
    return float(np.mean(out)) if out else float("nan")


def series_correlations(series: Series) -> list[float]:
    """The statistic for every (plan, score) pair of a series."""
    return [adjacent_correlation(series.loads[i], series.loads[j]) for i, j in series.pairs]


def compare(seeds=(0, 1, 100, 101), spec: SeriesSpec | None = None) -> dict[str, list[float]]:
    """{"sglang": one value per test pair, "synthetic": one per pair of the seeds' series}
    (default seeds: those of the train and validation splits)."""
    spec = spec or SeriesSpec()
    real = [c for p in TEST_PAIRS for c in series_correlations(real_pair(*p))]
    syn = [c for s in seeds for c in series_correlations(generated_series(f"s{s}", s, spec))]
    return {"sglang": real, "synthetic": syn}


def main() -> None:
    for name, values in compare().items():
        v = np.asarray(values)
        print(f"{name:9s} pairs {v.size:2d}  mean {v.mean():.3f}  median {np.median(v):.3f}  "
              f"min {v.min():.3f}  max {v.max():.3f}")


if __name__ == "__main__":
    main()
