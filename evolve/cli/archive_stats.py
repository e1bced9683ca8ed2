"""`evolve-archive stats`: how each proposer, model and operator performed, and what it cost."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from evolve.archive import LLMCall, Program
from evolve.cli.archive_kinds import is_no_gain
from evolve.cli.runref import RunHandle

GROUPS = ("proposer", "model", "operator")
_PROGRAM_COLS = (Program.id, Program.iteration, Program.proposer, Program.model, Program.operator,
                 Program.status, Program.error, Program.improved, Program.compile_fallback,
                 Program.duplicate_of, Program.eval_seconds)
_CALL_COLS = (LLMCall.program_id, LLMCall.model, LLMCall.prompt_tokens, LLMCall.completion_tokens,
              LLMCall.cost_usd)


class _Tally:
    """Running counts of one group (one proposer, model or operator)."""

    def __init__(self) -> None:
        self.children = self.ok = self.improved = self.duplicates = self.fallbacks = 0
        self.no_gain = 0  # tuning steps without a better program: no child, no failure
        self.failures: Counter[str] = Counter()
        self.eval_s: list[float] = []
        self.tokens = self.calls = 0
        self.cost = 0.0

    def add_program(self, p: Any) -> None:
        if is_no_gain(p):
            self.no_gain += 1
            return
        self.children += 1
        if p.status == "ok":
            self.ok += 1
        else:
            self.failures[p.status] += 1
        self.improved += bool(p.improved)
        self.fallbacks += bool(p.compile_fallback)
        if p.duplicate_of is not None:
            self.duplicates += 1
        else:  # a duplicate was answered from the archive, not evaluated
            self.eval_s.append(p.eval_seconds or 0.0)

    def add_call(self, c: Any) -> None:
        self.calls += 1
        self.tokens += (c.prompt_tokens or 0) + (c.completion_tokens or 0)
        self.cost += c.cost_usd or 0.0

    def as_dict(self, name: str) -> dict[str, Any]:
        return {
            "name": name, "children": self.children, "ok": self.ok,
            "success_rate": self.ok / self.children if self.children else None,
            "improvements": self.improved, "duplicates": self.duplicates,
            "compile_fallbacks": self.fallbacks, "failures": dict(self.failures.most_common()),
            "no_gain": self.no_gain,
            "llm_calls": self.calls, "tokens": self.tokens, "cost_usd": self.cost,
            "mean_eval_s": sum(self.eval_s) / len(self.eval_s) if self.eval_s else None,
        }


def _key(value: str | None) -> str:
    return value if value else "-"


def is_child(p: Any) -> bool:
    """A proposal outcome: not a seed, not a copy made by island migration."""
    return p.proposer not in ("seed", "migration") and p.iteration > 0


def group_stats(programs: Iterable[Any], calls: Iterable[Any], by: str) -> list[dict]:
    """Per-`by` rows. Calls count under their program's group; for `model` every call counts
    under the model that answered it, also calls that produced no program."""
    programs = list(programs)
    group_of = {p.id: _key(getattr(p, by)) for p in programs if is_child(p)}
    tallies: dict[str, _Tally] = {}
    for p in programs:
        if is_child(p):
            tallies.setdefault(group_of[p.id], _Tally()).add_program(p)
    for c in calls:
        if by == "model":
            name = _key(c.model)
        elif c.program_id in group_of:
            name = group_of[c.program_id]
        else:
            continue
        tallies.setdefault(name, _Tally()).add_call(c)
    rows = [t.as_dict(name) for name, t in tallies.items()]
    return sorted(rows, key=lambda r: (-r["children"], r["name"]))


def stats(h: RunHandle) -> dict[str, Any]:
    """Totals of the run plus one table per proposer, model and operator."""
    # only the columns the tallies read: code, prompts and replies would dominate a large run
    with h.archive.Session() as s:
        programs = s.execute(select(*_PROGRAM_COLS).where(Program.run_id == h.run.id)
                             .order_by(Program.id)).all()
        calls = s.execute(select(*_CALL_COLS).where(LLMCall.run_id == h.run.id)
                          .order_by(LLMCall.id)).all()
    everything = _Tally()
    for p in programs:
        if is_child(p):
            everything.add_program(p)
    for c in calls:
        everything.add_call(c)
    total = everything.as_dict("all")
    total.update(
        programs=len(programs) - total["no_gain"],
        seeds=sum(p.proposer == "seed" for p in programs),
        migrations=sum(p.proposer == "migration" for p in programs),
        wall_seconds=h.run.wall_seconds, status=h.run.status,
    )
    return {"run_id": h.run.id, "problem": h.run.problem, "total": total,
            **{f"by_{g}": group_stats(programs, calls, g) for g in GROUPS}}
