"""A pool of warm worker processes that evaluates candidate programs of one problem.

Workers are plain subprocesses (workerproc.py) started with an allowlisted environment and spoken
to in length-prefixed JSON: no pickles cross a process boundary, and no secret reaches a process
that forks candidates. A worker that dies is replaced and its task retried once on a fresh one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from evolve.problem import ProblemError
from evolve.program import CandidateError
from evolve.result import EvalResult
from evolve.sandbox import Limits
from evolve.secrets import Scrubber, child_env, secret_values
from evolve.workerproc import recv_msg, send_msg

# One BLAS thread per process: the sandbox forbids new threads, and 2 cores are shared anyway.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


class WorkerDied(Exception):
    """A worker process died (twice) while running one task."""


class EvaluatorLost(BaseException):
    """The evaluation backend itself is gone (a lost cluster): the run stops, resumable.

    A BaseException so that no iteration records it as the candidate's or the engine's fault."""


class _Worker:
    """One worker process and its two pipes."""

    def __init__(self, problem_cfg: dict, limits: Limits, env: dict[str, str],
                 cwd: str | None = None):
        r, w = os.pipe()
        env = dict(env, EVOLVE_PARENT_PID=str(os.getpid()))
        self.proc = subprocess.Popen([sys.executable, "-m", "evolve.workerproc", str(w)],
                                     stdin=subprocess.PIPE, pass_fds=(w,), env=env, cwd=cwd,
                                     start_new_session=False)
        os.close(w)
        self.replies = r
        assert self.proc.stdin is not None
        self.tasks = self.proc.stdin.fileno()
        limits_d = dataclasses.asdict(limits)
        limits_d["hide"] = list(limits.hide)
        self.ready = self.request({"problem_cfg": problem_cfg, "limits": limits_d})

    def request(self, msg: dict, on_note: Callable[[dict], None] | None = None) -> dict:
        try:
            send_msg(self.tasks, msg)
            reply = recv_msg(self.replies)
            while isinstance(reply, dict) and "note" in reply:  # progress ahead of the reply
                if on_note is not None:
                    on_note(reply["note"])
                reply = recv_msg(self.replies)
        except (OSError, ValueError):
            reply = None
        if reply is None:
            raise WorkerDied("the evaluation worker died (crash in native code?)")
        return reply

    def stop(self) -> None:
        try:
            os.close(self.replies)
        except OSError:
            pass
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()  # end-of-file: the worker kills its child and leaves
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


class Evaluator:
    """Evaluates programs in sandboxed children forked from `workers` warm processes."""

    def __init__(self, problem_cfg: dict, limits: Limits | None = None, workers: int = 2,
                 gate: bool = True, seed: int = 0, secret_envs: Iterable[str] = ()):
        self.problem_cfg = dict(problem_cfg)
        self.limits = limits or Limits()
        self.workers = max(1, int(workers))
        self.gate, self.seed = gate, int(seed)
        # Variables holding keys (the LLM's api_key_env, whatever its name) never reach a worker
        # and their values are masked in anything that comes back.
        names = set(secret_envs)
        self.env = {k: v for k, v in child_env().items() if k not in names}
        self.scrub = Scrubber(secret_values(extra=[os.environ.get(n, "") for n in names]))
        self.isolation, self.isolation_detail = "unknown", ""
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        # Workers get a death signal tied to the thread that started them: one long-lived thread.
        self._spawner: ThreadPoolExecutor | None = None
        self._threads: ThreadPoolExecutor | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> Evaluator:
        with self._lock:
            if self._spawner is not None:
                return self
            self._spawner = ThreadPoolExecutor(1, thread_name_prefix="evolve-spawn")
            self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="evolve-eval")
        spawned = [self._spawner.submit(_Worker, self.problem_cfg, self.limits, self.env)
                   for _ in range(self.workers)]
        try:
            for f in spawned:
                self._adopt(f.result())
        except BaseException:
            for f in spawned:  # do not leave the others running
                if f.done() and f.exception() is None:
                    f.result().stop()
            self.close()
            raise
        return self

    def _spawn(self) -> _Worker:
        assert self._spawner is not None
        return self._spawner.submit(_Worker, self.problem_cfg, self.limits, self.env).result()

    def _adopt(self, w: _Worker) -> None:
        if not w.ready.get("ok"):
            w.stop()
            err = str(w.ready.get("error", "the worker failed to start")).strip()
            # a problem_error keeps its traceback (the user's own code failed)
            raise ProblemError(err if err.startswith("problem_error") else err.splitlines()[-1])
        info = w.ready["value"]
        self.isolation, self.isolation_detail = info["isolation"], info["detail"]
        self._all.append(w)
        self._idle.put(w)

    def close(self) -> None:
        for w in self._all:
            w.stop()
        self._all.clear()
        for pool in (self._threads, self._spawner):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._threads = self._spawner = None
        self._idle = queue.Queue()

    def __enter__(self) -> Evaluator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- requests -------------------------------------------------------------------------
    def _request(self, op: str, args: dict, on_note: Callable[[dict], None] | None = None) -> Any:
        """Run one task on an idle worker; a dead worker is replaced and the task retried once."""
        self.start()
        for _attempt in range(2):
            w = self._idle.get()
            try:
                reply = w.request({"op": op, "args": args}, on_note)
            except WorkerDied:
                w.stop()
                self._all.remove(w)
                self._adopt(self._spawn())
                continue
            self._idle.put(w)
            return self._unpack(reply)
        raise WorkerDied("the evaluation worker died twice on this task (crash in native code?)")

    def _unpack(self, reply: dict) -> Any:
        """A worker's reply as a value, a raised ProblemError/CandidateError or an EngineError."""
        if reply["ok"]:
            return reply["value"]
        if reply["kind"] == "problem":
            raise ProblemError(reply["error"])
        if reply["kind"] == "candidate":
            raise CandidateError(reply["failure"], self.scrub(reply["error"]) or "")
        return EngineError(self.scrub(reply["error"]) or "")

    def _result(self, value: Any) -> EvalResult:
        if isinstance(value, EngineError):
            return EvalResult.failure("engine_error", str(value))
        res = EvalResult.from_dict(value)
        for name in ("error", "feedback", "output", "compile_fallback"):
            setattr(res, name, self.scrub(getattr(res, name)) or "")
        res.artifacts = {str(k): self.scrub(str(v)) or "" for k, v in res.artifacts.items()}
        return res

    def _evaluate_args(self, code: str, split: str | None,
                       instance_paths: list[str] | None) -> dict:
        return {"code": code, "split": split, "instance_paths": instance_paths, "gate": self.gate,
                "seed": self.seed}

    async def evaluate(self, code: str, split: str | None = "train",
                       instance_paths: list[str] | None = None) -> EvalResult:
        """Score `code` on a split (or on user instance files); never raises for the candidate."""
        self.start()
        loop = asyncio.get_running_loop()
        try:
            value = await loop.run_in_executor(self._threads, self._request, "evaluate",
                                               self._evaluate_args(code, split, instance_paths))
        except WorkerDied as e:
            return EvalResult.failure("runtime_error", str(e))
        return self._result(value)

    def evaluate_sync(self, code: str, split: str | None = "train",
                      instance_paths: list[str] | None = None,
                      on_set: Callable[[dict], None] | None = None) -> EvalResult:
        """As `evaluate`, blocking; `on_set` gets a note per scored set (name, done, of)."""
        args = self._evaluate_args(code, split, instance_paths)
        if on_set is not None:
            args["notify"] = True
        try:
            value = self._request("evaluate", args, on_set)
        except WorkerDied as e:
            return EvalResult.failure("runtime_error", str(e))
        return self._result(value)

    async def call(self, func: str, payload: dict, timeout_s: float | None = None) -> Any:
        """Run trusted `module:function(problem, payload)` in a sandboxed child (see worker)."""
        self.start()
        loop = asyncio.get_running_loop()
        try:
            value = await loop.run_in_executor(self._threads, self._request, "call",
                                               {"func": func, "payload": payload,
                                                "timeout_s": timeout_s})
        except WorkerDied as e:
            raise CandidateError("runtime_error", str(e)) from None
        if isinstance(value, EngineError):
            raise CandidateError("engine_error", str(value))
        return value

    def overhead(self, n: int) -> dict[str, list[float]]:
        """Per-child sandbox overhead samples (seconds) from one warm worker (see worker)."""
        return self._request("overhead", {"n": n})


class EngineError(str):
    """A worker's own traceback (the engine's fault, not the candidate's)."""
