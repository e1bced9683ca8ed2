"""Problem-specific panels: the `Problem.panel` hook of a built-in problem, applied to a program's
stored metrics. A run's config comes from its archive (untrusted), so only classes of the package
itself are imported; a problem defined elsewhere gets no panel rather than running its code."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
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


PanelHook = Callable[[Mapping[str, float], Sequence[Mapping[str, Any]]], list[dict[str, Any]]]


def panel_hook(run: Run) -> PanelHook | None:
    """The run's `Problem.panel`. A built-in problem keeps it in its package's `panel` module,
    which the class method only forwards to: importing that module alone spares the server the
    problem module's numba imports (1.2-2 s on the first page). A module shared by several
    problem classes picks by class name (`hook_for`). Anything else: the class itself."""
    target = str(((run.config or {}).get("problem") or {}).get("target") or "")
    module, _, name = target.partition(":")
    if not module.startswith(_TRUSTED_PREFIX) or not name.isidentifier():
        return None
    for package in (module, module.rpartition(".")[0]):
        if package.count(".") < 2:  # evolve.problems.<name> at least
            continue
        try:
            found = importlib.import_module(f"{package}.panel")
        except ImportError:
            continue
        pick = getattr(found, "hook_for", None)
        hook = pick(name) if callable(pick) else getattr(found, "panel", None)
        if callable(hook):
            return hook
    cls = problem_class(run)
    return cls.panel if cls is not None else None


def panel_for(run: Run, metrics: dict[str, Any],
              sets: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    hook = panel_hook(run)
    if hook is None:
        return []
    tables = hook(_numeric(metrics), sets or [])
    return [dict(t, rows=[[_cell(c) for c in r] for r in t.get("rows", [])]) for t in tables]
