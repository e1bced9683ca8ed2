"""Single-machine total (weighted) tardiness: data, baselines, reference solver and scoring."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .problem import SmttProblem


def __getattr__(name: str) -> Any:
    # lazy, so that importing .schema (Hydra's ConfigStore at start-up) does not load numba code
    if name == "SmttProblem":
        from .problem import SmttProblem

        return SmttProblem
    raise AttributeError(name)


__all__ = ["SmttProblem"]
