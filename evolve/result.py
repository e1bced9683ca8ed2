"""Evaluation results and the in-process evaluation path (trusted code: baselines, tests)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from evolve.problem import Candidate, InputMutation, InstanceSet, InvalidOutput, Problem, SetScore
from evolve.program import CandidateError, load_candidate


@dataclass
class EvalResult:
    """Outcome of evaluating one program on one split (or on user instance files)."""

    status: str  # "ok" or a failure kind
    score: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    feedback: str = ""
    error: str = ""
    behaviour: float | None = None
    stage: str = "full"  # gate | full
    # [{"name", "n_instances", "metrics", "runtime_s"}]; runtime_s is measured by the worker
    sets: list[dict] = field(default_factory=list)
    compile_fallback: str = ""
    seconds: float = 0.0
    output: str = ""  # captured stdout/stderr tail
    artifacts: dict[str, str] = field(default_factory=dict)  # named texts from the scorer
    # the same program on another split, run by the same child (worker.evaluate_task `then`)
    then: dict[str, Any] | None = None

    def stored_artifacts(self) -> dict[str, str]:
        """What the archive keeps per program: the scorer's texts and the captured output."""
        out = dict(self.artifacts)
        if self.output.strip():
            out["output"] = self.output
        return out

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalResult:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    @classmethod
    def failure(cls, kind: str, error: str, **kw: Any) -> EvalResult:
        return cls(status=kind, error=error[:2000], feedback=f"{kind}: {error}"[:2000], **kw)


def classify_exception(e: BaseException) -> tuple[str, str]:
    """Map an exception raised by candidate code to (failure kind, one-line message)."""
    if isinstance(e, CandidateError):
        return e.kind, e.message
    if isinstance(e, MemoryError):
        return "memory_limit", "MemoryError: the candidate exceeded its memory limit"
    if isinstance(e, InputMutation):
        return "input_mutation", str(e)
    if isinstance(e, InvalidOutput):
        return "invalid_output", str(e)
    msg = f"{type(e).__name__}: {e}".strip()
    if isinstance(e, ValueError) and ("read-only" in str(e) or "WRITEABLE" in str(e)):
        return "input_mutation", f"the candidate wrote to a read-only input ({msg})"
    if isinstance(e, ModuleNotFoundError):
        return "runtime_error", (f"{msg} (candidates may import the preloaded modules only: "
                                 "numpy, numba, math, heapq, itertools, collections, ...)")
    if isinstance(e, SystemExit):
        return "runtime_error", f"the candidate called sys.exit({e.code!r})"
    return "runtime_error", msg.splitlines()[0][:500] if msg else type(e).__name__


def set_dict(s: SetScore) -> dict[str, Any]:
    return {"name": s.name, "n_instances": s.n_instances, "metrics": s.metrics,
            "feedback": s.feedback, "runtime_s": s.runtime_s}


def attach_per_instance(res: EvalResult, scores: list[SetScore]) -> None:
    """Copy each set's per-instance values into the result's set dicts (JSON: NaN -> None);
    only on request (evolve-replay): a run's archive keeps its per-set metrics only."""
    for entry, s in zip(res.sets, scores):
        if s.per_instance is not None and entry.get("name") == s.name:
            entry["per_instance"] = [float(x) if np.isfinite(x) else None
                                     for x in np.asarray(s.per_instance, dtype=np.float64)]


def run_sets(problem: Problem, candidate: Candidate, sets: list[InstanceSet]) -> list[SetScore]:
    """Run and score each set in this process (no isolation: trusted code only)."""
    scores = []
    for iset in sets:
        t0 = time.perf_counter()
        outputs = problem.run(candidate, iset)
        runtime = time.perf_counter() - t0
        score = problem.score_set(iset, outputs)
        score.runtime_s = runtime
        scores.append(score)
    return scores


def timing_rng() -> np.random.Generator:
    """Fresh, unpredictable randomness for timing inputs (a candidate must not foresee them)."""
    return np.random.default_rng(int.from_bytes(os.urandom(16), "little"))


# Bound at import, before any candidate runs in this process: a candidate that replaces
# time.perf_counter cannot stop the clock that times it.
_clock = time.perf_counter


def time_calls(problem: Problem, candidate: Candidate,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, quality) per timed entry call, in this process (trusted code only); the first
    call is a warm-up and counts for neither."""
    times, quality = [], []
    for k, args in enumerate(problem.timing_args(rng)):
        t0 = _clock()
        outputs = problem.call_entry(candidate, args)
        dt = _clock() - t0
        q = problem.check_call(args, outputs)
        if k:
            times.append(dt)
            quality.append(q)
    return np.asarray(times, dtype=np.float64), np.asarray(quality, dtype=np.float64)


def evaluate_in_process(
    problem: Problem,
    program: str | Callable,
    split: str = "train",
    sets: list[InstanceSet] | None = None,
    jit: bool | None = None,
    per_instance: bool = False,
) -> EvalResult:
    """Evaluate program text or a callable without a sandbox (baselines, tests, benchmarks);
    `per_instance`: the sets carry their per-instance values (attach_per_instance)."""
    t0 = time.perf_counter()
    sets = problem.instance_sets(split) if sets is None else sets
    try:
        if isinstance(program, str):
            cand = load_candidate(program, problem.entry, problem.jit_entry if jit is None else jit)
        else:
            cand = Candidate(module=None, py=program)
        scores = run_sets(problem, cand, sets)
        summary = problem.summarize(split, scores)
        if problem.timed_calls:
            summary = problem.apply_timing(summary, *time_calls(problem, cand, timing_rng()))
    except Exception as e:  # noqa: BLE001 - reported as a failure kind
        kind, msg = classify_exception(e)
        return EvalResult.failure(kind, msg, seconds=time.perf_counter() - t0)
    res = EvalResult(
        status="ok",
        score=float(summary.score),
        metrics={k: float(v) for k, v in summary.metrics.items()},
        feedback=summary.feedback,
        behaviour=summary.behaviour,
        sets=[set_dict(s) for s in scores],
        compile_fallback=cand.fallback_reason,
        seconds=time.perf_counter() - t0,
    )
    if per_instance:
        attach_per_instance(res, scores)
    return res


def finite(x: Any) -> bool:
    try:
        return bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False
