"""The spot panel of the web UI: mean cost per scenario next to the offline optimum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def panel(metrics: Mapping[str, float]) -> list[dict[str, Any]]:
    scenarios = sorted(k[len("cost/"):] for k in metrics if k.startswith("cost/"))
    rows = []
    for name in scenarios:
        cost, bound = metrics[f"cost/{name}"], metrics.get(f"bound/{name}")
        gap = 100.0 * (cost - bound) / bound if bound else None
        rows.append([name, cost, bound, gap])
    out: list[dict[str, Any]] = []
    if rows:
        out.append({"title": "Spot: mean cost per scenario (train)",
                    "columns": ["scenario", "cost", "optimum", "above optimum, %"], "rows": rows,
                    "note": "baseline costs (greedy, UP) are not stored in the archive: "
                            "`evolve-replay RUN` prints them next to the program"})
    overall = [[label, metrics[k]] for k, label in (
        ("mean_cost", "mean cost"), ("optimum_mean_cost", "optimum mean cost"),
        ("score_0_100", "score (0 = on-demand, 100 = spot price)"),
        ("spot_share", "share of running time on spot"), ("deadline_misses", "deadline misses"),
        ("restarts_per_job", "restarts per job")) if k in metrics]
    if overall:
        out.append({"title": "Spot: overall", "columns": ["metric", "value"], "rows": overall,
                    "note": ""})
    return out
