"""In-process engine parts for fast tests: the real controller, archive, selector and proposers,
with candidates scored in this process (trusted test programs only, no sandbox)."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

from evolve.archive import Archive, sqlite_url
from evolve.config import compose, to_dict
from evolve.loop import Budget, Controller
from evolve.problem import make_problem
from evolve.proposers import make_proposers
from evolve.proposers.base import ProblemInfo
from evolve.result import EvalResult, evaluate_in_process
from evolve.selection import IslandSelector

ROOT = Path(__file__).resolve().parents[2]
CONF = str(ROOT / "tests" / "conf")


class InProcessEvaluator:
    """The Evaluator's interface (evaluate, call) on the real scoring path, without a sandbox."""

    def __init__(self, problem_cfg: dict):
        self.problem = make_problem({k: v for k, v in problem_cfg.items() if k != "preload"})
        self.problem.jit_entry = False  # plain Python: no numba compile per candidate
        self.evaluated: list[str] = []
        self.brought_along = 0  # training evaluations that brought their validation along

    async def evaluate(self, code: str, split: str | None = "train",
                       instance_paths: list[str] | None = None,
                       then: tuple[str, float] | None = None) -> EvalResult:
        self.evaluated.append(code)
        res = evaluate_in_process(self.problem, code, split or "train", jit=False)
        if then is not None and res.ok and res.score is not None and res.score >= then[1]:
            self.brought_along += 1  # as the worker's child does: the validation comes along
            res.then = evaluate_in_process(self.problem, code, then[0], jit=False).to_dict()
        return res

    async def call(self, func: str, payload: dict, timeout_s: float | None = None) -> Any:
        module, _, name = func.partition(":")
        return getattr(importlib.import_module(module), name)(self.problem,
                                                              {**payload, "jit": False})


class InProcessPool(InProcessEvaluator):
    """Stands in for the worker pool (session.Evaluator): scores in this process, no sandbox."""

    delay_s = 0.0
    isolation, isolation_detail = "reduced", "in process (test)"

    def __init__(self, problem_cfg, limits, **_: object):
        super().__init__(problem_cfg)

    def start(self) -> InProcessPool:
        return self

    def close(self) -> None:
        pass

    async def evaluate(self, code, split="train", instance_paths=None, then=None):
        # a lower bound on each evaluation's time, whatever the machine's load
        await asyncio.sleep(self.delay_s)
        return await super().evaluate(code, split, instance_paths, then)


def config(*overrides: str):
    """The composed config of the toy sorting problem with `overrides`."""
    return compose(["problem=sorting", "proposer=builtin", *overrides], [CONF])


class Engine:
    """One run of the real Controller in a temporary SQLite archive."""

    def __init__(self, folder: Path, *overrides: str, proposers: list | None = None):
        self.cfg = config(*overrides)
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.archive = Archive(sqlite_url(folder / "archive.sqlite"))
        self.problem_cfg = to_dict(self.cfg.problem)
        self.evaluator = InProcessEvaluator(self.problem_cfg)
        p = self.evaluator.problem
        self.info = ProblemInfo(name=p.name, entry=p.entry, signature=p.signature,
                                description=p.description, primitives=tuple(p.primitives))
        self.proposers = proposers if proposers is not None else make_proposers(
            to_dict(self.cfg.proposer), to_dict(self.cfg.llm), self.info)
        self.run = self.archive.create_run(p.name, str(folder), to_dict(self.cfg),
                                           int(self.cfg.search.seed))

    def restart(self, proposers: list | None = None) -> None:
        """A new process resuming the run: fresh proposers and evaluator, the same archive."""
        self.evaluator = InProcessEvaluator(self.problem_cfg)
        self.proposers = proposers if proposers is not None else make_proposers(
            to_dict(self.cfg.proposer), to_dict(self.cfg.llm), self.info)

    def controller(self, iterations: int) -> Controller:
        search = to_dict(self.cfg.search)
        ctl = Controller(archive=self.archive, run=self.run, evaluator=self.evaluator,
                         selector=IslandSelector(search), proposers=self.proposers,
                         problem=self.info, budget=Budget(iterations=iterations),
                         seed=int(search["seed"]), concurrency=int(search["concurrency"]),
                         run_dir=None)
        ctl.load()
        return ctl

    async def evolve(self, iterations: int) -> str:
        """Run (or continue, as a resume does) until `iterations` proposals are done."""
        ctl = self.controller(iterations)
        seed = self.evaluator.problem.seed_path(str(self.problem_cfg["seed_program"])).read_text()
        await ctl.ensure_seed(seed, int(self.cfg.search.islands))
        return await ctl.run()

    def rows(self) -> list[tuple]:
        """What a run produced, in an order that does not depend on scheduling."""
        return sorted((p.iteration, p.island, p.proposer, p.operator or "", p.code_hash or "",
                       p.status, p.score, p.duplicate_of is not None)
                      for p in self.archive.programs(self.run.id))

    def close(self) -> None:
        self.archive.close()
