"""Constant tuning inside one sandboxed child: CMA-ES over lifted literals on the cheap stage.

`tune_in_sandbox(problem, payload)` is what the proposer asks the engine to run next to the warm
problem (`ctx.sandbox.call("evolve.proposers.builtin.tuning:tune_in_sandbox", payload)`).
Payload keys:
entry, template, theta_code (or None), x0, seed, max_evals, sigma0, sets, max_sets, jit.

The budget is `max_evals` objective evaluations and nothing here reads a clock: the same payload
gives the same values on any machine, so a run replays wherever it runs. What stops a tuning that
is too slow is the sandbox's CPU limit (the proposal then falls back, and the log says why).
"""

from __future__ import annotations

from typing import Any, cast

import cma  # imported by the warm worker: the sandboxed child may not import new modules
import numpy as np

from evolve.problem import Candidate, InstanceSet, Problem
from evolve.program import load_candidate
from evolve.proposers.builtin.lifting import substitute

_PENALTY = 1e30  # objective of a vector whose program fails (CMA-ES only uses ranks)


class _ThetaCall:
    """The entry called with the current parameter vector appended (one numba compile)."""

    def __init__(self, inner: Candidate, theta: np.ndarray, jit: bool):
        self.inner = inner
        self.theta = theta
        self.jit = jit

    def __call__(self, *args):
        fn = self.inner.fn if self.jit else self.inner.py
        return fn(*args, self.theta)


class Objective:
    """Score of a parameter vector on the tuning sets (higher is better), counting calls."""

    def __init__(self, problem: Problem, payload: dict[str, Any], sets: list[InstanceSet],
                 split: str):
        self.problem = problem
        self.entry = str(payload["entry"])
        self.template = str(payload["template"])
        self.theta_code = payload.get("theta_code")
        self.jit = bool(payload.get("jit", problem.jit_entry))
        self.sets = sets
        self.split = split
        self.evals = 0
        self.mode = "theta" if self.theta_code else "literal"
        self._theta: np.ndarray | None = None
        self._cand: Candidate | None = None
        self.last_error = ""

    def _theta_candidate(self, values: np.ndarray) -> Candidate:
        # _theta is set before _cand, so `_theta is None` implies `_cand is None`: the second test
        # changes nothing but tells mypy that _theta is set below
        if self._cand is None or self._theta is None:
            # only called in mode "theta", which requires theta_code
            inner = load_candidate(cast(str, self.theta_code), self.entry, self.jit)
            self._theta = np.array(values, dtype=np.float64)
            call = _ThetaCall(inner, self._theta, self.jit)
            py = _ThetaCall(inner, self._theta, False)
            self._cand = Candidate(module=inner.module, py=py, jit=call if self.jit else None)
        self._theta[:] = values
        return self._cand

    def _run(self, cand: Candidate) -> float:
        scores = []
        for iset in self.sets:
            outputs = self.problem.run(cand, iset)
            scores.append(self.problem.score_set(iset, outputs))
        score = float(self.problem.summarize(self.split, scores).score)
        if not np.isfinite(score):
            raise ValueError(f"score {score}")
        return score

    def __call__(self, values) -> float | None:
        """The score, or None when the program fails with these values."""
        self.evals += 1
        values = np.asarray(values, dtype=np.float64)
        if self.mode == "theta":
            try:
                cand = self._theta_candidate(values)
                score = self._run(cand)
                if not (self.jit and cand.fallback_reason and self.evals == 1):
                    return score
                # the problem could not use the threaded entry compiled and ran it as plain
                # Python (a simulator that wants cand.jit.dispatcher): far slower than one
                # compile per vector, and tuning's budget would end in the sandbox's time limit
                self.mode = "literal"
            except Exception as e:  # noqa: BLE001 - e.g. the problem wants cand.jit.dispatcher
                if self.evals > 1:
                    self.last_error = f"{type(e).__name__}: {e}"[:300]
                    return None
                self.mode = "literal"  # the threaded version never worked: recompile per vector
        try:
            text = substitute(self.template, values.tolist())
            cand = load_candidate(text, self.entry, self.jit)
            cand.code = text  # what a whole-program problem runs
            return self._run(cand)
        except Exception as e:  # noqa: BLE001 - a failing vector is just a bad point
            self.last_error = f"{type(e).__name__}: {e}"[:300]
            return None


