"""A pool of warm sandbox workers that evaluates candidate programs of one problem."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from evolve import worker
from evolve.program import CandidateError
from evolve.result import EvalResult
from evolve.sandbox import Limits

# One BLAS thread per process: the sandbox forbids new threads, and 2 cores are shared anyway.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


class WorkerDied(Exception):
    """A pool process died (twice) while running one task."""


class Evaluator:
    """Evaluates programs in sandboxed children forked from `workers` warm processes."""

    def __init__(self, problem_cfg: dict, limits: Limits | None = None, workers: int = 2,
                 gate: bool = True):
        self.problem_cfg = dict(problem_cfg)
        self.limits = limits or Limits()
        self.workers = max(1, int(workers))
        self.gate = gate
        self._pool: ProcessPoolExecutor | None = None
        self._lock: asyncio.Lock | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> "Evaluator":
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=mp.get_context("spawn"),
                initializer=worker.init_worker,
                initargs=(self.problem_cfg, self.limits),
            )
            # Warm every worker now, so that problem errors surface before the run starts.
            futures = [self._pool.submit(worker.pid) for _ in range(self.workers)]
            for f in futures:
                f.result()
        return self

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "Evaluator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Swap a broken pool for a fresh warm one (once, however many callers saw it break)."""
        if self._pool is broken:
            self._pool = None
            broken.shutdown(wait=False, cancel_futures=False)
            self.start()

    async def _submit(self, fn, *args):
        """Run `fn(*args)` in a worker; a dead worker is replaced and the task retried once."""
        loop = asyncio.get_running_loop()
        if self._lock is None:
            self._lock = asyncio.Lock()
        for attempt in range(2):
            async with self._lock:
                if self._pool is None:
                    await loop.run_in_executor(None, self.start)
                pool = self._pool
            try:
                return await loop.run_in_executor(pool, fn, *args)
            except BrokenProcessPool:
                async with self._lock:
                    await loop.run_in_executor(None, self._replace, pool)
        raise WorkerDied("the evaluation worker died twice on this task (crash in native code?)")

    # ---- evaluation -----------------------------------------------------------------------
    async def evaluate(self, code: str, split: str | None = "train",
                       instance_paths: list[str] | None = None) -> EvalResult:
        """Score `code` on a split (or on user instance files); never raises for the candidate."""
        try:
            d = await self._submit(worker.evaluate_task, code, split, instance_paths, self.gate)
        except WorkerDied as e:
            return EvalResult.failure("runtime_error", str(e))
        return EvalResult.from_dict(d)

    def evaluate_sync(self, code: str, split: str | None = "train",
                      instance_paths: list[str] | None = None) -> EvalResult:
        for _ in range(2):
            pool = self.start()._pool
            try:
                d = pool.submit(worker.evaluate_task, code, split, instance_paths,
                                self.gate).result()
                return EvalResult.from_dict(d)
            except BrokenProcessPool:
                self._replace(pool)
        return EvalResult.failure("runtime_error", "the evaluation worker died twice on this task")

    async def call(self, func: str, payload: dict, timeout_s: float | None = None) -> dict:
        """Run trusted `module:function(problem, payload)` in a sandboxed child (see worker)."""
        try:
            return await self._submit(worker.call_task, func, payload, timeout_s)
        except WorkerDied as e:
            raise CandidateError("runtime_error", str(e)) from None

    def overhead(self, n: int) -> list[float]:
        """Per-child sandbox overhead samples (seconds) from one warm worker."""
        self.start()
        return self._pool.submit(worker.overhead_task, n).result()
