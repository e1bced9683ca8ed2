"""The warm worker: one process per pool slot, holding the problem ready and sandboxing candidates.

Everything here runs inside a pool process. `init_worker` builds and warms the problem once;
`evaluate_task` forks one sandboxed child per candidate (see sandbox.py) and scores what the child
returns with the problem's trusted code; `call_task` runs a trusted function next to the problem
inside a sandboxed child (constant tuning uses it).
"""

from __future__ import annotations

import importlib
import os
import signal
import time
from typing import Any

import numpy as np

from evolve.problem import InstanceSet, Problem, ProblemError, SetScore, make_problem
from evolve.program import CandidateError, load_candidate
from evolve.result import EvalResult, classify_exception, set_dict
from evolve.sandbox import ChildRun, Limits, run_child, send

_STATE: dict[str, Any] = {}

# Candidates run as an unprivileged user that may not be able to read the Python installation
# (e.g. under /root), so everything a heuristic may import is imported here, before the fork.
PRELOAD = (
    "math", "cmath", "heapq", "bisect", "itertools", "functools", "collections", "operator",
    "random", "statistics", "json", "dataclasses", "typing", "copy", "time", "importlib.readers",
    "numpy", "numba", "numba.core.errors", "numba.typed", "numba.np.unsafe.ndarray",
)


def _warm_numba() -> None:
    """Compile a throwaway function so numba's lazily imported parts are loaded pre-fork."""
    import numba

    @numba.njit(cache=False)
    def _probe(x, w):
        order = np.argsort(x)
        acc = 0.0
        for i in range(x.shape[0]):
            acc += max(abs(x[order[i]]) * np.exp(-w[i]) / (1.0 + np.log1p(w[i])), 0.0)
            acc = min(acc, 1e300) ** 1.0 + np.sqrt(abs(acc)) * 0.0
        out = np.empty(x.shape[0], dtype=np.int64)
        out[:] = order
        return acc, out, np.zeros((2, 2)), np.ones(3, dtype=np.bool_)

    _probe(np.arange(5.0), np.ones(5))