def tuning_sets(problem: Problem, which: str,
                max_sets: int | None) -> tuple[list[InstanceSet], str]:
    """The instance sets to tune on: the train split, or the gate stage (train without one)."""
    sets: list[InstanceSet] = problem.gate_sets() if which == "gate" else []
    split = "gate"
    if not sets:
        sets, split = problem.instance_sets("train"), "train"
    if max_sets:
        sets = sets[: int(max_sets)]
    return list(sets), split


def cma_search(f, x0: np.ndarray, scale: np.ndarray, sigma0: float, seed: int,
               max_evals: int) -> tuple[np.ndarray, float, int]:
    """Minimize f(values) with CMA-ES in scaled coordinates, restarting (wider) when it stalls.

    Exactly `max_evals` calls of f (fewer only if x0 is the whole budget): results depend on the
    seed and f alone.
    """
    best_x, best_f = x0.copy(), f(x0)
    used, restart = 1, 0
    while used < max_evals:
        z0 = (best_x - x0) / scale
        opts = {"seed": int(seed) + restart, "maxfevals": max_evals - used, "verbose": -9,
                "tolflatfitness": 3}
        es = cma.CMAEvolutionStrategy(z0.tolist(), sigma0 * (2.0 ** restart), opts)
        while not es.stop() and used < max_evals:
            zs = es.ask()
            zs = zs[: max_evals - used]
            fs = []
            for z in zs:
                x = x0 + scale * np.asarray(z)
                fx = f(x)
                used += 1
                fs.append(fx)
                if fx < best_f:
                    best_x, best_f = x, fx
            if len(fs) < es.popsize:
                break
            es.tell(zs, fs)
        restart += 1
    return best_x, best_f, used


def tune_in_sandbox(problem: Problem, payload: dict[str, Any]) -> dict[str, Any]:
    """Tune the lifted literals; returns best values, its score and the starting score.

    `timed` says the problem's engine score has a runtime term these scores lack (the proposer
    then compares only with the parent's tuning score, never with its archived one).
    """
    sets, split = tuning_sets(problem, str(payload.get("sets", "train")), payload.get("max_sets"))
    obj = Objective(problem, payload, sets, split)
    x0 = np.asarray(payload["x0"], dtype=np.float64)
    scale = np.maximum(np.abs(x0), 1e-3)
    cache: dict[tuple, float] = {}

    def f(x: np.ndarray) -> float:
        key = tuple(float(f"{v:.6g}") for v in x)  # the values as they would be written back
        if key not in cache:
            s = obj(np.asarray(key))
            cache[key] = _PENALTY if s is None else -s
        return cache[key]

    base = f(x0)
    if base >= _PENALTY:
        return {"ok": False, "error": obj.last_error or "the parent fails on the tuning sets",
                "evals": obj.evals, "mode": obj.mode}
    best_x, best_f, _ = cma_search(f, x0, scale, float(payload.get("sigma0", 0.3)),
                                   int(payload.get("seed", 1)), int(payload.get("max_evals", 64)))
    # put back every literal whose tuned value does not matter: smaller diffs, cleaner programs
    for i in range(len(x0)):
        if best_x[i] != x0[i]:
            trial = best_x.copy()
            trial[i] = x0[i]
            ft = f(trial)
            if ft <= best_f:
                best_x, best_f = trial, ft
    return {
        "ok": True,
        "values": [float(f"{v:.6g}") for v in best_x],
        "score": -best_f,
        "base_score": -base,
        "evals": obj.evals,
        "mode": obj.mode,
        "sets": split,
        "timed": bool(problem.timed_calls),
    }
