"""Test problems for outside-problem loading: a three-stage cascade and a deliberately buggy one.

Candidates define `solve(k) -> float`; the score is the value it returns on the stage's k. Stage
k passes when the value is sane (< 100), so a candidate can stop at stage 1 or 2 with a score
higher than any full evaluation: the engine must still rank it below them."""

from __future__ import annotations

import numpy as np
from stage_rules import sane  # a helper module next to this file (the folder is on sys.path)

from evolve.problem import InstanceSet, Problem, SetScore, Stage, Summary


def _set(k: int) -> InstanceSet:
    return InstanceSet(f"k{k}", k, 1)


class Cascade3(Problem):
    """Three stages: stage1 (k=1), stage2 (k=2, 5 s of its own), then the full split (k=3)."""

    name = "cascade3"
    entry = "solve"
    signature = "def solve(k: int) -> float"
    description = "Return a number; bigger is better, but every value must stay below 100."

    def instance_sets(self, split: str) -> list[InstanceSet]:
        return [_set(3)]

    def cascade(self) -> list[Stage]:
        return [Stage("stage1", [_set(1)], pass_if=sane),
                Stage("stage2", [_set(2)], pass_if=sane, timeout_s=5.0)]

    def run(self, candidate, iset):
        return {"v": np.array([float(candidate.fn(iset.data))])}

    def score_set(self, iset, outputs):
        return SetScore(iset.name, 1, {"v": float(outputs["v"][0])})

    def summarize(self, split, scores):
        v = float(np.mean([s.metrics["v"] for s in scores]))
        return Summary(score=v, metrics={"v": v}, feedback=f"value {v:g}",
                       artifacts={"note": f"{split}: {v:g}"})


class Buggy(Cascade3):
    """Cascade3 whose own code fails where `bug` says."""

    def cascade(self) -> list[Stage]:
        return []

    def instance_sets(self, split: str) -> list[InstanceSet]:
        if self.cfg.get("bug") == "instances":
            raise FileNotFoundError("instances.csv")
        return super().instance_sets(split)

    def score_set(self, iset, outputs):
        if self.cfg.get("bug") == "score_set":
            return {}["missing_metric"]
        return super().score_set(iset, outputs)

    def summarize(self, split, scores):
        if self.cfg.get("bug") == "summarize":
            raise ZeroDivisionError("division by zero in my summarize")
        return super().summarize(split, scores)
