"""The numbers behind the Run and Lineage pages, as plain JSON-ready dicts: one scan of the
run's program rows feeds the charts, the best, the tallies and the grid (a 5,000-program archive
must render in well under a second; in SQLite every scan of `programs` reads the code too,
since the light columns sit after it in the row)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from sqlalchemy import select

from evolve.archive import Program
from evolve.cli.archive_kinds import is_scored, outcome
from evolve.cli.archive_query import best_score
from evolve.cli.archive_stats import program_groups
from evolve.cli.archive_stats import stats as run_stats
from evolve.cli.runref import RunHandle
from evolve.web.grid import map_elites
from evolve.web.panels import panel_for, set_rows

# Columns of the program table the pages need (the code stays in the database).
_COLS = (Program.id, Program.iteration, Program.island, Program.generation, Program.parent_id,
         Program.proposer, Program.operator, Program.model, Program.status, Program.error,
         Program.score, Program.behaviour, Program.stage, Program.duplicate_of,
         Program.wall_offset, Program.improved, Program.compile_fallback, Program.eval_seconds)


class Row(NamedTuple):
    """A light program row (no code, no metrics) that archive_kinds can classify."""

    id: int
    iteration: int
    island: int
    generation: int
    parent_id: int | None
    proposer: str
    operator: str | None
    model: str | None
    status: str
    error: str | None
    score: float | None
    behaviour: float | None
    stage: str | None
    duplicate_of: int | None
    wall_offset: float
    improved: bool | None
    compile_fallback: str | None
    eval_seconds: float | None


def rows(h: RunHandle) -> list[Row]:
    with h.archive.Session() as s:
        found = s.execute(select(*_COLS).where(Program.run_id == h.run.id)
                          .order_by(Program.id))
        return [Row._make(r) for r in found]


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def best_row(progs: list[Row]) -> Row | None:
    """`Archive.best(run, 1)` over rows already read: full evaluations before gate-stopped
    ones, then the highest score, then the lowest id."""
    return min((p for p in progs if is_scored(p)),
               key=lambda p: ((p.stage or "full") != "full", -(p.score or 0.0), p.id),
               default=None)


def best_program(h: RunHandle, progs: list[Row]) -> Program | None:
    row = best_row(progs)
    return h.archive.program(row.id) if row is not None else None


def summary(h: RunHandle, best: Row | Program | None) -> dict[str, Any]:
    """The run's header: what `evolve-archive runs` prints for it (`best`: its best program,
    as a light row or a whole program: only its id and score are shown)."""
    run = h.run
    return {"run_id": run.id, "problem": run.problem, "status": run.status,
            "stop_reason": run.stop_reason, "started_at": run.started_at.isoformat()
            if run.started_at else None, "wall_seconds": run.wall_seconds,
            "best_score": _num(best.score) if best else None, "best_id": best.id if best else None,
            "cost_usd": h.archive.total_cost(run.id), "label": h.label}


def points(progs: list[Row]) -> list[list]:
    """One entry per program for the charts: [id, iteration, wall s, score or None, outcome,
    island, proposer, stage]; duplicates and migration copies left out (they are not new)."""
    return [[p.id, p.iteration, round(p.wall_offset or 0.0, 3),
             _num(p.score) if p.status == "ok" else None, outcome(p), p.island, p.proposer,
             p.stage or ""]
            for p in progs if p.duplicate_of is None and p.proposer != "migration"]


def islands(progs: list[Row]) -> list[dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for p in progs:
        d = out.setdefault(p.island, {"island": p.island, "programs": 0, "ok": 0, "best": None,
                                      "best_id": None, "migrations_in": 0})
        if p.proposer == "migration":
            d["migrations_in"] += 1
            continue
        d["programs"] += 1
        if p.status == "ok" and _num(p.score) is not None:
            d["ok"] += 1
            score = float(p.score)  # type: ignore[arg-type]  # checked by _num just above
            if d["best"] is None or score > d["best"]:
                d["best"], d["best_id"] = score, p.id
    return [out[k] for k in sorted(out)]


def run_page(h: RunHandle, lengths: dict[int, float] | None = None) -> dict[str, Any]:
    """`lengths`: the block length per program id, kept by the server between requests."""
    progs = rows(h)
    best = best_program(h, progs)
    pts = points(progs)
    return {"summary": dict(summary(h, best), programs=len(pts)), "points": pts,
            "islands": islands(progs),
            "stats": run_stats(h, program_groups(progs)), "grid": map_elites(h, progs, lengths),
            "panel": panel_for(h.run, dict(best.metrics or {}), set_rows(h.archive, best.id))
            if best else None}


def _rows_of(kids: dict[int | None, list[int]], first: set[int]) -> dict[int, int]:
    """A row per program: a parent's row goes on to one child (the one on the seed -> best
    path, else the oldest), every other child opens a new row below, depth first, so a chain
    of improvements is one horizontal line and a family sits together."""
    row: dict[int, int] = {}
    nxt = 0
    stack: list[tuple[int, int | None]] = [(pid, None) for pid in reversed(kids.get(None, []))]
    while stack:  # iterative: a 5,000-step chain would overflow recursion
        pid, inherited = stack.pop()
        if inherited is None:
            inherited, nxt = nxt, nxt + 1
        row[pid] = inherited
        children = kids.get(pid, [])
        heir = next((c for c in children if c in first), children[0] if children else None)
        rest = [c for c in children if c != heir]
        stack.extend((c, None) for c in reversed(rest))
        if heir is not None:
            stack.append((heir, inherited))  # popped next: its subtree fills rows first
    return row


def tree(h: RunHandle) -> dict[str, Any]:
    """Lineage nodes laid out for drawing: x = iteration, y = a row (see `_rows_of`); no two
    nodes share a place, so no label overlaps another."""
    everything = rows(h)
    progs = [p for p in everything if p.proposer != "migration"]
    by_id = {p.id: p for p in progs}
    kids: dict[int | None, list[int]] = {}
    for p in progs:
        parent = p.parent_id if p.parent_id in by_id else None
        kids.setdefault(parent, []).append(p.id)
    best = best_row(everything)
    path: list[int] = []
    cur = by_id.get(best.id) if best else None
    while cur is not None and cur.id not in path:
        path.append(cur.id)
        cur = by_id.get(cur.parent_id) if cur.parent_id is not None else None
    y = _rows_of(kids, set(path))
    nodes = [[p.id, p.parent_id if p.parent_id in by_id else None, p.iteration, y[p.id],
              _num(p.score) if p.status == "ok" else None, outcome(p), p.proposer,
              p.stage or "", p.duplicate_of is not None] for p in progs if p.id in y]
    return {"summary": dict(summary(h, best), programs=len(nodes)), "nodes": nodes,
            "rows": max(y.values(), default=-1) + 1, "best_path": path[::-1]}


def failures(h: RunHandle, kind: str = "", operator: str = "", model: str = "",
             limit: int = 500, progs: list[Row] | None = None,
             head: dict[str, Any] | None = None) -> dict[str, Any]:
    """Failed programs, newest first, filtered; the choices come from every failure. `progs`
    and `head` (the summary): the run's rows and header when the caller has them already."""
    from evolve.cli.archive_kinds import is_failure

    failed = [p for p in (rows(h) if progs is None else progs) if is_failure(p)]
    choices = {"kind": sorted({p.status for p in failed}),
               "operator": sorted({p.operator or p.proposer for p in failed}),
               "model": sorted({p.model for p in failed if p.model})}
    keep = [p for p in failed if (not kind or p.status == kind)
            and (not operator or (p.operator or p.proposer) == operator)
            and (not model or p.model == model)]
    keep.reverse()
    return {"summary": summary(h, best_score(h)) if head is None else head, "choices": choices,
            "total": len(keep),
            "shown": [{"id": p.id, "iteration": p.iteration, "kind": p.status,
                       "operator": p.operator or p.proposer, "model": p.model or "",
                       "error": ((p.error or "").strip().splitlines() or [""])[0][:300]}
                      for p in keep[:limit]],
            "filters": {"kind": kind, "operator": operator, "model": model}}
