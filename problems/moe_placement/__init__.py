"""Expert placement for MoE inference (DeepSeek EPLB contract): see README.md in this folder."""

from evolve.problems.moe_placement.problem import MoePlacementProblem

__all__ = ["MoePlacementProblem"]
