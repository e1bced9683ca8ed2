"""The spot panel of the web UI: mean cost per scenario next to the offline optimum and the
greedy and Uniform Progress baselines, per instance set and overall.

Light on purpose (json only, no numba): the web server imports it. The baseline costs come from
`data/panel_baselines.json`, precomputed with trusted code by `panel_baselines.py`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

BASELINES_FILE = Path(__file__).with_name("data") / "panel_baselines.json"
GREEDY, UP = "greedy", "uniform_progress"
_NOTE = ("greedy and UP: the baselines' mean cost on the same jobs (default config, "
         "data/panel_baselines.json); blank where a set or scenario is not in that file or its "
         "job count or optimum differs (another config)")
_COLUMNS = ["cost", "optimum", "above optimum, %", "greedy", "UP", "vs UP, %"]


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    """The shipped baseline table, or {} when it is missing or unreadable (blank columns)."""
    try:
        got = json.loads(BASELINES_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return got if isinstance(got, dict) else {}


def _num(v: Any) -> float | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok else None


def _same(a: float | None, b: float | None) -> bool:
    """True unless both are known and differ (a fingerprint of the config behind a row)."""
    return a is None or b is None or math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def _node(*keys: str) -> Any:
    node: Any = _table().get("problems")
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def reference(problem: str, split: str, set_name: str, scenario: str,
              metrics: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(greedy, UP) mean cost of one scenario of one stored set, or blanks when the file has no
    such row or the row's job count or optimum shows another config."""
    node = _node(problem, "splits", split, set_name, scenario)
    if not isinstance(node, Mapping):
        return None, None
    if not (_same(_num(metrics.get(f"count/{scenario}")), _num(node.get("n")))
            and _same(_num(metrics.get(f"bound/{scenario}")), _num(node.get("optimum")))):
        return None, None
    return _num(node.get(GREEDY)), _num(node.get(UP))


def _pct(cost: float | None, ref: float | None) -> float | None:
    return 100.0 * (cost - ref) / ref if cost is not None and ref else None


def _scenario_rows(metrics: Mapping[str, Any], problem: str, split: str,
                   set_name: str | None) -> list[list]:
    rows = []
    for name in sorted(k[len("cost/"):] for k in metrics if k.startswith("cost/")):
        cost, bound = _num(metrics[f"cost/{name}"]), _num(metrics.get(f"bound/{name}"))
        if set_name is None:  # the train summary: the set is the one holding that scenario
            greedy, up = _train_reference(problem, name, metrics)
        else:
            greedy, up = reference(problem, split, set_name, name, metrics)
        rows.append([name, cost, bound, _pct(cost, bound), greedy, up, _pct(cost, up)])
    return rows


def _train_reference(problem: str, scenario: str,
                     metrics: Mapping[str, Any]) -> tuple[float | None, float | None]:
    sets = _node(problem, "splits", "train")
    owners = [s for s, rows in sets.items() if isinstance(rows, Mapping) and scenario in rows] \
        if isinstance(sets, Mapping) else []
    if len(owners) != 1:
        return None, None
    return reference(problem, "train", owners[0], scenario, metrics)


def panel(metrics: Mapping[str, float], sets: Sequence[Mapping[str, Any]] = (),
          problem: str = "") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    per_set = [[s["split"], s["set"], *row] for s in sets
               if isinstance(s.get("metrics"), Mapping)
               for row in _scenario_rows(s["metrics"], problem, str(s.get("split")),
                                         str(s.get("set")))]
    if per_set:
        out.append({"title": "Spot: mean cost per scenario and instance set",
                    "columns": ["split", "set", "scenario", *_COLUMNS], "rows": per_set,
                    "note": _NOTE})
    rows = _scenario_rows(metrics, problem, "train", None)
    if rows:
        out.append({"title": "Spot: mean cost per scenario (train)",
                    "columns": ["scenario", *_COLUMNS], "rows": rows,
                    "note": "" if per_set else _NOTE})
    overall = [[label, metrics[k]] for k, label in (
        ("mean_cost", "mean cost"), ("optimum_mean_cost", "optimum mean cost"),
        ("score_0_100", "score (0 = on-demand, 100 = spot price)"),
        ("spot_share", "share of running time on spot"), ("deadline_misses", "deadline misses"),
        ("restarts_per_job", "restarts per job")) if k in metrics]
    if overall:
        out.append({"title": "Spot: overall", "columns": ["metric", "value"], "rows": overall,
                    "note": ""})
    return out


# the problem classes of this package and the names their panels look up (SpotProblem.name);
# tests/unit/test_panel_hook.py holds this equal to what the classes' own hooks do
_CLASS_PROBLEMS = {"SpotSingleProblem": "spot_single", "SpotMultiProblem": "spot_multi"}


def hook_for(class_name: str) -> Callable[..., list[dict[str, Any]]] | None:
    """The panel of problem class `class_name`, for the web server (which does not import the
    classes: their simulators load numba)."""
    problem = _CLASS_PROBLEMS.get(class_name)
    return None if problem is None else partial(panel, problem=problem)
