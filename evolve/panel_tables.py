"""Building blocks of the problems' web UI panels (`Problem.panel`): the tables they return."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def per_set_table(sets: Sequence[Mapping[str, Any]], keys: Sequence[str], title: str,
                  columns: Sequence[str], note: str = "") -> list[dict[str, Any]]:
    """One row per stored instance set (split, set name, then the metrics `keys`); [] when the
    program has no per-set rows (an archive older than the set_scores table)."""
    rows = [[s["split"], s["set"], *(s["metrics"].get(k) for k in keys)] for s in sets
            if isinstance(s.get("metrics"), Mapping)]
    if not rows:
        return []
    return [{"title": title, "columns": ["split", "set", *columns], "rows": rows, "note": note}]


def metric_table(metrics: Mapping[str, float], labels: Sequence[tuple[str, str]], title: str,
                 columns: Sequence[str], note: str = "") -> list[dict[str, Any]]:
    """One row per (metric key, label) the program has; [] when it has none of them."""
    rows = [[label, metrics[k]] for k, label in labels if k in metrics]
    return [{"title": title, "columns": list(columns), "rows": rows, "note": note}] if rows else []
