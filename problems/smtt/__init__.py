"""Single-machine total (weighted) tardiness: data, baselines, reference solver and scoring."""

from .problem import SmttProblem

__all__ = ["SmttProblem"]
