"""Selection by validation: programs that enter the training top-k are also evaluated on the
`validation` split, and the best of those is what a run reports (best.py, the CLIs).

Which programs enter is a pure function of the archive: iteration by iteration in order, a
program enters when fewer than k earlier programs (iteration order, then the older on a tie)
score at least as well on train. A decision waits until every earlier iteration is recorded, so
the set does not depend on which evaluation finished first, and a resumed run validates exactly
the programs the uninterrupted one does. The search never reads validation scores: they choose
what is reported, not what is bred. Nothing here ever touches the `test` split.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Callable, Iterable
from typing import Any

from evolve.archive import Archive, ArchiveError, Program, Validation
from evolve.archive_sets import VALIDATION
from evolve.problem import ProblemError
from evolve.result import EvalResult

log = logging.getLogger("evolve")


def eligible(row: Any) -> bool:
    """A fully evaluated, successful program of its own (not a copy, not stopped by a stage)."""
    return (row.status == "ok" and row.score is not None and row.duplicate_of is None
            and row.proposer != "migration" and (row.stage or "full") == "full")


def usable(v: Validation | None) -> bool:
    """A validation result that can make its program the validation-best."""
    return v is not None and v.status == "ok" and v.score is not None \
        and (v.stage or "full") == "full"


class Validator:
    """Decides which programs enter the training top-k and evaluates them on validation."""

    def __init__(self, archive: Archive, run_id: int, evaluator: Any, k: int,
                 on_result: Callable[[Program, Validation], None] | None = None):
        self.archive, self.run_id, self.evaluator = archive, run_id, evaluator
        self.k = max(0, int(k))
        self.on_result = on_result  # the controller's: live line, best.py
        self.results: dict[int, Validation] = {}
        self.rows: dict[int, list[Program]] = {}  # iteration -> eligible programs recorded
        self.done: set[int] = set()  # iterations whose proposal (or seed) is recorded
        self.decided = -1  # every iteration <= this one is decided
        self.top: list[tuple[float, int, int]] = []  # (-score, iteration, id), best first
        self.todo: list[Program] = []  # entered, not validated yet, not started
        # validation results the training evaluation's child produced (EvalResult dicts), kept
        # until the program's decision: used instead of a separate evaluation if it enters
        self.ready: dict[int, dict] = {}
        self.tasks: set[asyncio.Task] = set()

    @property
    def enabled(self) -> bool:
        return self.k > 0

    def load(self, rows: Iterable[Program]) -> None:
        """Rebuild the decisions from the archive (resume): what lacks a result is redone."""
        if not self.enabled:
            return
        self.results = self.archive.validations(self.run_id)
        for row in rows:
            self.note(row)

    def note(self, row: Program) -> None:
        """A program was recorded: decide whatever iterations are now complete."""
        if not self.enabled:
            return
        if row.proposer != "migration":
            self.done.add(row.iteration)
        if eligible(row):
            self.rows.setdefault(row.iteration, []).append(row)
        while self.decided + 1 in self.done:
            self.decided += 1
            for p in sorted(self.rows.pop(self.decided, []), key=lambda p: p.id):
                self._decide(p)

    def speculation(self) -> tuple[str, float] | None:
        """(split, threshold) for a training evaluation starting now: a program scoring below
        the threshold cannot enter the top-k (the k-th best of the decided programs only rises,
        and a new program's iteration comes after theirs), so only those at or above it get
        their validation run by the same child, its compiled code reused."""
        if not self.enabled:
            return None
        return VALIDATION, (-self.top[-1][0] if len(self.top) >= self.k else -1e300)

    def offer(self, program_id: int, result: dict | None) -> None:
        """The validation a training evaluation brought along (see `speculation`)."""
        if self.enabled and result is not None and program_id not in self.results:
            self.ready[program_id] = result

    def _decide(self, p: Program) -> None:
        key = (-float(p.score or 0.0), p.iteration, p.id)
        if len(self.top) >= self.k and key >= self.top[-1]:
            self.ready.pop(p.id, None)
            return
        bisect.insort(self.top, key)
        del self.top[self.k:]
        if p.id not in self.results:
            self.todo.append(p)

    def start(self) -> None:
        """Start the validation of every program that entered since the last call."""
        todo, self.todo = self.todo, []
        for p in todo:
            task = asyncio.get_running_loop().create_task(self._validate(p),
                                                          name=f"validate-{p.id}")
            self.tasks.add(task)

    async def _validate(self, p: Program) -> None:
        try:
            ready = self.ready.pop(p.id, None)
            res = EvalResult.from_dict(ready) if ready is not None else \
                await self.evaluator.evaluate(p.code, split=VALIDATION)
            row = Validation(run_id=self.run_id, program_id=p.id, status=res.status,
                             score=res.score if res.ok and res.stage == "full" else None,
                             stage=res.stage, metrics=dict(res.metrics or {}),
                             eval_seconds=float(res.seconds or 0.0))
            sets = res.sets if res.ok and res.stage == "full" else []
        except (ArchiveError, asyncio.CancelledError):
            raise
        except ProblemError as e:  # e.g. a problem without a validation split
            log.warning("program %d: validation failed in the problem's code: %s", p.id,
                        " ".join(str(e).split())[:300])
            row = Validation(run_id=self.run_id, program_id=p.id, status="problem_error",
                             metrics={})
            sets = []
        except Exception as e:  # noqa: BLE001 - one failed validation never stops the run
            log.error("program %d: validation raised %s: %s", p.id, type(e).__name__, e)
            row = Validation(run_id=self.run_id, program_id=p.id, status="engine_error",
                             metrics={})
            sets = []
        self.archive.add_validation(row, sets)
        self.results[p.id] = row
        if self.on_result is not None:
            self.on_result(p, row)

    async def drain(self) -> None:
        """Wait for every started validation; a fatal error (the archive lost) is raised."""
        while self.tasks:
            done, _ = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                self.tasks.discard(task)
                if not task.cancelled() and (exc := task.exception()) is not None:
                    raise exc

    async def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()

    def best(self, programs: dict[int, Any]) -> tuple[Any, Validation] | None:
        """(program, validation) with the best validation score, ties to the older program."""
        scored = [(v, programs[pid]) for pid, v in self.results.items()
                  if usable(v) and pid in programs]
        if not scored:
            return None
        v, p = max(scored, key=lambda vp: (float(vp[0].score or 0.0), -vp[1].id))
        return p, v
