"""The warm worker: holds the problem ready, forks one sandboxed child per candidate, scores it.

Everything here runs inside a worker process (workerproc.py). `init_worker` builds and warms the
problem once and decides the isolation plan; `evaluate_task` runs a candidate in a sandboxed child
(sandbox.py) through the cascade's stages and the full split, read and scored by drive.py;
`call_task` runs a
trusted function next to the problem inside a sandboxed child (constant tuning uses it).
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from evolve import episode, evalmarks, frames, isolation, sandbox
from evolve.compiled import recording
from evolve.drive import Drive, exit_failure, reported, trusted
from evolve.evalmarks import mark
from evolve.isolation import Plan
from evolve.problem import (
    Candidate,
    InstanceSet,
    Problem,
    Stage,
    make_problem,
)
from evolve.program import CandidateError, load_candidate
from evolve.result import attach_per_instance, evaluate_in_process
from evolve.sandbox import Child, Limits, describe_status

_STATE: dict[str, Any] = {}
# Sends a progress note to the controller ahead of the task's reply (set by workerproc).
NOTE: Callable[[dict], None] | None = None
# Candidates may run as a user that cannot read the Python installation (e.g. under /root), and
# /proc is hidden from them, so everything a heuristic may import is imported here, before forks.
PRELOAD = (
    "math", "cmath", "heapq", "bisect", "itertools", "functools", "collections", "operator",
    "random", "statistics", "json", "dataclasses", "typing", "copy", "time", "importlib.readers",
    "numpy", "numba", "numba.core.errors", "numba.typed", "numba.np.unsafe.ndarray",
)

def _warm_numba() -> Callable[[int], None]:
    """Compile throwaway functions so numba's lazy parts load pre-fork; return numba's seeder."""
    import numba

    @numba.njit(cache=True)  # trusted code, cached on disk by the worker: start-up skips compiling
    def _probe(x, w):
        order = np.argsort(x)
        acc = 0.0
        for i in range(x.shape[0]):
            acc += max(abs(x[order[i]]) * np.exp(-w[i]) / (1.0 + np.log1p(w[i])), 0.0)
            acc = min(acc, 1e300) ** 1.0 + np.sqrt(abs(acc)) * 0.0
        out = np.empty(x.shape[0], dtype=np.int64)
        out[:] = order
        return acc, out, np.zeros((2, 2)), np.ones(3, dtype=np.bool_)

    @numba.njit(cache=True)
    def _seed(s):
        np.random.seed(s)

    _probe(np.arange(5.0), np.ones(5))
    _seed(0)
    _STATE["probe"] = _probe
    return _seed


def preload(extra: tuple[str, ...]) -> None:
    """Import what candidates may import (PRELOAD and `extra`) and load numba's lazy parts."""
    for name in PRELOAD + extra:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if "numba_seed" not in _STATE:
        _STATE["numba_seed"] = _warm_numba()


def init_worker(problem_cfg: dict, limits: Limits) -> dict[str, str]:
    """Warm the problem up, then find out which isolation this machine allows."""
    preload(tuple(problem_cfg.get("preload", ()) or ()))
    problem = make_problem({k: v for k, v in problem_cfg.items() if k != "preload"})
    _STATE["problem"] = problem
    trusted(problem.warm_up, "warm_up (loading the instances)")
    if not _warm_compiler(problem, str(problem_cfg.get("seed_program") or "")):
        # Loaded from numba's cache, the probe compiled nothing: compile a fresh copy so that the
        # compiler's lazily imported parts are in memory before children (which may not be
        # allowed to read the Python installation) compile candidates.
        import numba

        numba.njit(cache=False)(_STATE["probe"].py_func)(np.arange(5.0), np.ones(5))
    _STATE.update(problem=problem, limits=limits, sets={})
    _STATE["plan"], reason = probe(limits)
    # What warm-up built stays for good: the worker's full collections skip it (92 ms CPU for
    # SMTT's 144,000 objects, 0.01 ms frozen).
    gc.collect()
    gc.freeze()
    return {"isolation": "full" if _STATE["plan"].full else "reduced",
            "detail": _STATE["plan"].label + (f"; {reason}" if reason else "")}


