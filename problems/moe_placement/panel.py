"""The MoE placement panel of the web UI: balancedness per level next to the oracle and bounds,
overall and per instance set (one workload trace each)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
    out: list[dict[str, Any]] = []
    per_set = [[s["split"], s["set"], *(s["metrics"].get(k) for k in _PER_SET)] for s in sets
               if isinstance(s.get("metrics"), Mapping)]
    if per_set:
        out.append({"title": "MoE: balancedness per instance set (1 = perfectly balanced)",
                    "columns": ["split", "set", "GPU", "node", "slot", "GPU, oracle",
                                "bound: hierarchical"], "rows": per_set,
                    "note": "means over the set's layers and windows; the worst layers are "
                            "named in the program's feedback below"})
    rows = [[label, metrics[k]] for k, label in _ROWS if k in metrics]
    if rows:
        out.append({"title": "MoE: balancedness (1 = perfectly balanced)",
                    "columns": ["level", "mean over layers"], "rows": rows,
                    "note": "the archive stores the mean over layers; the worst layers are named "
                            "in the program's feedback below"})
    return out
