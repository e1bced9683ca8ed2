"""Deadline-aware spot scheduling (Can't Be Late): problems `spot_single` and `spot_multi`."""

from evolve.problems.spot.problem import SpotMultiProblem, SpotProblem, SpotSingleProblem

__all__ = ["SpotMultiProblem", "SpotProblem", "SpotSingleProblem"]
