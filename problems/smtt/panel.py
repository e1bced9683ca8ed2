"""The SMTT panel of the web UI: the best program's gap to the reference schedules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_ROWS = (("mean_gap_pct", "mean gap to the reference, %"),
         ("ratio_gap_pct", "gap of the summed tardiness, %"),
         ("max_gap_pct", "worst instance gap, %"),
         ("worst_class_gap_pct", "worst instance class (mean gap), %"),
         ("exact_ref_fraction", "share of instances with an exact reference"),
         ("below_ref", "instances below the reference"),
         ("zero_ref_misses", "zero-tardiness instances missed"),
         ("edd_similarity", "similarity to EDD order (-1..1)"))


def panel(metrics: Mapping[str, float]) -> list[dict[str, Any]]:
    rows = [[label, metrics[k]] for k, label in _ROWS if k in metrics]
    if not rows:
        return []
    return [{"title": "SMTT: gap to the reference (train)", "columns": ["metric", "value"],
             "rows": rows,
             "note": "per-size gaps are not stored in the archive: the worst class gap bounds "
                     "them; `evolve-replay RUN --split test` prints the gap by instance set"}]
