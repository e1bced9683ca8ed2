"""The `openevolve` adapter's config (problem=openevolve): keys, ranges, defaults."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from evolve.config_check import items, num
from evolve.config_schema import ProblemBase


@dataclass
class OpenEvolveSchema(ProblemBase):
    """An OpenEvolve problem: its evaluator.py and initial program, run unchanged."""

    name: str = "openevolve"
    target: str = "evolve.problems.openevolve:OpenEvolveProblem"
    seed_program: str = ""  # empty: the initial_program
    evaluator: str = MISSING  # path to the OpenEvolve evaluator.py (evaluate(program_path))
    initial_program: str = MISSING  # path to the initial program (EVOLVE-BLOCK markers)
    cascade_evaluation: bool = True  # use evaluate_stage1/2/3 when the evaluator defines them
    cascade_thresholds: list[float] = items(lambda: [0.5, 0.75, 0.9])  # OpenEvolve's defaults
    stage_timeout_s: float | None = num(None, gt=0)  # wall clock per stage (None: the run's)
    entry: str = ""  # the function the built-in mutator edits (empty: first in the EVOLVE-BLOCK)
    description: str = ""  # task text for prompts (empty: the evaluator's module docstring)


SCHEMAS = {"openevolve": OpenEvolveSchema}
