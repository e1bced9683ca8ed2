"""The Run page's MAP-Elites grid, cell for cell what `evolve.selection.MapElites` builds, from
light columns: each program's code is read once per server and reduced to its block length
(tests/test_web_grid.py checks both against evolve.selection on random inputs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import select

from evolve.archive import Program
from evolve.cli.archive_kinds import is_scored
from evolve.cli.runref import RunHandle

_START, _END = "# EVOLVE-BLOCK-START", "# EVOLVE-BLOCK-END"
_CHUNK = 500  # ids per IN (...) query


def _line_marks(code: str, mark: str) -> list[tuple[int, int]]:
    """(line start, mark position) of each line whose text begins with `mark` after blanks."""
    out, i = [], code.find(mark)
    while i >= 0:
        line = code.rfind("\n", 0, i) + 1
        if not code[line:i].strip(" \t"):
            out.append((line, i))
        i = code.find(mark, i + len(mark))
    return out


def block_length(code: str) -> float:
    """`evolve.selection.code_length` with str.find instead of a multiline regex (the regex
    dominated the page: ~0.2 ms per program, twice per program)."""
    starts, ends = _line_marks(code, _START), _line_marks(code, _END)
    if not starts and not ends:
        return float(len(code))
    if len(starts) != 1 or len(ends) != 1:
        return float(len(code))
    eol = code.find("\n", starts[0][1])
    begin = len(code) if eol < 0 else eol + 1
    end = ends[0][0]
    return float(len(code)) if end < begin else float(end - begin)


class Elite(NamedTuple):
    """What the grid needs of a scored program (the code reduced to its block length)."""

    id: int
    iteration: int
    island: int
    proposer: str
    score: float
    behaviour: float | None
    code_length: float


def _feature(p: Elite, name: str) -> float:
    v = {"code_length": p.code_length, "behaviour": p.behaviour, "score": p.score}[name]
    return np.nan if v is None else float(v)


def cells(features: list[str], bins: int, pool: list[Elite]) -> dict[tuple, Elite]:
    """`MapElites(features, bins).cells(pool)`: equal-width bins over each axis's finite range;
    the best score per cell, ties to the lowest (iteration, island, proposer)."""
    if not pool:
        return {}
    keys = []
    for f in features:
        v = np.array([_feature(p, f) for p in pool])
        ok = np.isfinite(v)
        finite = v[ok]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        width = (hi - lo) / bins or 1.0
        b = np.full(v.shape, -1, dtype=int)
        b[ok] = np.clip(((v[ok] - lo) / width).astype(int), 0, bins - 1)
        keys.append(b)
    grid: dict[tuple, Elite] = {}
    for i, p in enumerate(pool):
        key = tuple(int(k[i]) for k in keys)
        best = grid.get(key)
        if best is None or p.score > best.score or (
                p.score == best.score
                and (p.iteration, p.island, p.proposer) < (best.iteration, best.island,
                                                           best.proposer)):
            grid[key] = p
    return grid


def _block_lengths(h: RunHandle, ids: list[int], known: dict[int, float]) -> dict[int, float]:
    """Block length per program id; codes already measured (by an earlier request of this
    server) are not read again: a program's code never changes."""
    missing = [i for i in ids if i not in known]
    with h.archive.Session() as s:
        for k in range(0, len(missing), _CHUNK):
            part = missing[k:k + _CHUNK]
            for pid, code in s.execute(select(Program.id, Program.code)
                                       .where(Program.id.in_(part))):
                known[pid] = block_length(code or "")
    return known


def map_elites(h: RunHandle, progs: Sequence[Any],
               lengths: dict[int, float] | None = None) -> dict[str, Any] | None:
    """The grid of the run's successful programs as the loop builds it (None when the run's
    config picks no parents through the grid). `progs`: the run's program rows (id,
    iteration, island, proposer, status, score, behaviour, duplicate_of); `lengths` caches
    block lengths across calls."""
    from evolve.selection import FEATURES

    search = (h.run.config or {}).get("search") or {}
    me = search.get("map_elites") or {}
    if not me or not search.get("exploration"):
        return None
    try:
        features = [str(f) for f in (me.get("features") or ["code_length", "behaviour"])]
        bins = max(1, int(me.get("bins") or 8))
    except (ValueError, TypeError):
        return None  # a config value this version does not know: no grid rather than a 500
    if any(f not in FEATURES or f not in ("code_length", "behaviour", "score")
           for f in features):
        return None
    found = [p for p in progs if is_scored(p)]
    known = lengths if lengths is not None else {}
    if "code_length" in features:
        _block_lengths(h, [r.id for r in found], known)
    pool = [Elite(r.id, r.iteration, r.island, r.proposer, float(r.score), r.behaviour,
                  known.get(r.id, math.nan)) for r in found]
    grid = cells(features, bins, pool)
    return {"features": features, "bins": bins,
            "cells": [{"key": list(k), "id": p.id, "score": _finite(p.score)}
                      for k, p in sorted(grid.items()) if all(i >= 0 for i in k)]}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
