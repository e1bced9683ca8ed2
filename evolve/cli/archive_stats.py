"""`evolve-archive stats`: how each proposer, model and operator performed, and what it cost."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import and_, case, func, select

from evolve.archive import LLMCall, Program
from evolve.cli.archive_kinds import is_no_gain
from evolve.cli.runref import RunHandle

GROUPS = ("proposer", "model", "operator")


# the program columns the tallies read (code, prompts and replies would dominate a large run)
_PROGRAM_COLS = (Program.proposer, Program.model, Program.operator, Program.status,
                 Program.iteration, Program.error, Program.improved, Program.compile_fallback,
                 Program.duplicate_of, Program.eval_seconds)
# a call's program may be missing (a call that produced no program): its keys are then NULL
_CALL_SHAPE = (Program.proposer, Program.operator,
               case((Program.iteration > 0, 1), else_=0).label("child_iteration"), LLMCall.model)


class _Tally:
    """Running counts of one group (one proposer, model or operator)."""

    def __init__(self) -> None:
        self.children = self.ok = self.improved = self.duplicates = self.fallbacks = 0
        self.no_gain = 0  # tuning steps without a better program: no child, no failure
        self.failures: Counter[str] = Counter()
        self.eval_sum = 0.0
        self.evaluated = 0  # children evaluated (a duplicate was answered from the archive)
        self.tokens = self.calls = 0
        self.cost = 0.0

    def add_programs(self, g: Any) -> None:
        """`g`: one grouped row of `_SHAPE` with its `n` programs and their `eval_s` sum."""
        if g.no_gain:
            self.no_gain += g.n
            return
        self.children += g.n
        if g.status == "ok":
            self.ok += g.n
        else:
            self.failures[g.status] += g.n
        self.improved += g.n if g.improved else 0
        self.fallbacks += g.n if g.fallback else 0
        if g.duplicate:
            self.duplicates += g.n
        else:
            self.evaluated += g.n
            self.eval_sum += g.eval_s or 0.0

    def add_calls(self, c: Any) -> None:
        self.calls += c.n
        self.tokens += c.tokens or 0
        self.cost += c.cost or 0.0

    def as_dict(self, name: str) -> dict[str, Any]:
        return {
            "name": name, "children": self.children, "ok": self.ok,
            "success_rate": self.ok / self.children if self.children else None,
            "improvements": self.improved, "duplicates": self.duplicates,
            "compile_fallbacks": self.fallbacks, "failures": dict(self.failures.most_common()),
            "no_gain": self.no_gain,
            "llm_calls": self.calls, "tokens": self.tokens, "cost_usd": self.cost,
            "mean_eval_s": self.eval_sum / self.evaluated if self.evaluated else None,
        }


def _key(value: str | None) -> str:
    return value if value else "-"


def is_child(p: Any) -> bool:
    """A proposal outcome: not a seed, not a copy made by island migration."""
    return p.proposer not in ("seed", "migration") and bool(p.child_iteration)


def group_stats(programs: Iterable[Any], calls: Iterable[Any], by: str) -> list[dict]:
    """Per-`by` rows. Calls count under their program's group; for `model` every call counts
    under the model that answered it, also calls that produced no program (`proposer` None)."""
    tallies: dict[str, _Tally] = {}

    def tally(name: str) -> _Tally:
        if name not in tallies:
            tallies[name] = _Tally()
        return tallies[name]

    for g in programs:
        if is_child(g):
            tally(_key(getattr(g, by))).add_programs(g)
    for c in calls:
        if by == "model":
            tally(_key(c.model)).add_calls(c)
        elif c.proposer is not None and is_child(c):
            tally(_key(getattr(c, by))).add_calls(c)
    rows = [t.as_dict(name) for name, t in tallies.items()]
    return sorted(rows, key=lambda r: (-r["children"], r["name"]))


def _call_groups(h: RunHandle) -> list[Any]:
    """The run's LLM calls counted by the database, per (program group keys, answering model)."""
    with h.archive.Session() as s:
        return list(s.execute(
            select(*_CALL_SHAPE, func.count().label("n"),
                   func.sum(func.coalesce(LLMCall.prompt_tokens, 0)
                            + func.coalesce(LLMCall.completion_tokens, 0)).label("tokens"),
                   func.sum(func.coalesce(LLMCall.cost_usd, 0.0)).label("cost"))
            .select_from(LLMCall)
            .join(Program, and_(Program.id == LLMCall.program_id, Program.run_id == h.run.id),
                  isouter=True)
            .where(LLMCall.run_id == h.run.id).group_by(*_CALL_SHAPE)).all())


def _program_rows(h: RunHandle) -> list[Any]:
    with h.archive.Session() as s:
        return list(s.execute(select(*_PROGRAM_COLS).where(Program.run_id == h.run.id)).all())


class Group(NamedTuple):
    """Programs that share group keys and outcome flags: how many, their evaluation seconds."""

    proposer: str
    model: str | None
    operator: str | None
    status: str
    child_iteration: int
    no_gain: int
    improved: int
    fallback: int
    duplicate: int
    n: int
    eval_s: float


def program_groups(programs: Iterable[Any]) -> list[Group]:
    """Program rows (with the columns of `_PROGRAM_COLS`) counted per group keys and outcome:
    a few dozen groups for thousands of programs."""
    count: Counter[tuple[Any, ...]] = Counter()
    seconds: dict[tuple[Any, ...], float] = {}
    for p in programs:
        key = (p.proposer, p.model, p.operator, p.status, int(p.iteration > 0),
               int(is_no_gain(p)), int(p.improved is True), int(bool(p.compile_fallback)),
               int(p.duplicate_of is not None))
        count[key] += 1
        if p.duplicate_of is None:
            seconds[key] = seconds.get(key, 0.0) + (p.eval_seconds or 0.0)
    return [Group._make((*key, n, seconds.get(key, 0.0))) for key, n in count.items()]


def stats(h: RunHandle, groups: list[Group] | None = None) -> dict[str, Any]:
    """Totals of the run plus one table per proposer, model and operator. `groups`: the
    program groups when the caller has read the run's rows already (`program_groups`)."""
    programs = groups if groups is not None else program_groups(_program_rows(h))
    calls = _call_groups(h)
    everything = _Tally()
    for g in programs:
        if is_child(g):
            everything.add_programs(g)
    for c in calls:
        everything.add_calls(c)
    total = everything.as_dict("all")
    total.update(
        programs=sum(g.n for g in programs) - total["no_gain"],
        seeds=sum(g.n for g in programs if g.proposer == "seed"),
        migrations=sum(g.n for g in programs if g.proposer == "migration"),
        wall_seconds=h.run.wall_seconds, status=h.run.status,
    )
    return {"run_id": h.run.id, "problem": h.run.problem, "total": total,
            **{f"by_{g}": group_stats(programs, calls, g) for g in GROUPS}}
