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


def numba_cache_dir(env: dict[str, str]) -> str | None:
    """The folder where workers keep numba's compiled trusted code (simulators, scorers) across
    runs: NUMBA_CACHE_DIR if set, else <XDG_CACHE_HOME or ~/.cache>/adrs-evolve/numba, made
    private to the user. Candidates never write there (read-only root, another uid or the audit
    hook) and do not see the folder made here (hidden); None if it cannot be made."""
    if env.get("NUMBA_CACHE_DIR"):
        return env["NUMBA_CACHE_DIR"]
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "adrs-evolve", "numba")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return folder


def worker_env(secret_envs: Iterable[str]) -> tuple[dict[str, str], str | None]:
    """(the environment of worker processes, the numba cache folder it adds, if any): the
    allowlist less the key variables, and NUMBA_CACHE_DIR."""
    names = set(secret_envs)
    env = {k: v for k, v in child_env().items() if k not in names}
    cache = numba_cache_dir(env)
    if cache is None or "NUMBA_CACHE_DIR" in env:
        return env, None
    env["NUMBA_CACHE_DIR"] = cache
    return env, cache


class WorkerDied(Exception):
    """A worker process died (twice) while running one task."""


class EvaluatorLost(BaseException):
    """The evaluation backend itself is gone (a lost cluster): the run stops, resumable.

    A BaseException so that no iteration records it as the candidate's or the engine's fault."""


