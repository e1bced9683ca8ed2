"""Trusted scoring of EPLB placements: per-set metrics, references (bounds, oracle), split summary,
and the runtime term from call times the evaluator measured (never from the candidate's outputs)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from evolve.evaluators.moe import Shapes, balance, describe_layer, validate
from evolve.evaluators.moe_bounds import bounds
from evolve.problem import InvalidOutput, SetScore, Summary
from evolve.problems.moe_placement.workloads import Series

# Metrics averaged over (plan, score) pairs; runtime is folded in by apply_timing.
PAIR_METRICS = ("balancedness_gpu", "balancedness_gpu_in_sample", "balancedness_node",
                "balancedness_slot",
                "oracle_gpu", "bound_replication", "bound_hierarchical")


@dataclass(frozen=True)
class Weights:
    """Score = balancedness * out-of-sample GPU balancedness + runtime * ref / (ref +
    runtime_ms)."""

    balancedness: float = 1.0
    runtime: float = 0.05
    runtime_ref_ms: float = 5.0

    def runtime_score(self, runtime_ms: float) -> float:
        return self.runtime_ref_ms / (self.runtime_ref_ms + max(runtime_ms, 1e-3))


def references(series: Series, shapes: Shapes, planner: Callable) -> list[dict[str, float]]:
    """Per pair: the balancedness bounds of the scored window and the oracle (planner run on it)."""
    args = (shapes.num_replicas, shapes.num_groups, shapes.num_nodes, shapes.num_gpus)
    out = []
    for _, j in series.pairs:
        load = series.loads[j]
        planned_phy2log, planned_log2phy, planned_logcnt = planner(load, *args)
        phy2log, _log2phy, logcnt = validate(planned_phy2log, planned_log2phy, planned_logcnt,
                                             load, shapes)
        out.append({**bounds(load, shapes),
                    "oracle_gpu": balance(phy2log, logcnt, load, shapes).gpu})
    return out


def _arrays(outputs: Mapping[str, np.ndarray],
            k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # A fixed-length tuple, so that validate(*_arrays(...), load, shapes) type-checks: mypy maps a
    # star argument of unknown length onto all of validate's parameters.
    try:
        return outputs[f"phy2log_{k}"], outputs[f"log2phy_{k}"], outputs[f"logcnt_{k}"]
    except KeyError as e:
        raise InvalidOutput(f"no output {e.args[0]!r} "
                            "(rebalance_experts must return 3 arrays)") from None


def score_series(series: Series, outputs: Mapping[str, np.ndarray], shapes: Shapes,
                 refs: list[dict[str, float]], worst_layers: int) -> SetScore:
    """Validate each pair's placement on its scored window and measure it in and out of sample."""
    rows = []
    worst = (np.inf, "")
    for k, (i, j) in enumerate(series.pairs):
        try:
            phy2log, _, logcnt = validate(*_arrays(outputs, k), series.loads[j], shapes)
        except InvalidOutput as e:
            raise InvalidOutput(f"{series.name}, planned on {series.labels[i]}: {e}") from None
        oos = balance(phy2log, logcnt, series.loads[j], shapes)
        ins = balance(phy2log, logcnt, series.loads[i], shapes)
        rows.append({"balancedness_gpu": oos.gpu, "balancedness_gpu_in_sample": ins.gpu,
                     "balancedness_node": oos.node, "balancedness_slot": oos.slot, **refs[k]})
        if oos.gpu < worst[0]:
            lines = [describe_layer(phy2log, logcnt, series.loads[j], oos, int(l), shapes,
                                    int(series.layer_ids[l]))
                     for l in np.argsort(oos.layer_gpu, kind="stable")[:worst_layers]]
            head = (f"{series.name}: planned on {series.labels[i]}, scored on {series.labels[j]}: "
                    f"GPU balancedness {oos.gpu:.4f} (in-sample {ins.gpu:.4f}, oracle "
                    f"{refs[k]['oracle_gpu']:.4f}, bounds {refs[k]['bound_replication']:.4f} / "
                    f"{refs[k]['bound_hierarchical']:.4f})")
            worst = (oos.gpu, "\n  ".join([head, "worst layers:"] + lines))
    metrics = {m: float(np.mean([r[m] for r in rows])) for m in PAIR_METRICS}
    return SetScore(series.name, len(rows), metrics, worst[1])


