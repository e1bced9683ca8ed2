"""The Program page: `evolve-archive show` plus highlighted code, the side-by-side diff to the
parent, the children and any cached held-out metrics per instance set.

Code is split into (css class, text) tokens here and written by the template as escaped text:
no highlighter output is ever inserted as HTML."""

from __future__ import annotations

import difflib
from typing import Any

from sqlalchemy import inspect, select

from evolve.archive import HeldOut, Program
from evolve.cli.archive_kinds import outcome
from evolve.cli.archive_query import show
from evolve.cli.runref import RunHandle

MAX_HIGHLIGHT = 200_000  # characters: a giant candidate is shown plain, not tokenized slowly


def _token_class(ttype: Any) -> str:
    from pygments.token import Comment, Keyword, Name, Number, Operator, String

    for base, cls in ((Comment, "c"), (String, "s"), (Number, "n"), (Keyword, "k"),
                      (Name.Function, "f"), (Name.Builtin, "b"), (Operator, "o")):
        if ttype in base:
            return cls
    return ""


def highlight(code: str) -> list[list[tuple[str, str]]]:
    """Lines of (class, text) tokens of Python source."""
    if len(code) > MAX_HIGHLIGHT:
        return [[("", line)] for line in code.split("\n")]
    from pygments.lexers import PythonLexer

    lines: list[list[tuple[str, str]]] = [[]]
    for ttype, text in PythonLexer(stripnl=False, ensurenl=False).get_tokens(code):
        cls = _token_class(ttype)
        parts = text.split("\n")
        for i, part in enumerate(parts):
            if i:
                lines.append([])
            if part:
                lines[-1].append((cls, part))
    return lines


def side_by_side(old: str, new: str) -> list[dict[str, Any]]:
    """Rows of a two-column diff: {op, a: (no, text) | None, b: (no, text) | None}; long runs of
    equal lines are folded to 3 lines of context on each side."""
    a, b = old.splitlines(), new.splitlines()
    out: list[dict[str, Any]] = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(3):
        if out:
            out.append({"op": "gap", "a": None, "b": None})
        for op, i1, i2, j1, j2 in group:
            n = max(i2 - i1, j2 - j1)
            for k in range(n):
                left = (i1 + k + 1, a[i1 + k]) if i1 + k < i2 else None
                right = (j1 + k + 1, b[j1 + k]) if j1 + k < j2 else None
                out.append({"op": op, "a": left, "b": right})
    return out


def _heldout(h: RunHandle, pid: int) -> list[dict[str, Any]]:
    if not inspect(h.archive.engine).has_table("heldout"):
        return []
    with h.archive.Session() as s:
        found = list(s.scalars(select(HeldOut).where(HeldOut.run_id == h.run.id,
                                                     HeldOut.program_id == pid)
                               .order_by(HeldOut.id)))
    return [{"split": r.split, "status": (r.result or {}).get("status"),
             "score": (r.result or {}).get("score"), "sets": (r.result or {}).get("sets") or []}
            for r in found]


def program_page(h: RunHandle, pid: int) -> dict[str, Any]:
    d = show(h, pid)
    p = h.program(pid)
    parent = h.archive.program(p.parent_id) if p.parent_id is not None else None
    d["outcome"] = outcome(p)
    d["lines"] = highlight(p.code or "")
    d["diff_rows"] = side_by_side(parent.code, p.code) if parent is not None else []
    with h.archive.Session() as s:
        d["child_rows"] = [{"id": c.id, "iteration": c.iteration, "proposer": c.proposer,
                            "outcome": outcome(c), "score": c.score}
                           for c in s.scalars(select(Program).where(Program.parent_id == p.id)
                                              .order_by(Program.id).limit(200))]
    d["heldout"] = _heldout(h, p.id)
    d["tokens"] = sum((c["prompt_tokens"] or 0) + (c["completion_tokens"] or 0)
                      for c in d["calls"])
    d["cost_usd"] = sum(c["cost_usd"] or 0.0 for c in d["calls"])
    return d
