"""An I/O-bound problem for the scale-out benchmark: a candidate `wait(x)` sleeps, then answers.

The sleep stands for a simulator waiting on something else (a service, a device): core count
does not cap the evaluations per minute, the number of warm workers does.
"""

from __future__ import annotations

import numpy as np

from evolve.problem import InstanceSet, InvalidOutput, Problem, SetScore, Summary


class SleepyProblem(Problem):
    """Score is minus |wait(x) - sum(x)| on one small instance; candidates usually sleep."""

    name = "sleepy"
    entry = "wait"
    signature = "def wait(x: np.ndarray[float64]) -> float"
    description = "Return the sum of x (benchmark problem: candidates sleep first)."
    jit_entry = False  # time.sleep is plain Python

    def instance_sets(self, split: str) -> list[InstanceSet]:
        return [InstanceSet(f"one_{split}", np.arange(4.0)[None, :], 1)]

    def run(self, candidate, iset):
        return {"sums": np.array([float(candidate.fn(x)) for x in iset.data])}

    def score_set(self, iset, outputs):
        sums = outputs.get("sums")
        if sums is None or sums.shape != (len(iset.data),):
            raise InvalidOutput("expected one sum per instance")
        err = float(np.mean(np.abs(sums - iset.data.sum(axis=1))))
        return SetScore(iset.name, iset.size, {"error": err})

    def summarize(self, split, scores):
        err = float(np.mean([s.metrics["error"] for s in scores]))
        return Summary(score=-err, metrics={"error": err}, feedback=f"error {err:.3g}",
                       behaviour=err)
