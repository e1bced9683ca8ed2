"""The `shinka` adapter's config (problem=shinka): keys, ranges, defaults."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from evolve.config_schema import ProblemBase


@dataclass
class ShinkaSchema(ProblemBase):
    """A ShinkaEvolve problem: its evaluate.py and initial program, run unchanged."""

    name: str = "shinka"
    target: str = "evolve.problems.shinka:ShinkaProblem"
    seed_program: str = ""  # empty: the initial_program
    eval_program: str = MISSING  # path to evaluate.py (main(program_path, results_dir))
    initial_program: str = MISSING  # path to initial.py (EVOLVE-BLOCK markers)
    entry: str = ""  # the function the built-in mutator edits (empty: first in the EVOLVE-BLOCK)
    description: str = ""  # task text for prompts (empty: the script's module docstring)


SCHEMAS = {"shinka": ShinkaSchema}
