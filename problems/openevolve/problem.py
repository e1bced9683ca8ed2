"""problem=openevolve: an OpenEvolve evaluator.py run unchanged, its cascade mapped on the
engine's (evaluate_stage1 -> threshold -> evaluate_stage2 -> threshold -> evaluate_stage3, metrics
and artifacts merged from stage to stage as OpenEvolve does)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from evolve.problem import Candidate, InstanceSet, ProblemError, Stage

from .adapter import WholeProgramProblem, encode, write_program
from .inline import inline_workers

STAGES = ("evaluate_stage1", "evaluate_stage2", "evaluate_stage3")


def split_result(result: Any) -> tuple[dict, dict]:
    """(metrics, artifacts) of a plain dict or an EvaluationResult-like object."""
    if isinstance(result, Mapping):
        return dict(result), {}
    metrics = getattr(result, "metrics", None)
    if isinstance(metrics, Mapping):
        return dict(metrics), dict(getattr(result, "artifacts", None) or {})
    raise TypeError(f"the evaluator returned {type(result).__name__}, not a dict of metrics")


class OpenEvolveProblem(WholeProgramProblem):
    """An OpenEvolve problem: `evaluate(program_path)` or its evaluate_stageN cascade."""

    name = "openevolve"
    evaluator_key = "evaluator"
    framework = "OpenEvolve"

    def __init__(self, cfg: Mapping[str, Any] | None = None):
        super().__init__(cfg)
        self.name = str(self.cfg.get("name") or "openevolve")
        self.description = self.describe(self.evaluator_path())
        self._carry: tuple[dict, dict] = ({}, {})

    def warm_up(self) -> None:
        from .compat import install

        install()
        super().warm_up()
        if not self._functions():
            raise ProblemError(f"problem.evaluator={str(self.evaluator_path())!r}: defines "
                               "neither evaluate(program_path) nor evaluate_stage1")
        self.warm_run()
        self._carry = ({}, {})  # nothing of the warm run reaches a candidate's merged metrics

    def _functions(self) -> list[str]:
        """The evaluator functions in cascade order; the last one is the full evaluation."""
        stages: list[str] = []
        if self.cfg.get("cascade_evaluation", True):
            for name in STAGES:
                if not callable(getattr(self.module, name, None)):
                    break
                stages.append(name)
        if stages:
            return stages
        return ["evaluate"] if callable(getattr(self.module, "evaluate", None)) else []

    def final_stage(self) -> str:
        return self._functions()[-1] if self.module is not None else "evaluate"

    def cascade(self) -> list[Stage]:
        thresholds = list(self.cfg.get("cascade_thresholds") or [])
        timeout = self.cfg.get("stage_timeout_s")
        out = []
        for k, fn in enumerate(self._functions()[:-1]):
            # OpenEvolve stops after a stage when there is no threshold left for it
            out.append(Stage(f"stage{k + 1}", [InstanceSet(fn, fn, 1)],
                             pass_if=float(thresholds[k]) if k < len(thresholds) else np.inf,
                             timeout_s=timeout))
        return out

    def run(self, candidate: Candidate, iset: InstanceSet) -> dict[str, np.ndarray]:
        """In the sandboxed child: the evaluator on the program file, merged with the stages
        before it (numeric metrics but `error`, and artifacts)."""
        fn = getattr(self.module, str(iset.data))
        with inline_workers():
            metrics, artifacts = split_result(fn(write_program(candidate.code)))
        if iset.data in ("evaluate", STAGES[0]):
            self._carry = ({}, {})
        before_m, before_a = self._carry
        merged = {**before_m, **{k: v for k, v in metrics.items()
                                 if isinstance(v, (int, float)) and k != "error"}}
        if iset.data in ("evaluate", STAGES[0]):
            merged = metrics
        self._carry = (merged, {**before_a, **artifacts})
        return encode(merged, self._carry[1])