def _warm_compiler(problem: Problem, seed_program: str) -> bool:
    """Compile and run the problem's own seed once, here: numba's one-time typing and LLVM set-up
    then happen before the fork instead of in every child (about 150 ms per SMTT candidate).
    Only a seed from the problem's own seeds folder, trusted like the problem's code, runs here."""
    try:
        path = problem.seed_path(seed_program).resolve()
        if problem.seeds_root().resolve() not in path.parents:
            return False
        sets = (problem.gate_sets() or problem.instance_sets("train"))[:1]
    except Exception:  # noqa: BLE001 - no seed to warm with: children compile from scratch
        return False
    with recording():  # its numba functions, compiled here, serve candidates that keep them
        res = evaluate_in_process(problem, path.read_text(), sets=sets)
    return problem.jit_entry and res.ok and not res.compile_fallback


def probe(limits: Limits) -> tuple[Plan, str]:
    """Full isolation if a trivial child gets through it, else reduced (and why)."""
    root = os.geteuid() == 0
    hide = tuple(limits.hide) + _STATE["problem"].private_dirs()
    full = Plan(True, root, os.geteuid(), os.getegid(), hide)
    child = Child(_runner, limits, full)
    child.start({"type": "noop", "seed": 0})
    try:
        frame = child.next_frame()
    except frames.FrameError:
        frame = None
    end = child.close(wait_s=5.0)
    if frame is not None and frame[0].get("type") == "done" and end.status == 0:
        return full, ""
    why = frames.text(frame[0].get("message"), 300) if frame else describe_status(end.status)[1]
    return Plan(False, root, os.geteuid(), os.getegid()), why


def _sets(split: str) -> list[InstanceSet]:
    """The sets of a split, of the gate, or of a cascade stage ("stage:<name>"), cached here
    before the fork (a child may not read the disk)."""
    cache = _STATE["sets"]
    if split not in cache:
        problem: Problem = _STATE["problem"]
        if split.startswith("stage:"):
            cache[split] = _stage(split[len("stage:"):]).sets
        else:
            cache[split] = problem.gate_sets() if split == "gate" else \
                problem.instance_sets(split)
    return cache[split]


def _cascade() -> list[Stage]:
    if "cascade" not in _STATE:
        _STATE["cascade"] = trusted(_STATE["problem"].cascade, "cascade")
    return _STATE["cascade"]


def _stage(name: str) -> Stage:
    return next(st for st in _cascade() if st.name == name)


def _seed(code: str, seed: int) -> None:
    """Seed the child's generators from (run seed, program text): replays are reproducible."""
    digest = hashlib.sha256(f"{seed}\0{code}".encode()).digest()
    value = int.from_bytes(digest[:8], "little")
    isolation.seed_everything(value, _STATE.get("numba_seed"))
    default_rng = np.random.default_rng

    def seeded_rng(seed: Any = None) -> np.random.Generator:
        return default_rng(value if seed is None else seed)

    np.random.default_rng = seeded_rng


def _spawn(limits: Limits) -> Child:
    child = Child(_runner, limits, _STATE["plan"])
    # What the child has without reading the disk (it may not be allowed to): data and modules.
    child.cached = set(_STATE["sets"]) | set(sys.modules)
    return child


def refill() -> None:
    """Fork and confine the next child now: while a candidate computes (a child's idle chore),
    else after its result, while the controller digests it."""
    sandbox.reap()
    if _STATE.get("plan") is not None and _STATE.get("standby") is None:
        _STATE["standby"] = _spawn(_STATE["limits"])


def shut_down() -> None:
    """Kill the standby child (the worker is leaving)."""
    child = _STATE.pop("standby", None)
    if child is not None:
        child.close(need_status=False)


