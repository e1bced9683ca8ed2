"""Choosing the mode (diff / rewrite / fix) and the model of each call.

Both choices read their statistics from `ctx.history` (the archive's deterministic view), never
from memory: a resumed run continues with the same statistics, and the same seed gives the same
choices. Draws use `ctx.rng`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evolve.llm.settings import LLMSettings, ModelSpec
from evolve.program import NO_CHILD
from evolve.proposers.base import ProgramView

LLM_PROPOSERS = ("llm_diff", "llm_rewrite", "llm_fix")


@dataclass
class ArmStats:
    """Totals of one model (or mode) over the LLM children in the history."""

    calls: int = 0
    ok: int = 0
    improved: int = 0
    cost_usd: float = 0.0

    def as_dict(self) -> dict:
        return {"calls": self.calls, "ok": self.ok, "improved": self.improved,
                "cost_usd": round(self.cost_usd, 6)}


def _llm_children(history: list[ProgramView]):
    return (v for v in history if v.proposer in LLM_PROPOSERS)


def mode_stats(history: list[ProgramView]) -> dict[str, ArmStats]:
    stats = {m: ArmStats() for m in ("diff", "rewrite", "fix")}
    for v in _llm_children(history):
        s = stats[v.proposer[4:]]
        s.calls += 1
        s.ok += v.ok
        s.improved += bool(v.improved)
        s.cost_usd += v.cost_usd
    return stats


def model_stats(history: list[ProgramView], models: list[str]) -> dict[str, ArmStats]:
    stats = {m: ArmStats() for m in models}
    for v in _llm_children(history):
        if v.model in stats:
            s = stats[v.model]
            s.calls += 1
            s.ok += v.ok
            s.improved += bool(v.improved)
            s.cost_usd += v.cost_usd
    return stats


def choose_mode(settings: LLMSettings, parent: ProgramView, history: list[ProgramView],
                rng: np.random.Generator) -> str:
    """`fix` (with probability modes.fix) for a parent whose evaluation failed, else diff or
    rewrite.

    With modes.adapt the configured probabilities are scaled by each mode's smoothed rate of
    valid children, (ok + 1) / (calls + 2): a mode whose replies keep failing is used less.
    """
    cfg = settings.modes
    # A diff_failed / llm_error / no_gain row carries its parent's (valid) code: nothing to fix.
    broken = not parent.ok and parent.status not in NO_CHILD
    if broken and rng.random() < float(cfg["fix"]):
        return "fix"
    names = ["diff", "rewrite"]
    w = np.array([float(cfg[m]) for m in names])
    if cfg.get("adapt", True):
        stats = mode_stats(history)
        w = w * np.array([(stats[m].ok + 1) / (stats[m].calls + 2) for m in names])
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def choose_model(settings: LLMSettings, history: list[ProgramView],
                 rng: np.random.Generator) -> ModelSpec:
    """A model by static weights, or by UCB on improvements per dollar (selection.strategy)."""
    models = settings.models
    if len(models) == 1:
        return models[0]
    if settings.selection["strategy"] == "ucb":
        return models[ucb_index(settings, history, rng)]
    w = np.array([m.weight for m in models], dtype=float)
    return models[int(rng.choice(len(models), p=w / w.sum()))]


def ucb_scores(settings: LLMSettings, history: list[ProgramView]) -> list[float]:
    """UCB1 score per model: normalized improvements per dollar + c * sqrt(2 ln N / n).

    A call is charged at least selection.cost_floor_usd, so free local models get a finite
    rate. Untried models score +inf (each is tried first).
    """
    names = [m.model for m in settings.models]
    stats = model_stats(history, names)
    floor = float(settings.selection["cost_floor_usd"])
    c = float(settings.selection["ucb_c"])
    rate = {m: s.improved / max(s.cost_usd, s.calls * floor, 1e-12) for m, s in stats.items()}
    top = max(rate.values()) or 1.0
    total = sum(s.calls for s in stats.values())
    out = []
    for m in names:
        n = stats[m].calls
        if n == 0:
            out.append(math.inf)
        else:
            out.append(rate[m] / top + c * math.sqrt(2.0 * math.log(max(total, 1)) / n))
    return out


def ucb_index(settings: LLMSettings, history: list[ProgramView], rng: np.random.Generator) -> int:
    scores = np.array(ucb_scores(settings, history))
    best = np.flatnonzero(scores == scores.max())
    return int(best[0] if len(best) == 1 else rng.choice(best))
