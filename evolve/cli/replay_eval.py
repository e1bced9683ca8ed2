"""Evaluation behind `evolve-replay`: the target in the sandbox, baselines in-process."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evolve.cli.common import CliError
from evolve.problem import Problem, ProblemError
from evolve.result import EvalResult, evaluate_in_process

if TYPE_CHECKING:
    from evolve.cli.replay_progress import ReplayProgress


def evaluate_target(problem_cfg: dict, code: str, split: str, instance_paths: list[str] | None,
                    limits: dict[str, Any], progress: ReplayProgress | None = None,
                    label: str = "program", per_instance: bool = False) -> EvalResult:
    """The untrusted program in one sandbox worker, full evaluation (no gate: replay wants the
    whole split even when the cheap stage would have stopped a weak program). `progress` shows
    the worker's warm-up and each finished set; `per_instance`: the sets carry their
    per-instance values (replay_paired)."""
    from evolve.evaluator import Evaluator
    from evolve.sandbox import Limits

    known = {k: v for k, v in limits.items() if k in Limits.__dataclass_fields__ and v is not None}
    on_set = None
    if progress is not None:
        progress.phase("warming the sandbox worker (compiling the simulator)")
        on_set = lambda note: progress.set_done(label, note)  # noqa: E731 - one line
    try:
        ev = Evaluator(problem_cfg, Limits(**known), workers=1, gate=False,
                       per_instance=per_instance)
        with ev:
            if progress is not None:
                progress.phase(f"evaluating {label} on "
                               + (f"{len(instance_paths)} instance file(s)" if instance_paths
                                  else f"the {split} split"))
            if instance_paths:
                return ev.evaluate_sync(code, split=None, instance_paths=list(instance_paths),
                                        on_set=on_set)
            return ev.evaluate_sync(code, split=split, on_set=on_set)
    except ProblemError as e:
        raise CliError(str(e)) from None
    except Exception as e:  # noqa: BLE001 - a worker that cannot start (bad problem config, ...)
        msg = str(e).strip().splitlines()
        raise CliError(f"the sandbox could not evaluate: {type(e).__name__}: "
                       f"{msg[0] if msg else ''}") from None


def check_instance_files(problem: Problem, paths: list[str]) -> None:
    """Each --instances file exists, is readable and loads with the problem's trusted loader,
    else one line naming it (the sandbox would otherwise report a bare decoding error)."""
    for path in paths:
        p = Path(path)
        if not p.exists():
            raise CliError(f"--instances {path}: no such file or folder")
        if not os.access(p, os.R_OK) or (p.is_dir() and not os.access(p, os.X_OK)):
            raise CliError(f"--instances {path}: permission denied")
        try:
            sets = problem.load_instances([str(p)])
        except UnicodeDecodeError as e:
            raise CliError(f"--instances {path}: not a text file in {problem.name}'s format "
                           f"(undecodable byte at offset {e.start})") from None
        except ProblemError as e:
            raise CliError(f"--instances {path}: {e}") from None
        except Exception as e:  # noqa: BLE001 - a parser's error: name the file, keep one line
            first = (str(e).strip().splitlines() or [""])[0]
            raise CliError(f"--instances {path}: cannot load ({type(e).__name__}: {first})") \
                from None
        if not sets:
            raise CliError(f"--instances {path}: holds no instances")


def choose_baselines(problem: Problem, spec: str | None) -> list[str]:
    """Baseline names from --baselines: all | none | a,b (default: the problem's choice)."""
    available = list(problem.baselines())
    if spec is None:
        return [b for b in problem.default_baselines() if b in available]
    if spec == "all":
        return available
    if spec == "none":
        return []
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise CliError(f"--baselines: unknown {', '.join(unknown)} for problem {problem.name!r} "
                       f"(valid: {', '.join(available) or 'none'}, all, none)")
    return names


def evaluate_baselines(problem: Problem, names: list[str], split: str,
                       instance_paths: list[str] | None,
                       progress: ReplayProgress | None = None,
                       per_instance: bool = False) -> dict[str, EvalResult]:
    """Trusted baselines in this process, on the same sets as the target (`progress`: a line
    per baseline, all its sets at once)."""
    if not names:
        return {}
    try:
        sets = problem.load_instances(list(instance_paths)) if instance_paths \
            else problem.instance_sets(split)
    except ProblemError as e:
        raise CliError(str(e)) from None
    fns = problem.baselines()
    out = {}
    for k, n in enumerate(names):
        if progress is not None:
            progress.phase(f"baseline {n} ({k + 1}/{len(names)})", total=len(sets))
        t0 = time.perf_counter()
        out[n] = evaluate_in_process(problem, fns[n], split, sets=sets, per_instance=per_instance)
        if progress is not None:
            progress.set_done(f"baseline {n}", {
                "set": None, "done": len(sets), "of": len(sets),
                "n_instances": sum(s.size for s in sets), "runtime_s": time.perf_counter() - t0})
    return out
