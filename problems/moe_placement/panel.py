"""The MoE placement panel of the web UI: balancedness per level next to the oracle and bounds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_ROWS = (("balancedness_gpu", "GPU (out of sample)"),
         ("balancedness_gpu_in_sample", "GPU (in sample)"),
         ("balancedness_node", "node"),
         ("balancedness_slot", "slot"),
         ("oracle_gpu", "GPU, oracle placement"),
         ("bound_replication", "bound: replication only"),
         ("bound_hierarchical", "bound: hierarchical"),
         ("timed_call_balancedness_gpu", "GPU, timed calls"))


def panel(metrics: Mapping[str, float]) -> list[dict[str, Any]]:
    rows = [[label, metrics[k]] for k, label in _ROWS if k in metrics]
    if not rows:
        return []
    return [{"title": "MoE: balancedness (1 = perfectly balanced)",
             "columns": ["level", "mean over layers"], "rows": rows,
             "note": "the archive stores the mean over layers; the worst layers are named in "
                     "the program's feedback below"}]
