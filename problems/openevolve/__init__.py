"""Runs an unmodified OpenEvolve evaluator (`evaluate(program_path)`, cascade stages, artifacts)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .problem import OpenEvolveProblem


def __getattr__(name: str) -> Any:
    # lazy, so that importing .schema (Hydra's ConfigStore at start-up) stays light
    if name == "OpenEvolveProblem":
        from .problem import OpenEvolveProblem

        return OpenEvolveProblem
    raise AttributeError(name)


__all__ = ["OpenEvolveProblem"]
