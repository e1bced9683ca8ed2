"""Metrics of replayed spot runs: per instance set, folded per split, and the feedback text."""

from __future__ import annotations

import math

import numpy as np

from evolve.evaluators import spot
from evolve.problem import SetScore, Summary

_SUMS = ("n", "cost_sum", "cost_sumsq", "misses", "forced", "spot_ticks", "od_ticks",
         "idle_ticks", "restarts", "work_h_sum", "bound_sum", "bound_n")


def set_metrics(batch: spot.SpotBatch, stats: np.ndarray, bound: np.ndarray | None) -> dict:
    """Sums over the set's jobs plus per-scenario mean cost ('cost/<scenario>'), job count
    ('count/<scenario>') and omniscient bound ('bound/<scenario>')."""
    cost = stats[:, spot.ST_COST]
    m = {
        "n": float(batch.n),
        "cost_sum": float(cost.sum()),
        "cost_sumsq": float((cost ** 2).sum()),
        "misses": float(stats[:, spot.ST_MISS].sum()),
        "forced": float(stats[:, spot.ST_FORCED].sum()),
        "spot_ticks": float(stats[:, spot.ST_SPOT].sum()),
        "od_ticks": float(stats[:, spot.ST_OD].sum()),
        "idle_ticks": float(stats[:, spot.ST_IDLE].sum()),
        "restarts": float(stats[:, spot.ST_RESTARTS].sum()),
        "work_h_sum": float(batch.work.sum() / 3600.0),
        "bound_sum": 0.0,
        "bound_n": 0.0,
        "mean_cost": float(cost.mean()) if batch.n else 0.0,
    }
    finite = bound if bound is not None and np.isfinite(bound).all() else None
    if finite is not None:
        m["bound_sum"], m["bound_n"] = float(finite.sum()), float(batch.n)
    for s, name in enumerate(batch.scenario_names):
        sel = batch.scenario == s
        if sel.any():
            m[f"cost/{name}"] = float(cost[sel].mean())
            m[f"count/{name}"] = float(sel.sum())
            if finite is not None:
                m[f"bound/{name}"] = float(finite[sel].mean())
    return m


def summarize_sets(scores: list[SetScore], weighting: str, std_penalty: float, od_price: float,
                   spot_price: float) -> Summary:
    """Score = -(mean cost + std_penalty * std); weighting 'instance' averages jobs, 'scenario'
    averages scenario means (the ADRS multi-region rule)."""
    tot = {k: sum(s.metrics.get(k, 0.0) for s in scores) for k in _SUMS}
    scen_cost, scen_bound, scen_n = {}, {}, {}
    for s in scores:
        for k, v in s.metrics.items():
            if k.startswith("cost/"):
                scen_cost[k[5:]] = v
            elif k.startswith("bound/"):
                scen_bound[k[6:]] = v
            elif k.startswith("count/"):
                scen_n[k[6:]] = v
    n = max(tot["n"], 1.0)
    per_job = tot["cost_sum"] / n
    std = math.sqrt(max(tot["cost_sumsq"] / n - per_job ** 2, 0.0))
    has_bound = tot["bound_n"] == tot["n"] and len(scen_bound) == len(scen_cost)
    if weighting == "scenario" and scen_cost:
        mean = float(np.mean(list(scen_cost.values())))
        bound = float(np.mean(list(scen_bound.values()))) if has_bound else math.nan
    else:
        mean = per_job
        bound = tot["bound_sum"] / n if has_bound else math.nan
    work_h = tot["work_h_sum"] / n
    od_anchor, spot_anchor = od_price * work_h, spot_price * work_h

    def pct(c: float) -> float:
        return (100.0 * (od_anchor - c) / (od_anchor - spot_anchor) if od_anchor > spot_anchor
                else 0.0)

    running = tot["spot_ticks"] + tot["od_ticks"]
    metrics = {
        "mean_cost": mean,
        "std_cost": std,
        "score_0_100": pct(mean),
        "jobs": tot["n"],
        "deadline_misses": tot["misses"],
        "forced_ticks_per_job": tot["forced"] / n,
        "spot_share": tot["spot_ticks"] / running if running else 0.0,
        "restarts_per_job": tot["restarts"] / n,
    }
    if has_bound:
        metrics["optimum_mean_cost"] = bound
        metrics["optimum_score_0_100"] = pct(bound)
    for name, v in scen_cost.items():
        metrics[f"cost/{name}"] = v
        if name in scen_bound:
            metrics[f"bound/{name}"] = scen_bound[name]
    return Summary(
        score=-(mean + std_penalty * std),
        metrics=metrics,
        feedback=_feedback(metrics, scen_cost, scen_bound, scen_n),
        behaviour=metrics["spot_share"],
        sets=scores,
    )


def _feedback(m: dict, cost: dict, bound: dict, count: dict, k: int = 3) -> str:
    lines = [f"mean cost ${m['mean_cost']:.2f} over {int(m['jobs'])} jobs "
             f"(score_0_100 {m['score_0_100']:.1f}; std ${m['std_cost']:.2f})"]
    if "optimum_mean_cost" in m:
        lines[0] += f"; omniscient lower bound ${m['optimum_mean_cost']:.2f}"
    lines.append(f"spot share of paid ticks {m['spot_share']:.2f}; the simulator forced "
                 f"on-demand {m['forced_ticks_per_job']:.1f} ticks per job; "
                 f"{m['restarts_per_job']:.1f} restarts per job"
                 + (f"; {int(m['deadline_misses'])} deadline misses" if m["deadline_misses"]
                    else ""))
    if cost:
        gap = {s: c - bound.get(s, 0.0) for s, c in cost.items()}
        worst = sorted(gap, key=lambda s: gap[s], reverse=True)[:k]
        what = "cost above the bound" if bound else "mean cost"
        lines.append(f"Worst scenarios ({what}):")
        for s in worst:
            extra = f" vs bound ${bound[s]:.2f}" if s in bound else ""
            lines.append(f"- {s}: ${cost[s]:.2f}{extra} (n={int(count.get(s, 0))})")
    return "\n".join(lines)
