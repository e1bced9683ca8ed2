"""Operator choice that adapts to what has worked, derived from the archive's history.

The statistics are recomputed from `ctx.history` (each child records its proposer kind and
operator, and whether it beat its parent), so the bandit state is deterministic for a given
history and survives a resume without being stored anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

from evolve.proposers.base import ProgramView

BUILTIN_KINDS = ("mutation", "crossover", "tune")


@dataclass
class ArmStats:
    """Trials and successes (children that beat their parent) of one operator."""

    trials: int = 0
    wins: int = 0


class OperatorBandit:
    """Probability matching: share ~ prior weight x smoothed success rate, with a floor.

    The success rate of each operator is shrunk towards the pooled rate of all built-in
    operators with `prior_n` pseudo-trials, so an operator with few trials keeps its prior share
    and one that keeps failing fades to `floor` of the uniform share but is never switched off.
    """

    def __init__(self, weights: dict[str, float], window: int = 200, prior_n: float = 4.0,
                 floor: float = 0.1):
        self.weights = {k: float(v) for k, v in weights.items() if float(v) > 0}
        self.window = int(window)
        self.prior_n = float(prior_n)
        self.floor = float(floor)

    def stats(self, history: list[ProgramView]) -> dict[str, ArmStats]:
        """Per-operator counts over the last `window` built-in children in the history."""
        mine = [p for p in history if p.proposer in BUILTIN_KINDS and p.operator in self.weights]
        if self.window > 0:
            mine = mine[-self.window:]
        out = {k: ArmStats() for k in self.weights}
        for p in mine:
            s = out[cast(str, p.operator)]  # in self.weights: filtered above
            s.trials += 1
            s.wins += int(bool(p.improved))
        return out

    def probabilities(self, history: list[ProgramView], arms: list[str]) -> np.ndarray:
        """Selection probabilities of `arms` (those applicable now), in that order."""
        arms = [a for a in arms if a in self.weights]
        if not arms:
            return np.zeros(0)
        stats = self.stats(history)
        trials = sum(s.trials for s in stats.values())
        pooled = (sum(s.wins for s in stats.values()) + 1.0) / (trials + 2.0)
        rate = np.array([(stats[a].wins + self.prior_n * pooled) / (stats[a].trials + self.prior_n)
                         for a in arms])
        w = np.array([self.weights[a] for a in arms])
        share = w * rate / np.sum(w * rate)
        prior = w / np.sum(w)
        share = np.maximum(share, self.floor * prior)
        return share / share.sum()

    def choose(self, history: list[ProgramView], arms: list[str], rng: np.random.Generator) -> str:
        p = self.probabilities(history, arms)
        usable = [a for a in arms if a in self.weights]
        return usable[int(rng.choice(len(usable), p=p))]
