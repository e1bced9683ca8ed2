"""Expert placement for MoE inference (DeepSeek EPLB contract): see README.md in this folder."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evolve.problems.moe_placement.problem import MoePlacementProblem


def __getattr__(name: str) -> Any:
    # lazy, so that importing .schema (Hydra's ConfigStore at start-up) does not load numba code
    if name == "MoePlacementProblem":
        from evolve.problems.moe_placement.problem import MoePlacementProblem

        return MoePlacementProblem
    raise AttributeError(name)


__all__ = ["MoePlacementProblem"]