def init_worker(problem_cfg: dict, limits: Limits) -> None:
    """Pool initializer: ignore Ctrl-C (the controller stops us) and warm the problem up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in PRELOAD + tuple(problem_cfg.get("preload", ()) or ()):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    _warm_numba()
    problem = make_problem(problem_cfg)
    problem.warm_up()
    _STATE["problem"] = problem
    _STATE["limits"] = limits
    _STATE["sets"] = {}


def _sets(split: str) -> list[InstanceSet]:
    cache = _STATE["sets"]
    if split not in cache:
        problem: Problem = _STATE["problem"]
        cache[split] = problem.gate_sets() if split == "gate" else problem.instance_sets(split)
    return cache[split]


def _check_outputs(outputs: Any) -> dict[str, np.ndarray]:
    if not isinstance(outputs, dict):
        raise CandidateError("invalid_output", f"problem.run returned {type(outputs).__name__}")
    clean = {}
    for k, v in outputs.items():
        a = np.asarray(v)
        if a.dtype == object:
            raise CandidateError("invalid_output", f"output {k!r} is not a numeric array")
        clean[str(k)] = a
    return clean


def _child_body(code: str, stages: list[tuple[str, list[InstanceSet]]]):
    problem: Problem = _STATE["problem"]

    def body(fd: int) -> None:
        cand = load_candidate(code, problem.entry, problem.jit_entry)
        for stage, sets in stages:
            for i, iset in enumerate(sets):
                t0 = time.perf_counter()
                outputs = _check_outputs(problem.run(cand, iset))
                dt = time.perf_counter() - t0
                send(fd, {"type": "set", "stage": stage, "index": i, "runtime": dt,
                          "fallback": cand.fallback_reason}, outputs)
        send(fd, {"type": "done", "fallback": cand.fallback_reason})

    return body


def evaluate_task(code: str, split: str | None = "train", instance_paths: list[str] | None = None,
                  gate: bool = True) -> dict:
    """Evaluate one program in a sandboxed child; returns EvalResult.to_dict()."""
    problem: Problem = _STATE["problem"]
    limits: Limits = _STATE["limits"]
    t0 = time.perf_counter()
    if instance_paths:
        full = problem.load_instances(list(instance_paths))  # ProblemError reaches the caller
        split_name = "instances"
    else:
        full = _sets(split or "train")
        split_name = split or "train"
    stages = []
    gate_sets = _sets("gate") if gate and not instance_paths else []
    if gate_sets:
        stages.append(("gate", gate_sets))
    stages.append(("full", full))
    result = _drive(problem, limits, _child_body(code, stages), stages, split_name)
    result.seconds = time.perf_counter() - t0
    return result.to_dict()


def _drive(problem: Problem, limits: Limits, body, stages, split_name: str) -> EvalResult:
    """Read the child's messages, score each set as it arrives, stop early on a failed gate."""
    scores: dict[str, list[SetScore]] = {name: [] for name, _ in stages}
    by_stage = dict(stages)
    fallback = ""
    error: tuple[str, str] | None = None
    done = False
    child = ChildRun(body, limits)
    try:
        for header, arrays in child:
            fallback = str(header.get("fallback") or "")
            if header.get("type") == "done":
                done = True
                continue
            stage, idx = header.get("stage"), int(header.get("index", -1))
            sets = by_stage.get(stage)
            if sets is None or not 0 <= idx < len(sets) or len(scores[stage]) != idx:
                error = ("runtime_error", "the candidate process sent a malformed result")
                break
            try:
                s = problem.score_set(sets[idx], arrays)
            except Exception as e:  # noqa: BLE001 - InvalidOutput and friends
                error = classify_exception(e)
                break
            s.runtime_s = float(header.get("runtime", 0.0))
            scores[stage].append(s)
            if stage == "gate" and len(scores[stage]) == len(sets):
                summary = problem.summarize("gate", scores["gate"])
                if not problem.gate_passes(summary):
                    return _ok(summary, scores["gate"], "gate", fallback, "")
    finally:
        child.close()
    output = child.output()
    if error is None and not done:
        error = child.failure()
    if error is not None:
        kind, msg = error
        res = EvalResult.failure(kind, msg, output=output[-4000:], compile_fallback=fallback)
        res.stage = "gate" if len(scores.get("full", [])) == 0 and "gate" in scores else "full"
        return res
    summary = problem.summarize(split_name, scores["full"])
    return _ok(summary, scores["full"], "full", fallback, output)


def _ok(summary, sets: list[SetScore], stage: str, fallback: str, output: str) -> EvalResult:
    feedback = summary.feedback
    if fallback:
        feedback = (feedback + f"\ncompile_fallback: numba could not compile the entry, ran in "
                    f"Python ({fallback[:200]})").strip()
    return EvalResult(
        status="ok",
        score=float(summary.score),
        metrics={k: float(v) for k, v in summary.metrics.items()},
        feedback=feedback,
        behaviour=summary.behaviour,
        stage=stage,
        sets=[set_dict(s) for s in sets],
        compile_fallback=fallback,
        output=output[-4000:],
    )


def call_task(func: str, payload: dict, timeout_s: float | None = None) -> dict:
    """Run trusted `module:function(problem, payload)` inside a sandboxed child."""
    problem: Problem = _STATE["problem"]
    limits: Limits = _STATE["limits"]
    if timeout_s:
        limits = Limits(**{**limits.__dict__, "timeout_s": float(timeout_s)})
    mod_name, _, fn_name = func.partition(":")
    fn = getattr(importlib.import_module(mod_name), fn_name)

    def body(fd: int) -> None:
        send(fd, {"type": "done", "result": fn(problem, payload)})

    child = ChildRun(body, limits)
    try:
        for header, _ in child:
            if header.get("type") == "done":
                return header.get("result")
    finally:
        child.close()
    raise CandidateError(*child.failure())


def overhead_task(n: int) -> list[float]:
    """Seconds per trivial sandboxed child (fork, limits, result pipe, reap), n samples."""
    limits: Limits = _STATE["limits"]
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        for kind, item in run_child(lambda fd: send(fd, {"type": "done"}), limits):
            pass
        times.append(time.perf_counter() - t0)
    return times


def pid() -> int:
    return os.getpid()


__all__ = ["init_worker", "evaluate_task", "call_task", "overhead_task", "ProblemError"]
