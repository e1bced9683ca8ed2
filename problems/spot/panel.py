"""The spot panel of the web UI: mean cost per scenario next to the offline optimum, per
instance set and overall."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_BASELINES_NOTE = ("baseline costs (greedy, UP) are not in the archive and the web UI evaluates "
                   "nothing: `evolve-replay RUN --baselines all` prints them next to the program")


def _scenario_rows(metrics: Mapping[str, Any]) -> list[list]:
    rows = []
    for name in sorted(k[len("cost/"):] for k in metrics if k.startswith("cost/")):
        cost, bound = metrics[f"cost/{name}"], metrics.get(f"bound/{name}")
        gap = 100.0 * (cost - bound) / bound if isinstance(bound, (int, float)) and bound \
            else None
        rows.append([name, cost, bound, gap])
    return rows


def panel(metrics: Mapping[str, float],
          sets: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    per_set = [[s["split"], s["set"], *row] for s in sets
               if isinstance(s.get("metrics"), Mapping) for row in _scenario_rows(s["metrics"])]
    if per_set:
        out.append({"title": "Spot: mean cost per scenario and instance set",
                    "columns": ["split", "set", "scenario", "cost", "optimum",
                                "above optimum, %"], "rows": per_set, "note": _BASELINES_NOTE})
    rows = _scenario_rows(metrics)
    if rows:
        out.append({"title": "Spot: mean cost per scenario (train)",
                    "columns": ["scenario", "cost", "optimum", "above optimum, %"], "rows": rows,
                    "note": "" if per_set else _BASELINES_NOTE})
    overall = [[label, metrics[k]] for k, label in (
        ("mean_cost", "mean cost"), ("optimum_mean_cost", "optimum mean cost"),
        ("score_0_100", "score (0 = on-demand, 100 = spot price)"),
        ("spot_share", "share of running time on spot"), ("deadline_misses", "deadline misses"),
        ("restarts_per_job", "restarts per job")) if k in metrics]
    if overall:
        out.append({"title": "Spot: overall", "columns": ["metric", "value"], "rows": overall,
                    "note": ""})
    return out
