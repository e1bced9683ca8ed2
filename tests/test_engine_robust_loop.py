"""The controller survives what one iteration does, and stops cleanly when the archive is lost.

In-process: a fake evaluator and proposer drive the real Controller and a real SQLite archive,
so faults are injected exactly (no timing).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event

from evolve.archive import Archive, ArchiveError, sqlite_url
from evolve.config import compose, to_dict
from evolve.loop import PROBLEM_ERROR_STREAK, Budget, Controller, short_traceback
from evolve.problem import ProblemError
from evolve.proposers.base import ProblemInfo, Proposal, Proposer
from evolve.result import EvalResult
from evolve.selection import IslandSelector

SEARCH = to_dict(compose([]).search)  # the schema's defaults (the YAML only picks presets)
SEED = "def solve(x):\n    return x\n"
INFO = ProblemInfo(name="fake", entry="solve", signature="def solve(x)", description="",
                   primitives=())


class FakeEvaluator:
    """Scores a program by its length; `hook(code)` may return a poisoned result or act."""

    def __init__(self, hook=None):
        self.hook, self.calls = hook, 0

    async def evaluate(self, code: str, then=None) -> EvalResult:
        self.calls += 1
        if self.hook is not None:
            res = self.hook(code, self.calls)
            if res is not None:
                return res
        return EvalResult(status="ok", score=-float(len(code)), metrics={"len": float(len(code))},
                          behaviour=float(len(code) % 7))


class ListProposer(Proposer):
    """Proposes programs[i - 1] at iteration i."""

    def __init__(self, programs: list[str]):
        self.programs = programs

    async def propose(self, ctx) -> Proposal:
        return Proposal(code=self.programs[ctx.iteration - 1], proposer="fake",
                        operator=str(ctx.iteration))


def _controller(tmp_path: Path, programs: list[str], hook=None) -> tuple[Controller, Archive]:
    archive = Archive(sqlite_url(tmp_path / "archive.sqlite"))
    run = archive.create_run("fake", str(tmp_path), {}, 0)
    search = dict(SEARCH, islands=1)
    ctl = Controller(archive=archive, run=run, evaluator=FakeEvaluator(hook),
                     selector=IslandSelector(search), proposers=[(ListProposer(programs), 1.0)],
                     problem=INFO, budget=Budget(iterations=len(programs)), seed=0, concurrency=2,
                     run_dir=tmp_path)
    return ctl, archive


async def _run(ctl: Controller) -> str:
    ctl.load()
    await ctl.ensure_seed(SEED, 1)
    return await ctl.run()


def _variants(n: int) -> list[str]:
    return [f"def solve(x):\n    return x  # {i}\n    y = {i}\n" for i in range(n)]


def test_an_iteration_that_cannot_be_recorded_becomes_engine_error(tmp_path):
    programs = _variants(6)
    poison = programs[2]

    def hook(code, _n):  # metrics that the archive cannot serialise: recording raises
        if code == poison:
            return EvalResult(status="ok", score=1.0, metrics={"bad": object()})
        return None

    ctl, archive = _controller(tmp_path, programs, hook)
    assert asyncio.run(_run(ctl)) == "finished"
    rows = {p.iteration: p for p in archive.programs(ctl.run_row.id) if p.iteration > 0}
    assert sorted(rows) == [1, 2, 3, 4, 5, 6]  # the run went on past iteration 3
    bad = rows[3]
    assert bad.status == "engine_error" and bad.score is None
    assert "Traceback" in bad.error and "TypeError" in bad.error and len(bad.error) <= 8000
    assert all(rows[i].status == "ok" for i in (1, 2, 4, 5, 6))
    assert ctl.stats.failures == 1 and ctl.stats.done == 6


def test_a_proposer_crash_inside_selection_still_records_the_iteration(tmp_path):
    ctl, archive = _controller(tmp_path, _variants(3))

    def broken(*_a, **_k):
        raise RecursionError("maximum recursion depth exceeded")

    ctl.selector.select = broken  # fails before any proposal exists
    asyncio.run(_run(ctl))
    rows = [p for p in archive.programs(ctl.run_row.id) if p.iteration > 0]
    assert [(p.iteration, p.status, p.proposer) for p in rows] == [
        (1, "engine_error", "engine"), (2, "engine_error", "engine"), (3, "engine_error", "engine")]
    assert "RecursionError" in rows[0].error


def test_a_child_the_scorer_fails_on_is_recorded_and_the_run_goes_on(tmp_path):
    # a candidate's output that makes the problem's own score_set raise must not stop the run
    def hook(code, n):
        if n == 3:
            raise ProblemError("problem_error in score_set: IndexError: crafted output")
        return None

    ctl, archive = _controller(tmp_path, _variants(4), hook)
    assert asyncio.run(_run(ctl)) == "finished"
    rows = sorted((p for p in archive.programs(ctl.run_row.id) if p.iteration > 0),
                  key=lambda p: p.iteration)
    assert [p.status for p in rows].count("problem_error") == 1
    assert [p.status for p in rows].count("ok") == 3
    bad = next(p for p in rows if p.status == "problem_error")
    assert "crafted output" in bad.error and bad.code != SEED


def test_a_scorer_failing_on_every_child_stops_the_run(tmp_path):
    def hook(code, n):
        if n > 1:  # the seed scores, then every child fails in the problem's code
            raise ProblemError("problem_error in summarize: KeyError: 'x'")
        return None

    ctl, _ = _controller(tmp_path, _variants(PROBLEM_ERROR_STREAK + 3), hook)
    with pytest.raises(ProblemError, match="summarize"):
        asyncio.run(_run(ctl))


def test_a_program_too_deep_for_the_ast_is_evaluated_not_fatal(tmp_path):
    deep = "def solve(x):\n    y = " + "+".join(["1"] * 1000) + "\n    return x\n"
    ctl, archive = _controller(tmp_path, [deep, deep, _variants(1)[0]])
    assert asyncio.run(_run(ctl)) == "finished"
    rows = sorted((p for p in archive.programs(ctl.run_row.id) if p.iteration > 0),
                  key=lambda p: p.iteration)
    assert [p.status for p in rows] == ["ok", "ok", "ok"]
    assert rows[1].duplicate_of == rows[0].id  # the fallback hash still finds the duplicate


def test_archive_deleted_mid_run_stops_the_run(tmp_path):
    db = tmp_path / "archive.sqlite"

    def hook(_code, n):
        if n == 3:  # the third child's evaluation: the file vanishes (with its WAL)
            for f in tmp_path.glob("archive.sqlite*"):
                f.unlink()
        return None

    ctl, _ = _controller(tmp_path, _variants(10), hook)
    with pytest.raises(ArchiveError, match="deleted during the run"):
        asyncio.run(_run(ctl))
    assert not db.exists()
    assert ctl.stats.done < 10


def test_archive_replaced_mid_run_is_noticed(tmp_path):
    ctl, archive = _controller(tmp_path, _variants(2))
    asyncio.run(_run(ctl))
    db = tmp_path / "archive.sqlite"
    os.replace(db, tmp_path / "moved.sqlite")
    sqlite3.connect(db).close()  # a new, different file at the same path
    with pytest.raises(ArchiveError, match="replaced"):
        archive.update_run(ctl.run_row.id, status="finished")


def test_archive_refusing_writes_stops_the_run(tmp_path):
    ctl, archive = _controller(tmp_path, _variants(10))
    inserts = [0]

    def refuse(conn, cursor, statement, *_a):
        if statement.startswith("INSERT INTO programs"):
            inserts[0] += 1
            if inserts[0] > 4:
                raise sqlite3.OperationalError("database or disk is full")

    event.listen(archive.engine, "before_cursor_execute", refuse)
    with pytest.raises(ArchiveError, match="refused a write: database or disk is full"):
        asyncio.run(_run(ctl))
    assert ctl.stats.done <= 3  # seed + 3 children were stored, nothing after


def test_short_traceback_keeps_both_ends():
    try:
        raise ValueError("start " + "x" * 5000 + " the real cause")
    except ValueError as e:
        text = short_traceback(e, limit=2000)
    assert len(text) <= 2000 and "characters cut" in text
    assert text.startswith("Traceback") and text.rstrip().endswith("the real cause")