def _take_child(limits: Limits, needs: set[str], streamed: bool = False) -> Child:
    """The standby child if it fits (same limits; the data sets or modules it `needs` loaded
    before it forked, unless they are `streamed` to it), else a new one."""
    child = _STATE.pop("standby", None)
    if child is not None and child.limits == limits and (streamed or needs <= child.cached) \
            and child.alive():
        return child
    if child is not None:
        child.close(need_status=False)
    return _spawn(limits)


# ---- the candidate's side -----------------------------------------------------------------
def _run_sets(problem: Problem, cand: Candidate, stage: str, split: str, inbox: episode.Inbox,
              res: int) -> bool:
    """Run one stage's sets: streamed from the worker, or from the sets loaded before the fork.
    False when the worker stopped streaming (it has what it needs)."""
    if problem.streams:
        served = episode.serve_stage(problem, cand, stage, inbox, res)
        mark(f"child: ran {stage}")
        return served
    for i, iset in enumerate(_STATE["instances"] if split == "instances" else _sets(split)):
        outputs = episode.check_outputs(problem.run(cand, iset))
        mark(f"child: ran {stage} {i}")
        frames.write(res, {"type": "set", "stage": stage, "index": i}, outputs)
    return True


def _runner(task: dict, res: int, cmd: int) -> None:
    """Inside the confined child: seed, then run what the worker asked for."""
    evalmarks.MARKS.clear()  # the worker's, inherited at the fork
    mark("child: task read")
    _STATE["gc_at_task"] = gc.get_stats() if evalmarks.PROFILE else []
    _seed(str(task.get("code", "")), int(task.get("seed", 0)))
    mark("child: seeded")
    problem: Problem = _STATE.get("problem")  # type: ignore[assignment]
    if problem is not None and problem.streams and task["type"] == "evaluate":
        episode.forget_data(problem)  # the data arrives round by round, from the worker
        _STATE.pop("sets", None)
        _STATE.pop("instances", None)
    if task["type"] == "noop":
        frames.write(res, {"type": "done"})
    elif task["type"] == "call":
        mod_name, _, fn_name = task["func"].partition(":")
        fn = getattr(importlib.import_module(mod_name), fn_name)
        result = fn(problem, task["payload"])
        sandbox.flush_std()
        frames.write(res, {"type": "done", "result": result})
    else:
        if problem.whole_program:
            cand = Candidate(module=None, py=print, code=task["code"])
        else:
            cand = load_candidate(task["code"], problem.entry, problem.jit_entry)
        mark("child: loaded")
        inbox = episode.Inbox(cmd)
        then, rng = task.get("then"), None
        for stage, split in task["stages"]:
            if stage == "full" and then:  # what a fresh child's generators hold here
                rng = isolation.rng_state()
            if not _run_sets(problem, cand, stage, split, inbox, res):
                return
        if then and rng is not None and cand.jit is not None and episode.go_on(inbox, res):
            isolation.set_rng_state(rng)
            if not _run_sets(problem, cand, "then", then, inbox, res):
                return
        if task["timed"]:
            frames.write(res, {"type": "ready"})
            episode.serve_calls(problem, cand, inbox, res)
        if evalmarks.PROFILE:
            gc_runs = [b["collections"] - a["collections"]
                       for a, b in zip(_STATE["gc_at_task"], gc.get_stats())]
            frames.write(res, {"type": "profile", "marks": evalmarks.MARKS, "gc_runs": gc_runs})
        sandbox.flush_std()
        frames.write(res, {"type": "done", "fallback": cand.fallback_reason})


