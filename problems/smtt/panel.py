"""The SMTT panel of the web UI: the program's gap to the reference schedules, overall and per
instance set (the sets are the instance sizes: n20, n40, ..., n500)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evolve.panel_tables import metric_table, per_set_table

_ROWS = (("mean_gap_pct", "mean gap to the reference, %"),
         ("ratio_gap_pct", "gap of the summed tardiness, %"),
         ("max_gap_pct", "worst instance gap, %"),
         ("worst_class_gap_pct", "worst instance class (mean gap), %"),
         ("exact_ref_fraction", "share of instances with an exact reference"),
         ("below_ref", "instances below the reference"),
         ("zero_ref_misses", "zero-tardiness instances missed"),
         ("edd_similarity", "similarity to EDD order (-1..1)"))
_PER_SET = ("mean_gap_pct", "ratio_gap_pct", "max_gap_pct", "zero_ref_misses")


def panel(metrics: Mapping[str, float],
          sets: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    return per_set_table(
        sets, _PER_SET, "SMTT: gap by instance set (size)",
        ["mean gap %", "gap of sums %", "worst gap %", "zero-tardiness misses"],
        "gap = (tardiness - reference) / reference over instances with a nonzero reference; "
        "the test sets: `evolve-replay RUN --split test`") + metric_table(
        metrics, _ROWS, "SMTT: gap to the reference (train, mean over sets)", ["metric", "value"])
