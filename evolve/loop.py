"""The controller: select -> propose -> evaluate -> record, with bounded concurrency."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from evolve.archive import Archive, ArchiveError, LLMCall, Program, Run
from evolve.archive_sets import set_records, split_of
from evolve.loop_stats import RECENT, Budget, Stats  # noqa: F401 - the loop's API since before
from evolve.population import Population, view_of
from evolve.problem import ProblemError
from evolve.program import code_hash, is_failure
from evolve.proposers.base import CallRecord, ProblemInfo, Proposal, ProposalContext, Proposer
from evolve.result import EvalResult
from evolve.selection import IslandSelector
from evolve.validation import Validator, usable

PROBLEM_ERROR_STREAK = 5  # consecutive children a problem's own code fails on before the run stops

log = logging.getLogger("evolve")

MAX_TRACEBACK = 8000  # characters of an engine_error traceback kept in the archive


def short_traceback(exc: BaseException, limit: int = MAX_TRACEBACK) -> str:
    """The traceback of `exc`, cut in the middle when long (the start and the raise site matter)."""
    text = "".join(traceback.format_exception(exc))
    if len(text) <= limit:
        return text
    half = (limit - 40) // 2
    return f"{text[:half]}\n... [{len(text) - 2 * half} characters cut] ...\n{text[-half:]}"


class Controller:
    """Runs one evolution until its budget is spent or it is asked to stop."""

    def __init__(self, *, archive: Archive, run: Run, evaluator: Any, selector: IslandSelector,
                 proposers: list[tuple[Proposer, float]], problem: ProblemInfo, budget: Budget,
                 seed: int, concurrency: int, run_dir: Path | None,
                 on_progress: Callable[[Stats, int], None] | None = None,
                 on_phase: Callable[[str], None] | None = None, validate_top_k: int = 0):
        self.archive, self.run_row, self.evaluator = archive, run, evaluator
        self.selector, self.proposers, self.problem = selector, proposers, problem
        self.budget, self.seed = budget, int(seed)
        self.concurrency = max(1, int(concurrency))
        self.run_dir = run_dir
        self.on_progress = on_progress
        self.on_phase = on_phase  # "evaluating the seed", "iterating ...": the live line, run.log
        self.pop = Population(self.concurrency)
        self.hashes: dict[str, asyncio.Future] = {}
        self.stats = Stats()
        self.problem_errors = 0  # consecutive children the problem's own code failed on
        self.stop_reason: str | None = None
        self.wall_before = float(run.wall_seconds or 0.0)
        self._t0 = time.monotonic()
        self.validator = Validator(archive, run.id, evaluator, validate_top_k,
                                   on_result=self._on_validation)

    # ---- state ----------------------------------------------------------------------------
    def load(self) -> None:
        """Rebuild the population (and hash answers) from the archive: the resume path."""
        costs: dict[int, float] = {}
        for c in self.archive.calls(self.run_row.id):
            if c.program_id is not None:
                costs[c.program_id] = costs.get(c.program_id, 0.0) + c.cost_usd
            self.stats.cost += c.cost_usd
            self.stats.model_cost[c.model] = self.stats.model_cost.get(c.model, 0.0) + c.cost_usd
        loop = asyncio.get_event_loop()
        rows = self.archive.programs(self.run_row.id)
        for row in rows:
            v = view_of(row, costs.get(row.id, 0.0))
            self.pop.add(v)
            if row.code_hash and row.duplicate_of is None and row.code_hash not in self.hashes:
                fut = loop.create_future()
                fut.set_result(row)
                self.hashes[row.code_hash] = fut
        self.stats.done = len(self.pop.done_iterations() - {0})
        self.stats.failures = sum(1 for p in self.pop.programs if _counts_as_failure(p))
        best = self.pop.best()
        self.stats.best = best.score if best else None
        self.validator.load(rows)
        vbest = self.validator.best({r.id: r for r in rows})
        if vbest is not None:
            self.stats.best_val, self.stats.best_val_id = vbest[1].score, vbest[0].id

    def elapsed(self) -> float:
        return self.wall_before + time.monotonic() - self._t0

    # ---- seed -----------------------------------------------------------------------------
    async def ensure_seed(self, seed_code: str, islands: int) -> None:
        if any(p.proposer == "seed" for p in self.pop.programs):
            return
        self._phase("evaluating the seed")
        res = await self.evaluator.evaluate(seed_code)
        if not res.ok:
            raise SeedError(f"the seed program failed: {res.status}: {res.error}")
        seed_row = Program(
            run_id=self.run_row.id, iteration=0, island=0, generation=0, code=seed_code,
            code_hash=code_hash(seed_code), proposer="seed", **self._eval_fields(res))
        _attach(seed_row, res)
        first = self._record(seed_row, [], [])
        for k in range(1, islands):
            self._record(Program(
                run_id=self.run_row.id, iteration=0, island=k, generation=0, code=seed_code,
                proposer="seed", duplicate_of=first.id, **self._eval_fields(res)), [], [])

    # ---- main loop ------------------------------------------------------------------------
    async def run(self) -> str:
        planned = range(1, self.budget.iterations + 1)
        todo = [i for i in planned if i not in self.pop.done_iterations()]
        pending: dict[int, asyncio.Task] = {}
        if todo and self.stop_reason is None:
            self._phase(f"iterating ({len(todo)} of {self.budget.iterations} to go)")
        self.stats.recent.append(time.monotonic())
        if self.budget.max_seconds is not None:
            self.stats.deadline = self._t0 + self.budget.max_seconds - self.wall_before
        try:
            self.validator.start()  # after a resume: what entered the top-k but is not validated
            await self._drive(todo, pending)
            if self.validator.tasks:
                self._phase("validating the training top-k")
            await self.validator.drain()
        except BaseException:
            # archive lost, interrupted twice, or a bug in the loop itself: nothing half-done
            # keeps running behind the caller's back
            for task in pending.values():
                task.cancel()
            await asyncio.gather(*pending.values(), return_exceptions=True)
            await self.validator.cancel()
            raise
        return self.stop_reason or "finished"

    async def _drive(self, todo: list[int], pending: dict[int, asyncio.Task]) -> None:
        nxt = 0
        while True:
            if self.stop_reason is None:
                self.stop_reason = self._budget_spent()
            frontier = min(pending) if pending else (todo[nxt] if nxt < len(todo) else None)
            while (self.stop_reason is None and nxt < len(todo) and len(pending) < self.concurrency
                   and todo[nxt] < ((frontier if frontier is not None else todo[nxt])
                                    + self.concurrency)):
                i = todo[nxt]
                self._migrate(i)
                pending[i] = asyncio.create_task(self._iteration(i), name=f"iteration-{i}")
                nxt += 1
                frontier = min(pending)
            if not pending:
                break
            done, _ = await asyncio.wait(pending.values(), return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                i = next(k for k, t in pending.items() if t is task)
                del pending[i]
                if not task.cancelled() and (exc := task.exception()) is not None:
                    raise exc  # only fatal errors (ArchiveError) get here
            if self.on_progress:
                self.on_progress(self.stats, self.budget.iterations)

    def _phase(self, text: str) -> None:
        if self.on_phase:
            self.on_phase(text)

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
            log.info("stopping: %s (finishing %s)", reason, "in-flight evaluations")

    def _budget_spent(self) -> str | None:
        b = self.budget
        if b.max_seconds is not None and self.elapsed() >= b.max_seconds:
            return f"wall-time budget of {b.max_seconds:g} s reached"
        if b.target_score is not None and self.stats.best is not None and \
                self.stats.best >= b.target_score:
            return f"target score {b.target_score:g} reached"
        if b.max_cost_usd is not None and self.stats.cost >= b.max_cost_usd:
            return f"cost budget of ${b.max_cost_usd:g} reached (spent ${self.stats.cost:.4f})"
        return None

    # ---- one iteration --------------------------------------------------------------------
    def _pick_proposer(self, rng: np.random.Generator) -> Proposer:
        weights = np.array([w for _, w in self.proposers], dtype=float)
        return self.proposers[int(rng.choice(len(weights), p=weights / weights.sum()))][0]

    async def _iteration(self, i: int) -> None:
        """One iteration; an exception of the engine becomes an `engine_error` row, not a crash."""
        state: dict[str, Any] = {}
        try:
            await self._iteration_steps(i, state)
            self.problem_errors = 0
        except (ArchiveError, asyncio.CancelledError):
            raise
        except ProblemError as e:
            # The problem's trusted code failed on this child's output. The seed scored, so a
            # candidate may have provoked it: one such child must not stop the run, but a
            # scorer that fails on every child is the problem's bug, and the run stops `failed`.
            self.problem_errors += 1
            if self.problem_errors >= PROBLEM_ERROR_STREAK:
                raise
            log.warning("iteration %d: problem_error on this child (recorded): %s", i,
                        " ".join(str(e).split())[:300])
            self._record_engine_error(i, e, state, status="problem_error")
        except Exception as e:  # noqa: BLE001 - whatever a candidate or a proposer led to
            log.error("iteration %d: engine error %s: %s (recorded as engine_error)", i,
                      type(e).__name__, " ".join(str(e).split())[:300])
            self._record_engine_error(i, e, state)

    def _record_engine_error(self, i: int, exc: Exception, state: dict,
                             status: str = "engine_error") -> None:
        if state.get("recorded"):
            return  # the program is in the archive; what failed came after (e.g. best.py)
        sel, prop = state.get("sel"), state.get("prop")
        base = state.get("base") or dict(
            run_id=self.run_row.id, iteration=i, island=sel.island if sel else i % max(
                1, self.selector.islands), generation=sel.parent.generation + 1 if sel else 0,
            parent_id=sel.parent.id if sel else None, proposer="engine")
        code = (prop.code if prop is not None and prop.code else None) or (
            sel.parent.code if sel else "")
        text = short_traceback(exc)
        row = Program(code=code, status=status, error=text if status == "engine_error" else
                      str(exc)[:4000], feedback=f"{status}: {type(exc).__name__}: {exc}"[:2000],
                      **base)
        calls = list(prop.calls) if prop is not None else []
        for attempt_calls in ([calls, []] if calls else [[]]):  # LLM costs are kept if possible
            try:
                self._record(row, [], attempt_calls)
                return
            except ArchiveError:
                raise
            except Exception as e:  # noqa: BLE001 - the row itself cannot be stored
                log.error("iteration %d: the engine_error row could not be stored either: %s: %s",
                          i, type(e).__name__, e)
                row = Program(code="", status="engine_error", error=text,
                              feedback=f"engine_error: {type(exc).__name__}"[:2000], **base)

    async def _iteration_steps(self, i: int, state: dict) -> None:
        view = self.pop.view(i)
        rng = np.random.default_rng([self.seed, i])
        sel = state["sel"] = self.selector.select(i, view, rng)
        proposer = self._pick_proposer(rng)
        ctx = ProposalContext(
            iteration=i, island=sel.island, rng=rng, parent=sel.parent,
            inspirations=sel.inspirations, history=view, problem=self.problem,
            failures=sel.failures, sandbox=self.evaluator)
        t0 = time.monotonic()
        try:
            prop = await proposer.propose(ctx)
        except Exception as e:  # noqa: BLE001 - one bad proposal never kills the run
            log.warning("iteration %d: proposer raised %s: %s", i, type(e).__name__, e)
            prop = Proposal(code=None, proposer=type(proposer).__name__.lower(),
                            failure="llm_error", error=f"{type(e).__name__}: {e}")
        state["prop"] = prop
        propose_s = time.monotonic() - t0
        base = state["base"] = dict(run_id=self.run_row.id, iteration=i, island=sel.island,
                    generation=sel.parent.generation + 1, parent_id=sel.parent.id,
                    proposer=prop.proposer, operator=prop.operator, model=prop.model,
                    diff=prop.diff, propose_seconds=propose_s)
        edges = ([(m, "mate") for m in prop.mates]
                 + [(p.id, "inspiration") for p in sel.inspirations])
        self.stats.cost += prop.cost_usd
        for c in prop.calls:
            self.stats.model_cost[c.model] = self.stats.model_cost.get(c.model, 0.0) + c.cost_usd
        if prop.failure or not prop.code:
            kind = prop.failure or "diff_failed"  # or no_gain: a tuning step found nothing better
            row = Program(code=sel.parent.code, status=kind, error=(prop.error or kind)[:4000],
                          feedback=f"{kind}: {prop.error or ''}"[:2000], **base)
            self._record(row, edges, prop.calls)
            state["recorded"] = True
            return
        h = code_hash(prop.code)
        known = self.hashes.get(h)
        if known is not None:
            original = await known
            row = Program(code=prop.code, code_hash=h, duplicate_of=original.id,
                          status=original.status,
                          score=original.score, metrics=original.metrics,
                          feedback=original.feedback,
                          error=original.error, behaviour=original.behaviour, stage=original.stage,
                          compile_fallback=original.compile_fallback, **base)
            row.improved = self._improved(row.score, sel.parent)
            self._record(row, edges, prop.calls)
            state["recorded"] = True
            return
        fut = asyncio.get_running_loop().create_future()
        self.hashes[h] = fut
        try:
            # eval_seconds: worker time, no queue; the validation comes along when it may enter
            res = await self.evaluator.evaluate(prop.code, then=self.validator.speculation())
            self.stats.evaluations += 1
            fields = self._eval_fields(res)
            row = Program(code=prop.code, code_hash=h, **fields, **base)
            _attach(row, res)
            row.improved = self._improved(row.score, sel.parent)
            self._record(row, edges, prop.calls, then=res.then)
            state["recorded"] = True
            fut.set_result(row)
        except BaseException as e:
            self.hashes.pop(h, None)
            fut.set_exception(e)
            fut.exception()  # mark retrieved
            raise

    @staticmethod
    def _improved(score: float | None, parent) -> bool:
        return score is not None and parent.score is not None and score > parent.score

    @staticmethod
    def _eval_fields(res: EvalResult) -> dict:
        return dict(status=res.status, score=res.score if res.ok else None, metrics=res.metrics,
                    feedback=res.feedback, error=res.error or None, behaviour=res.behaviour,
                    stage=res.stage, compile_fallback=res.compile_fallback or None,
                    eval_seconds=res.seconds)

    def _migrate(self, i: int) -> None:
        try:
            self._migrate_now(i)
        except ArchiveError:
            raise
        except Exception as e:  # noqa: BLE001 - a failed migration skips one exchange, no more
            log.error("iteration %d: migration failed, skipped: %s: %s", i, type(e).__name__, e)

    def _migrate_now(self, i: int) -> None:
        if not self.selector.migration_due(i):
            return  # the common case: no view to build
        if any(p.iteration == i and p.proposer == "migration" for p in self.pop.programs):
            return  # done before a kill; migrations are a pure function of the view
        for src, target in self.selector.migrants(i, self.pop.view(i)):
            self._record(Program(
                run_id=self.run_row.id, iteration=i, island=target, generation=src.generation,
                parent_id=src.id, code=src.code, proposer="migration", duplicate_of=src.id,
                status=src.status, score=src.score, metrics=src.metrics, feedback=src.feedback,
                behaviour=src.behaviour), [], [])

    def _record(self, row: Program, edges, calls: list[CallRecord],
                then: dict | None = None) -> Program:
        row.wall_offset = self.elapsed()
        llm = [LLMCall(run_id=self.run_row.id, iteration=row.iteration, model=c.model, mode=c.mode,
                       prompt=c.prompt, reply=c.reply, prompt_tokens=c.prompt_tokens,
                       completion_tokens=c.completion_tokens, cost_usd=c.cost_usd,
                       latency_s=c.latency_s, attempts=c.attempts, error=c.error) for c in calls]
        self.archive.record(row, edges, llm, run_updates={"wall_seconds": self.elapsed()})
        view = view_of(row, sum(c.cost_usd for c in calls))
        self.pop.add(view)
        self.validator.offer(row.id, then)
        self.validator.note(row)
        self.validator.start()
        if row.proposer not in ("seed", "migration"):
            self.stats.done += 1
            self.stats.failures += _counts_as_failure(row)
            self.stats.recent.append(time.monotonic())
        # view.ok implies view.score is not None; the explicit test is for the type checker
        if view.ok and view.score is not None and row.proposer != "migration" \
                and (row.stage or "full") == "full" and (
                self.stats.best is None or view.score > self.stats.best):
            self.stats.best = view.score
            if self.stats.best_val is None:  # until a validated program exists
                self._write_best(view)
            log.info("iteration %d: new best %.6g (program %d, %s/%s)", row.iteration, view.score,
                     row.id, row.proposer, row.operator or "-")
        return row

    def _on_validation(self, p: Program, v) -> None:
        """A validation result: a new validation-best (ties to the older program) is best.py."""
        if not usable(v):
            return
        best, best_id = self.stats.best_val, self.stats.best_val_id
        if best is None or v.score > best or (v.score == best and p.id < (best_id or p.id)):
            self.stats.best_val, self.stats.best_val_id = v.score, p.id
            self._write_best(p)
            log.info("program %d (iteration %d): new validation best %.6g (train %.6g)", p.id,
                     p.iteration, v.score, p.score)

    def _write_best(self, p) -> None:
        if self.run_dir is None:
            return
        tmp = self.run_dir / "best.py.tmp"
        try:
            tmp.write_text(p.code)
            tmp.replace(self.run_dir / "best.py")
        except (OSError, UnicodeError) as e:  # a convenience copy: the archive has the program
            log.warning("could not write best.py: %s", e)


def _attach(row: Program, res: EvalResult) -> None:
    """What is stored with the row, in its transaction (archive.record): the scorer's artifacts
    and the per-set results (of the train split, or of the stage that stopped it)."""
    row.pending_artifacts = res.stored_artifacts()  # type: ignore[attr-defined]
    row.pending_sets = set_records(res.sets, split_of(res.stage))  # type: ignore[attr-defined]


def _counts_as_failure(row: Any) -> bool:
    """An iteration whose program failed: duplicates (answered from the archive) and `no_gain`
    tuning steps are not failures of their own."""
    return (row.proposer not in ("seed", "migration") and row.duplicate_of is None
            and is_failure(row.status))


class SeedError(Exception):
    """The seed program does not evaluate: nothing to evolve from."""