def summarize(split: str, scores: list[SetScore], weights: Weights,
              feedback_sets: int = 2) -> Summary:
    """Pair-weighted means of the set metrics, the balancedness part of the score, and feedback.

    The runtime term is not in it yet: `apply_timing` adds it once the evaluator has timed calls
    (the gate stage and constant tuning score placements only).
    """
    if not scores:
        raise ValueError(f"split {split!r} has no instance sets")
    n = np.array([s.n_instances for s in scores], dtype=np.float64)
    metrics = {m: float(np.dot(n, [s.metrics[m] for s in scores]) / n.sum()) for m in PAIR_METRICS}
    head = (f"{split}: out-of-sample GPU balancedness {metrics['balancedness_gpu']:.4f} "
            f"(in-sample {metrics['balancedness_gpu_in_sample']:.4f}; oracle "
            f"{metrics['oracle_gpu']:.4f}; bounds: replication {metrics['bound_replication']:.4f}, "
            f"hierarchical {metrics['bound_hierarchical']:.4f}); node "
            f"{metrics['balancedness_node']:.4f}, slot {metrics['balancedness_slot']:.4f}")
    worst = sorted(scores, key=lambda s: s.metrics["balancedness_gpu"])[:feedback_sets]
    feedback = "\n".join([head] + [s.feedback for s in worst if s.feedback])
    return Summary(score=weights.balancedness * metrics["balancedness_gpu"], metrics=metrics,
                   feedback=feedback, sets=list(scores))


# A timed call's placement may balance its (fresh, shuffled) load a little worse than the candidate
# balances its own planning windows; much worse means it did not really solve the call.
QUALITY_SLACK = 0.05


def call_quality(load: np.ndarray, outputs: Mapping[str, np.ndarray], shapes: Shapes) -> float:
    """In-sample GPU balancedness of one timed call's placement on its load [L, E]."""
    phy2log, _, logcnt = validate(*_arrays(outputs, 0), load, shapes)
    return float(balance(phy2log, logcnt, load, shapes).gpu)


def apply_timing(summary: Summary, call_seconds: np.ndarray, weights: Weights,
                 call_quality: np.ndarray | None = None) -> Summary:
    """`summary` with the runtime term: median of the evaluator's timed calls [n] (seconds).

    Adds metrics runtime_ms_median and runtime_score, the weighted term to the score, the runtime
    to the first feedback line, and runtime_score as the MAP-Elites behaviour. When the calls'
    placements [n] balance their loads clearly worse than the candidate's own in-sample
    balancedness, the calls were answered without solving them: the runtime term is zero.
    """
    t = np.asarray(call_seconds, dtype=np.float64).ravel()
    if t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError(f"timed calls: expected finite seconds >= 0, got {t.tolist()[:8]}")
    rt = float(np.median(t) * 1e3)
    metrics = {**summary.metrics, "runtime_ms_median": rt,
               "runtime_score": weights.runtime_score(rt)}
    note = ""
    if call_quality is not None and len(call_quality) and np.all(np.isfinite(call_quality)):
        q = float(np.mean(call_quality))
        metrics["timed_call_balancedness_gpu"] = q
        own = summary.metrics.get("balancedness_gpu_in_sample", q)
        if q < own - QUALITY_SLACK:
            metrics["runtime_score"] = 0.0
            note = (f"; timed calls balanced their loads at {q:.4f}, far below the program's own "
                    f"{own:.4f}: answers not computed from the input earn no runtime credit")
    head, _, rest = summary.feedback.partition("\n")
    head += (f"; runtime median {rt:.3f} ms over {t.size} calls (runtime term "
             f"{metrics['runtime_score']:.3f} x weight {weights.runtime:g}){note}")
    return replace(summary, score=summary.score + weights.runtime * metrics["runtime_score"],
                   metrics=metrics, feedback=head + ("\n" + rest if rest else ""),
                   behaviour=metrics["runtime_score"])
