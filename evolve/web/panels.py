"""Problem-specific panels: the `Problem.panel` hook of a built-in problem, applied to a program's
stored metrics. A run's config comes from its archive (untrusted), so only classes of the package
itself are imported; a problem defined elsewhere gets no panel rather than running its code."""

from __future__ import annotations

import importlib
import math
from typing import Any

from evolve.archive import Archive, Run
from evolve.problem import Problem

_TRUSTED_PREFIX = "evolve.problems."


def problem_class(run: Run) -> type[Problem] | None:
    target = str(((run.config or {}).get("problem") or {}).get("target") or "")
    module, _, name = target.partition(":")
    if not module.startswith(_TRUSTED_PREFIX) or not name.isidentifier():
        return None
    try:
        cls = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return cls if isinstance(cls, type) and issubclass(cls, Problem) else None


def _cell(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _numeric(metrics: Any) -> dict[str, float]:
    """The finite numbers of a stored metrics dict (archive content: anything may be in it)."""
    if not isinstance(metrics, dict):
        return {}
    return {str(k): float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def set_rows(archive: Archive, pid: int) -> list[dict[str, Any]]:
    """The program's per-set results (`Archive.set_scores`) as the panel hook takes them."""
    return [{"split": r.split, "set": r.set_name, "score": r.score,
             "metrics": _numeric(r.metrics)} for r in archive.set_scores([pid]).get(pid, [])]


def panel_for(run: Run, metrics: dict[str, Any],
              sets: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    cls = problem_class(run)
    if cls is None:
        return []
    tables = cls.panel(_numeric(metrics), sets or [])
    return [dict(t, rows=[[_cell(c) for c in r] for r in t.get("rows", [])]) for t in tables]
