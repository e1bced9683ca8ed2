"""Read-only queries behind `evolve-archive`: plain dicts that both JSON and tables render."""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any, cast

from sqlalchemy import case, func, select

from evolve.archive import LLMCall, Program, ProgramParent
from evolve.cli.archive_kinds import is_failure, is_no_gain, no_gain_sql
from evolve.cli.common import CliError
from evolve.cli.runref import RunHandle, open_run

PROGRAM_FIELDS = (
    "id", "iteration", "island", "generation", "parent_id", "proposer", "operator", "model",
    "status", "error", "compile_fallback", "score", "metrics", "feedback", "behaviour", "stage",
    "duplicate_of", "improved", "propose_seconds", "eval_seconds", "wall_offset", "created_at",
    "code_hash",
)


def program_dict(p: Program, full: bool = False) -> dict[str, Any]:
    """A program row as a dict; `full` adds its code and diff."""
    d = {k: getattr(p, k) for k in PROGRAM_FIELDS}
    d["metrics"] = dict(p.metrics or {})
    if full:
        d["code"] = p.code
        d["diff"] = p.diff
    return d


def call_dict(c: LLMCall) -> dict[str, Any]:
    return {
        "id": c.id, "program_id": c.program_id, "iteration": c.iteration, "model": c.model,
        "mode": c.mode, "prompt": c.prompt, "reply": c.reply, "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens, "cost_usd": c.cost_usd, "latency_s": c.latency_s,
        "attempts": c.attempts, "error": c.error, "created_at": c.created_at,
    }


def listed(p: Program) -> bool:
    """Rows a listing shows by default: not answered by an identical earlier program."""
    return p.duplicate_of is None


def best_score(h: RunHandle) -> Program | None:
    best = h.archive.best(h.run.id, 1)
    return best[0] if best else None


def _val_scores(h: RunHandle) -> dict[int, float | None]:
    """Validation score per validated program id (None when its validation failed)."""
    return {pid: v.score for pid, v in h.archive.validations(h.run.id).items()}


# ---- runs -----------------------------------------------------------------------------------
def run_summary(folder: Path) -> dict[str, Any]:
    """One line of `evolve-archive runs`; an unreadable folder reports its error instead."""
    try:
        h = open_run(folder)
    except CliError as e:
        return {"folder": str(folder), "error": str(e)}
    with h:
        return handle_summary(h, str(folder))


def handle_summary(h: RunHandle, folder: str) -> dict[str, Any]:
    """`run_summary` of an opened run, listed as `folder`."""
    run, rid = h.run, h.run.id
    with h.archive.Session() as s:
        no_gain = no_gain_sql()
        n, last_it, failures, gains = s.execute(
            select(
                func.count(Program.id),
                func.max(Program.iteration),
                func.sum(case((no_gain, 0), (Program.status != "ok", 1), else_=0)),
                func.sum(case((no_gain, 1), else_=0)),
            ).where(Program.run_id == rid, Program.duplicate_of.is_(None))
        ).one()
    best = best_score(h)
    chosen = h.archive.best_validated(rid, 1)
    val = h.archive.validations(rid)[chosen[0].id].score if chosen else None
    return {
        "folder": folder, "run_id": rid, "problem": run.problem, "status": run.status,
        "stop_reason": run.stop_reason, "started_at": run.started_at,
        "updated_at": run.updated_at, "wall_seconds": run.wall_seconds,
        "iterations": last_it or 0, "programs": (n or 0) - int(gains or 0),
        "failures": int(failures or 0), "no_gain": int(gains or 0),
        "best_score": best.score if best else None, "best_id": best.id if best else None,
        "val_best_id": chosen[0].id if chosen else None, "val_best_score": val,
        "cost_usd": h.archive.total_cost(rid),
    }


# ---- top ------------------------------------------------------------------------------------
TOP_STATUSES = ("ok", "failed", "all", "no_gain")
TOP_ORDERS = ("validation", "train")


def _wanted(p: Program, status: str) -> bool:
    if status == "failed":
        return is_failure(p)
    if status == "no_gain":
        return is_no_gain(p)
    return not is_no_gain(p)  # all: successes and failures, never a step that made no program


def top(h: RunHandle, k: int, include_all: bool = False, status: str = "ok",
        by: str = "validation") -> list[dict[str, Any]]:
    """The k best successful programs by validation score (the validated ones: those that
    entered the training top-k; a run without validation scores falls back to train, with a
    note), or by training score with `by=train` (duplicates and migration copies only with
    include_all). Another `status` lists those rows instead: successes by score, then the rest
    in the order they were recorded, each with the first line of its error. Every row carries
    `val_score` (None: not validated)."""
    vals = _val_scores(h)
    return [dict(r, val_score=vals.get(r["id"])) for r in _top(h, k, include_all, status, by)]


