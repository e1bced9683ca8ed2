"""The MoE placement panel of the web UI: balancedness per level next to the oracle and bounds,
overall and per instance set (one workload trace each)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evolve.panel_tables import metric_table, per_set_table

_ROWS = (("balancedness_gpu", "GPU (out of sample)"),
         ("balancedness_gpu_in_sample", "GPU (in sample)"),
         ("balancedness_node", "node"),
         ("balancedness_slot", "slot"),
         ("oracle_gpu", "GPU, oracle placement"),
         ("bound_replication", "bound: replication only"),
         ("bound_hierarchical", "bound: hierarchical"),
         ("timed_call_balancedness_gpu", "GPU, timed calls"))
_PER_SET = ("balancedness_gpu", "balancedness_node", "balancedness_slot", "oracle_gpu",
            "bound_hierarchical")


def panel(metrics: Mapping[str, float],
          sets: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    return per_set_table(
        sets, _PER_SET, "MoE: balancedness per instance set (1 = perfectly balanced)",
        ["GPU", "node", "slot", "GPU, oracle", "bound: hierarchical"],
        "means over the set's layers and windows; the worst layers are named in the program's "
        "feedback below") + metric_table(
        metrics, _ROWS, "MoE: balancedness (1 = perfectly balanced)",
        ["level", "mean over layers"], "the archive stores the mean over layers; the worst layers "
        "are named in the program's feedback below")