class _Worker:
    """One worker process and its two pipes."""

    def __init__(self, problem_cfg: dict | None, limits: Limits | None, env: dict[str, str],
                 cwd: str | None = None):
        """Start the process; with `problem_cfg`, send its init message (else see `init`)."""
        r, w = os.pipe()
        self.env = env  # what it was started with, and where (evolve.prelaunch compares them)
        self.cwd = os.path.abspath(cwd or os.getcwd())
        self.proc = subprocess.Popen([sys.executable, "-m", "evolve.workerproc", str(w)],
                                     stdin=subprocess.PIPE, pass_fds=(w,),
                                     env=dict(env, EVOLVE_PARENT_PID=str(os.getpid())), cwd=cwd,
                                     start_new_session=False)
        os.close(w)
        self.replies = r
        assert self.proc.stdin is not None
        self.tasks = self.proc.stdin.fileno()
        self._init: dict = {}
        self._ready: dict = {}
        self.gone = False  # hung up: its descriptors are closed
        if problem_cfg is not None and limits is not None:
            self.init(problem_cfg, limits)

    @property
    def initialised(self) -> bool:
        return bool(self._init)

    def init(self, problem_cfg: dict, limits: Limits) -> None:
        """Send the problem and limits; the reply is read later (warm_up): several workers warm
        up at the same time instead of one after the other."""
        limits_d = dataclasses.asdict(limits)
        limits_d["hide"] = list(limits.hide)
        self._init = {"problem_cfg": problem_cfg, "limits": limits_d}
        try:
            send_msg(self.tasks, self._init)
        except OSError:
            self._init = {}

    @property
    def ready(self) -> dict:
        """The worker's answer to its init message (waits for its warm-up)."""
        return self.warm_up()

    def warm_up(self) -> dict:
        """Wait for the worker's answer to its init message (its warm-up)."""
        if not self._ready:
            try:
                reply = recv_msg(self.replies) if self._init else None
            except (OSError, ValueError):
                reply = None
            self._ready = reply or {"ok": False, "error": "the evaluation worker died while "
                                   "warming up (crash in native code?)"}
        return self._ready

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
        self.hang_up()
        self.wait()

    def hang_up(self) -> None:
        """End-of-file on its tasks: the worker kills its child and leaves."""
        if self.gone:
            return
        self.gone = True
        try:
            os.close(self.replies)
        except OSError:
            pass
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass

    def wait(self) -> None:
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Evaluator:
    """Evaluates programs in sandboxed children forked from `workers` warm processes."""

    def __init__(self, problem_cfg: dict, limits: Limits | None = None, workers: int = 2,
                 gate: bool = True, seed: int = 0, secret_envs: Iterable[str] = (),
                 per_instance: bool = False):
        self.problem_cfg = dict(problem_cfg)
        self.per_instance = per_instance  # results carry per-instance values (evolve-replay)
        self.limits = limits or Limits()
        self.workers = max(1, int(workers))
        self.gate, self.seed = gate, int(seed)
        # Variables holding keys (the LLM's api_key_env, whatever its name) never reach a worker
        # and their values are masked in anything that comes back.
        names = set(secret_envs)
        self.env, cache = worker_env(names)
        if cache is not None:  # ours: candidates see none
            self.limits = dataclasses.replace(self.limits, hide=(*self.limits.hide, cache))
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
        """Start the workers; returns once one is warm (the others join the pool when they are:
        the seed's evaluation overlaps their warm-up)."""
        with self._lock:
            if self._spawner is not None:
                return self
            self._spawner = ThreadPoolExecutor(1, thread_name_prefix="evolve-spawn")
            self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="evolve-eval")
        launched = self._spawner.submit(self._launch, self.workers).result()
        self._all.extend(launched)  # close() stops them, warm or not
        try:
            self._adopt(launched[0])
        except BaseException:
            self.close()
            raise
        if len(launched) > 1:
            threading.Thread(target=self._adopt_later, args=(launched[1:],), daemon=True,
                             name="evolve-warm").start()
        return self

    def _launch(self, n: int) -> list[_Worker]:
        """Runs on the spawner thread: workers get a death signal tied to it (those started
        early by evolve.prelaunch, to the main thread)."""
        from evolve import prelaunch

        workers = prelaunch.take(n, self.env)
        workers += [_Worker(None, None, self.env) for _ in range(n - len(workers))]
        # Warm-up is CPU-bound: with no core to spare, the first worker warms up alone (the
        # seed's evaluation waits for it), the others right after it (_adopt_later).
        alone = n >= (os.cpu_count() or 1)
        for i, w in enumerate(workers):
            if i == 0 or not alone:
                w.init(self.problem_cfg, self.limits)
        return workers

    def _spawn(self) -> _Worker:
        assert self._spawner is not None
        w = self._spawner.submit(self._launch, 1).result()[0]
        self._all.append(w)
        return w

    def _adopt(self, w: _Worker) -> None:
        ready = w.warm_up()
        if not ready.get("ok"):
            self._drop(w)
            err = str(ready.get("error", "the worker failed to start")).strip()
            # a problem_error keeps its traceback (the user's own code failed)
            raise ProblemError(err if err.startswith("problem_error") else err.splitlines()[-1])
        if w.gone:  # the pool closed while it warmed up
            return
        info = ready["value"]
        self.isolation, self.isolation_detail = info["isolation"], info["detail"]
        self._idle.put(w)

    def _adopt_later(self, workers: list[_Worker]) -> None:
        """The other workers join the pool as they finish warming up. One that fails is left
        out (the first one, same problem and limits, succeeded); the pool still works."""
        for w in workers:
            if not w.initialised:
                w.init(self.problem_cfg, self.limits)
        for w in workers:
            try:
                self._adopt(w)
            except BaseException:  # noqa: BLE001 - the pool goes on with the warm workers
                pass

    def _drop(self, w: _Worker) -> None:
        w.stop()
        if w in self._all:
            self._all.remove(w)

    def close(self) -> None:
        workers, self._all = list(self._all), []
        for w in workers:  # all hang up first: they leave at the same time
            w.hang_up()
        for w in workers:
            w.wait()
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
                self._drop(w)
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
        if isinstance(res.then, dict):
            res.then = self._result(res.then).to_dict()
        return res

    def _evaluate_args(self, code: str, split: str | None,
                       instance_paths: list[str] | None) -> dict:
        args = {"code": code, "split": split, "instance_paths": instance_paths, "gate": self.gate,
                "seed": self.seed}
        if self.per_instance:
            args["per_instance"] = True
        return args

    async def evaluate(self, code: str, split: str | None = "train",
                       instance_paths: list[str] | None = None,
                       then: tuple[str, float] | None = None) -> EvalResult:
        """Score `code` on a split (or on user instance files); never raises for the candidate.
        `then` = (split, threshold): see worker.evaluate_task (the result's `then`)."""
        self.start()
        loop = asyncio.get_running_loop()
        args = self._evaluate_args(code, split, instance_paths)
        if then is not None:
            args["then"] = [str(then[0]), float(then[1])]
        try:
            value = await loop.run_in_executor(self._threads, self._request, "evaluate", args)
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
