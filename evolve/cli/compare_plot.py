"""`evolve-archive compare --plot`: best-so-far score vs iteration per group, the mean over
runs with its 95% bootstrap band, each run as a thin line of the group's colour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from evolve.cli.archive_compare import RunData
from evolve.cli.compare_render import short_name
from evolve.cli.compare_stats import band


def _y_limits(lines: list[np.ndarray], highs: list[np.ndarray]) -> tuple[float, float] | None:
    """From the 5th percentile of the group means up to the top of the bands: a seed scoring
    -600 would otherwise flatten every curve into a line at the top."""
    vals = np.concatenate([x[np.isfinite(x)] for x in lines]) if lines else np.array([])
    tops = np.concatenate([x[np.isfinite(x)] for x in highs]) if highs else np.array([])
    if not len(vals):
        return None
    lo, hi = float(np.percentile(vals, 5)), float(max(tops.max() if len(tops) else vals.max(),
                                                      vals.max()))
    pad = 0.08 * (hi - lo or abs(hi) or 1.0)
    return lo - pad, hi + pad


def plot(groups: dict[str, list[RunData]], problem: str, threshold: float | None,
         out: Path, keys: list[str] | None = None) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")  # no display: this runs on servers and in CI
    import matplotlib.pyplot as plt

    cmap = matplotlib.colormaps["tab10"]
    upto = max(r.last_iteration for runs in groups.values() for r in runs)
    x = np.arange(upto + 1)
    fig, ax = plt.subplots(figsize=(10, 6))
    means, highs, drawn = [], [], []
    for i, (name, runs) in enumerate(groups.items()):
        colour = cmap(i % 10)
        curves = np.array([r.curve(upto) for r in runs])
        for c in curves:
            ax.step(x, c, where="post", color=colour, alpha=0.25, lw=0.8)
        # iterations before every run has a successful program are left out of the band
        full = np.all(np.isfinite(curves), axis=0)
        if not full.any():
            continue
        mean, low, high = band(curves[:, full])
        ax.fill_between(x[full], low, high, step="post", color=colour, alpha=0.2, lw=0)
        ax.step(x[full], mean, where="post", color=colour, lw=2.2,
                label=f"{short_name(name, keys or [])} (n={len(runs)})")
        means.append(mean)
        highs.append(high)
        drawn.append({"group": name, "n": len(runs), "final_mean": float(mean[-1]),
                      "final_ci": [float(low[-1]), float(high[-1])]})
    if threshold is not None:
        ax.axhline(threshold, color="black", ls=":", lw=1,
                   label=f"threshold {threshold:.4g}")
    limits = _y_limits(means, highs)
    clipped = False
    if limits is not None:
        ax.set_ylim(*limits)
        clipped = any(np.nanmin(np.array([r.curve(upto) for r in runs])) < limits[0]
                      for runs in groups.values())
    ax.set_xlim(0, max(upto, 1))
    ax.set_xlabel("iteration")
    ax.set_ylabel("best train score so far (higher is better)")
    title = (f"{problem}: best score so far, mean over runs with 95% bootstrap CI "
             f"(thin: single runs)")
    if clipped:
        title += "\ny axis starts at the 5th percentile of the means: lower values are cut off"
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9, title=", ".join(keys) if keys and len(keys) == 1 else None,
              title_fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return {"path": str(out), "groups": drawn, "clipped": clipped}