def _top(h: RunHandle, k: int, include_all: bool, status: str, by: str) -> list[dict[str, Any]]:
    if status != "ok":
        progs = [p for p in h.archive.programs(h.run.id) if _wanted(p, status)
                 and (include_all or (p.duplicate_of is None and p.proposer != "migration"))]
        progs.sort(key=lambda p: (p.status != "ok" or p.score is None,
                                  (p.stage or "full") != "full",  # cascade-stopped: below
                                  -(p.score or 0.0) if p.status == "ok" else 0.0, p.id))
        return [dict(program_dict(p), rank=i + 1, outcome="no_gain" if is_no_gain(p) else p.status,
                     error_line=_first_line(p.error)) for i, p in enumerate(progs[:k])]
    if by == "validation" and not include_all:
        progs = h.best(k, by="validation")
    elif include_all:
        progs = [p for p in h.archive.programs(h.run.id)
                 if p.status == "ok" and p.score is not None]
        progs.sort(key=lambda p: ((p.stage or "full") != "full",  # cascade-stopped: below
                                  -cast(float, p.score), p.id))  # scored: filtered just above
        progs = progs[:k]
    else:
        progs = h.archive.best(h.run.id, k)
    return [dict(program_dict(p), rank=i + 1) for i, p in enumerate(progs)]


def _first_line(text: str | None) -> str | None:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else None


def key_metrics(rows: list[dict[str, Any]], limit: int = 3) -> list[str]:
    """Metric names worth a column: numeric, shared by the rows, gap/objective-like ones first."""
    names: list[str] = []
    for r in rows:
        for k, v in (r.get("metrics") or {}).items():
            if k not in names and isinstance(v, (int, float)):
                names.append(k)

    def rank(name: str) -> int:
        low = name.lower()
        return 0 if "gap" in low else 1 if any(w in low for w in ("obj", "cost", "tard")) else 2

    return sorted(names, key=lambda n: (rank(n), names.index(n)))[:limit]


# ---- show -----------------------------------------------------------------------------------
def show(h: RunHandle, program_id: str | int) -> dict[str, Any]:
    """Everything about one program: row, code, diff, lineage edges, the LLM calls behind it."""
    p = h.program(program_id)
    d = program_dict(p, full=True)
    parent = h.archive.program(p.parent_id) if p.parent_id is not None else None
    d["parent_score"] = parent.score if parent else None
    d["delta"] = _delta(parent, p)
    d["edges"] = [{"parent_id": e.parent_id, "role": e.role} for e in h.archive.edges(p.id)]
    d["calls"] = [call_dict(c) for c in h.archive.calls(h.run.id, p.id)]
    d["artifacts"] = [{"name": a.name, "text": a.text} for a in h.archive.artifacts(p.id)]
    v = h.archive.validations(h.run.id).get(p.id)
    d["validation"] = None if v is None else {"status": v.status, "score": v.score,
                                              "stage": v.stage, "metrics": dict(v.metrics or {})}
    d["set_scores"] = [dataclasses.asdict(r) for r in h.archive.set_scores([p.id])[p.id]]
    with h.archive.Session() as s:
        d["children"] = s.scalar(select(func.count(Program.id)).where(Program.parent_id == p.id))
    return d


def _delta(parent: Program | None, child: Program) -> float | None:
    if parent is None or parent.score is None or child.score is None:
        return None
    return child.score - parent.score


# ---- lineage --------------------------------------------------------------------------------
def ancestors(h: RunHandle, p: Program) -> list[Program]:
    """The parent chain from the seed (first) to `p` (last)."""
    chain, seen = [p], {p.id}
    while chain[-1].parent_id is not None and chain[-1].parent_id not in seen:
        parent = h.archive.program(chain[-1].parent_id)
        if parent is None:
            break
        seen.add(parent.id)
        chain.append(parent)
    return chain[::-1]


def code_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name, n=2
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def lineage(h: RunHandle, program_id: str | int) -> dict[str, Any]:
    """Seed-to-program chain with score deltas and each step's diff (stored, else computed)."""
    target = h.program(program_id)
    chain = ancestors(h, target)
    with h.archive.Session() as s:
        ids = [p.id for p in chain]
        mates = list(s.execute(select(ProgramParent.program_id, ProgramParent.parent_id,
                                      ProgramParent.role)
                               .where(ProgramParent.program_id.in_(ids),
                                      ProgramParent.role == "mate")))
    mate_of: dict[int, list[int]] = {}
    for pid, mate, _role in mates:
        mate_of.setdefault(pid, []).append(mate)
    steps, prev = [], None
    for p in chain:
        step = program_dict(p)
        step["delta"] = _delta(prev, p)
        step["mates"] = mate_of.get(p.id, [])
        if prev is None:
            step["diff"] = None
        elif p.diff:
            step["diff"] = p.diff
        else:
            step["diff"] = code_diff(prev.code, p.code, f"#{prev.id}", f"#{p.id}")
        steps.append(step)
        prev = p
    return {"run_id": h.run.id, "program_id": target.id, "chain": steps}
