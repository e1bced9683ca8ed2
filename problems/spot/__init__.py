"""Deadline-aware spot scheduling (Can't Be Late): problems `spot_single` and `spot_multi`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evolve.problems.spot.problem import SpotMultiProblem, SpotProblem, SpotSingleProblem


def __getattr__(name: str) -> Any:
    # lazy, so that importing .schema (Hydra's ConfigStore at start-up) does not load numba code
    if name in __all__:
        from evolve.problems.spot import problem

        return getattr(problem, name)
    raise AttributeError(name)


__all__ = ["SpotMultiProblem", "SpotProblem", "SpotSingleProblem"]
