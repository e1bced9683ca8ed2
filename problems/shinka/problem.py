"""problem=shinka: a ShinkaEvolve evaluation script run unchanged (`main(program_path,
results_dir)` writes metrics.json with `combined_score` and correct.json)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from evolve.problem import Candidate, InstanceSet, InvalidOutput, ProblemError
from evolve.problems.openevolve.adapter import (
    WholeProgramProblem,
    encode,
    write_program,
)
from evolve.problems.openevolve.inline import inline_workers


def _read_json(path: str) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise InvalidOutput(f"{os.path.basename(path)}: {type(e).__name__}: {e}") from None


class ShinkaProblem(WholeProgramProblem):
    """A ShinkaEvolve problem: evaluate.py's main() on the program, its metrics.json read back."""

    name = "shinka"
    evaluator_key = "eval_program"
    framework = "ShinkaEvolve"

    def __init__(self, cfg: Mapping[str, Any] | None = None):
        super().__init__(cfg)
        self.name = str(self.cfg.get("name") or "shinka")
        self.description = self.describe(self.evaluator_path())

    def warm_up(self) -> None:
        from .compat import install

        install()
        super().warm_up()
        if not callable(getattr(self.module, "main", None)):
            raise ProblemError(f"problem.eval_program={str(self.evaluator_path())!r}: defines no "
                               "main(program_path, results_dir)")
        self.warm_run()

    def run(self, candidate: Candidate, iset: InstanceSet) -> dict[str, np.ndarray]:
        """In the sandboxed child: main() writes its results; an incorrect program is invalid."""
        results = os.path.join(os.getcwd(), "results")
        os.makedirs(results, exist_ok=True)
        with inline_workers():
            self.module.main(write_program(candidate.code), results)  # type: ignore[union-attr]
        correct = _read_json(os.path.join(results, "correct.json"))
        metrics = _read_json(os.path.join(results, "metrics.json"))
        if not isinstance(metrics, dict):
            raise InvalidOutput("metrics.json is not an object")
        if isinstance(correct, dict) and not correct.get("correct", False):
            raise InvalidOutput(f"not correct: {str(correct.get('error'))[:1000]}")
        flat: dict[str, Any] = {}
        artifacts: dict[str, Any] = {}
        for k, v in metrics.items():
            if k == "public" and isinstance(v, dict):  # shown to the LLM in ShinkaEvolve
                flat.update({f"public.{a}": b for a, b in v.items()})
            elif k == "private":  # ShinkaEvolve keeps these from the LLM: not stored either
                continue
            elif k == "text_feedback":
                artifacts["text_feedback"] = v
            else:
                flat[k] = v
        if "combined_score" not in flat:
            raise InvalidOutput("metrics.json has no combined_score")
        return encode(flat, artifacts)
