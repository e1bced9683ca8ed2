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


class Evaluator:
    """Evaluates programs in sandboxed children forked from `workers` warm processes."""

    def __init__(self, problem_cfg: dict, limits: Limits | None = None, workers: int = 2,
                 gate: bool = True):
        self.problem_cfg = dict(problem_cfg)
        self.limits = limits or Limits()
        self.workers = max(1, int(workers))
        self.gate = gate
        self._pool: ProcessPoolExecutor | None = None

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

    def _restart(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        self.start()

    # ---- evaluation -----------------------------------------------------------------------
    async def evaluate(self, code: str, split: str | None = "train",
                       instance_paths: list[str] | None = None) -> EvalResult:
        """Score `code` on a split (or on user instance files); never raises for the candidate."""
        loop = asyncio.get_running_loop()
        self.start()
        try:
            d = await loop.run_in_executor(
                self._pool, worker.evaluate_task, code, split, instance_paths, self.gate)
        except BrokenProcessPool:
            self._restart()
            return EvalResult.failure("runtime_error", "the evaluation worker died; restarted it")
        return EvalResult.from_dict(d)

    def evaluate_sync(self, code: str, split: str | None = "train",
                      instance_paths: list[str] | None = None) -> EvalResult:
        self.start()
        try:
            d = self._pool.submit(worker.evaluate_task, code, split, instance_paths,
                                  self.gate).result()
        except BrokenProcessPool:
            self._restart()
            return EvalResult.failure("runtime_error", "the evaluation worker died; restarted it")
        return EvalResult.from_dict(d)

    async def call(self, func: str, payload: dict, timeout_s: float | None = None) -> dict:
        """Run trusted `module:function(problem, payload)` in a sandboxed child (see worker)."""
        loop = asyncio.get_running_loop()
        self.start()
        try:
            return await loop.run_in_executor(self._pool, worker.call_task, func, payload, timeout_s)
        except BrokenProcessPool:
            self._restart()
            raise CandidateError("runtime_error", "the evaluation worker died; restarted it")

    def overhead(self, n: int) -> list[float]:
        """Per-child sandbox overhead samples (seconds) from one warm worker."""
        self.start()
        return self._pool.submit(worker.overhead_task, n).result()