# ---- the worker's side --------------------------------------------------------------------
def evaluate_task(code: str, split: str | None = "train", instance_paths: list[str] | None = None,
                  gate: bool = True, seed: int = 0, notify: bool = False,
                  then: list | None = None, per_instance: bool = False) -> dict:
    """Evaluate one program in a sandboxed child; returns EvalResult.to_dict(). With `notify`,
    a note per scored set of the full stage goes to the controller first (replay's progress).

    `then` = [split, threshold]: when the full stage scores at least `threshold`, the same child
    also runs `split` (its compiled code reused, its generators reset to where a fresh child's
    would be) and the result carries that evaluation in `then`; anything that goes wrong there
    only drops it (the caller evaluates the split anew). Used for validation. `per_instance`:
    the full stage's sets carry their per-instance values (evolve-replay's paired comparison)."""
    problem: Problem = _STATE["problem"]
    t0 = time.perf_counter()
    mark("worker: task received")
    if instance_paths:
        full = problem.load_instances(list(instance_paths))  # ProblemError reaches the caller
        split_name = "instances"
    else:
        full = _sets(split or "train")
        split_name = split or "train"
    stages = []
    if gate and not instance_paths:
        for st in _cascade():
            if _sets(f"stage:{st.name}"):
                stages.append((st.name, f"stage:{st.name}", _sets(f"stage:{st.name}")))
    stages.append(("full", split_name, full))
    timed = problem.timed_calls > 0
    if then and (instance_paths or timed or problem.whole_program or not problem.jit_entry):
        then = None  # only a compiled entry is known to keep no state between calls
    then_sets = _sets(str(then[0])) if then else []  # loaded before the child forks
    if instance_paths and not problem.streams:
        _STATE["instances"] = full
        child = _spawn(_STATE["limits"])  # the standby forked before these sets existed
    else:
        child = _take_child(_STATE["limits"], {split for _, split, _ in stages}
                            | ({str(then[0])} if then else set()), problem.streams)
    child.idle = refill  # the next standby forks while this candidate computes
    mark("worker: child taken")
    child.start({"type": "evaluate", "code": code, "seed": seed, "timed": timed,
                 "stages": [[stage, split] for stage, split, _ in stages],
                 "then": str(then[0]) if then else None})
    drive = Drive(problem, child, [(stage, sets) for stage, _, sets in stages], split_name, timed,
                  _cascade())
    if then:
        drive.then = (str(then[0]), then_sets, float(then[1]))
    drive.notify = NOTE if notify else None
    result = drive.run()
    if per_instance and result.ok and result.stage == "full":
        attach_per_instance(result, drive.scores["full"])
    mark("worker: scored, child closed")
    _STATE["child_profile"] = child.profile
    result.seconds = time.perf_counter() - t0
    out = result.to_dict()
    mark("worker: result dict")
    return out


def call_task(func: str, payload: dict, timeout_s: float | None = None) -> Any:
    """Run trusted `module:function(problem, payload)` inside a sandboxed child."""
    limits: Limits = _STATE["limits"]
    if timeout_s:
        limits = Limits(**{**limits.__dict__, "timeout_s": float(timeout_s)})
    mod_name = func.partition(":")[0]
    importlib.import_module(mod_name)  # here, trusted, before the fork: the child may not read it
    child = _take_child(limits, {mod_name})
    child.idle = refill
    child.start({"type": "call", "func": func, "payload": payload,
                 "code": str(payload.get("code", "")), "seed": int(payload.get("seed", 0))})
    error: tuple[str, str] | None = None
    try:
        frame = child.next_frame()
    except frames.FrameError as e:
        frame, error = None, ("invalid_output", str(e))
    done = frame is not None and frame[0]["type"] in ("done", "error")
    end = child.close(need_status=not done)
    if frame is not None and frame[0]["type"] == "done":
        return frame[0].get("result")
    if frame is not None and frame[0]["type"] == "error":
        error = reported(frame[0])
    raise CandidateError(*(error or exit_failure(end, limits)))


def overhead_task(n: int) -> dict[str, list[float]]:
    """Seconds per trivial sandboxed child, n samples each: `critical` is what an evaluation
    waits for (task to a standby child, result frame, reap); `cycle` adds forking and confining
    the next standby (done while the controller records the previous result)."""
    critical, cycle = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        refill()
        t1 = time.perf_counter()
        child = _take_child(_STATE["limits"], set())
        child.start({"type": "noop", "seed": 0})
        child.next_frame()
        child.close(need_status=False)
        t2 = time.perf_counter()
        critical.append(t2 - t1)
        cycle.append(t2 - t0)
    return {"critical": critical, "cycle": cycle}


TASKS = {"evaluate": evaluate_task, "call": call_task, "overhead": overhead_task}
