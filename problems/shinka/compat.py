"""A stand-in for `shinka.core.run_shinka_eval` when ShinkaEvolve is not installed: evaluation
scripts written for ShinkaEvolve call it. Written after ShinkaEvolve's documented contract (load
the program, call `experiment_fn_name` `num_runs` times with `get_experiment_kwargs(i)`, check
each result with `validate_fn`, fold them with `aggregate_metrics_fn`, write `metrics.json` and
`correct.json` into `results_dir`), not copied from it."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import time
import types
from collections.abc import Callable
from typing import Any

from evolve.problems.openevolve.compat import importable  # one rule for both stand-ins


def _load(program_path: str) -> Any:
    spec = importlib.util.spec_from_file_location("program", program_path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {program_path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _save(results_dir: str, metrics: dict, correct: bool, error: str | None) -> None:
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, "correct.json"), "w") as f:
        json.dump({"correct": correct, "error": error}, f)
    with open(os.path.join(results_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, default=str)


def run_shinka_eval(program_path: str, results_dir: str, experiment_fn_name: str, num_runs: int,
                    get_experiment_kwargs: Callable[[int], dict] | None = None,
                    aggregate_metrics_fn: Callable[[list], dict] | None = None,
                    validate_fn: Callable[[Any], tuple[bool, str | None]] | None = None,
                    default_metrics_on_error: dict | None = None,
                    **_ignored: Any) -> tuple[dict, bool, str | None]:
    """Run the program's experiment `num_runs` times; (metrics, correct, first error)."""
    correct, error, results, times, errors = True, None, [], [], []
    try:
        fn = getattr(_load(program_path), experiment_fn_name)
        for i in range(num_runs):
            kwargs = get_experiment_kwargs(i) if get_experiment_kwargs else {"seed": i + 1}
            t0 = time.perf_counter()
            result = fn(**kwargs)
            times.append(time.perf_counter() - t0)
            results.append(result)
            if validate_fn is not None:
                ok, msg = validate_fn(result)
                if not ok:
                    correct = False
                    error = error or f"Validation failed: {msg}"
                    errors.append(str(msg))
        metrics = dict(aggregate_metrics_fn(results)) if aggregate_metrics_fn else \
            {"num_successful_runs": len(results)}
        metrics["execution_time_mean"] = sum(times) / len(times) if times else 0.0
        if validate_fn is not None:
            metrics["all_validation_errors"] = errors
    except Exception as e:  # noqa: BLE001 - the contract: failures become metrics, not raises
        metrics = dict(default_metrics_on_error or {"combined_score": 0.0})
        correct, error = False, f"{type(e).__name__}: {e}"
    _save(results_dir, metrics, correct, error)
    return metrics, correct, error


def install() -> None:
    """Register the stand-in modules unless the real package is importable."""
    if importable("shinka.core"):
        return
    pkg = types.ModuleType("shinka")
    pkg.__path__ = []
    core = types.ModuleType("shinka.core")
    core.__path__ = []
    wrap = types.ModuleType("shinka.core.wrap_eval")
    for m in (core, wrap):
        m.run_shinka_eval = run_shinka_eval  # type: ignore[attr-defined]
    core.wrap_eval = wrap  # type: ignore[attr-defined]
    pkg.core = core  # type: ignore[attr-defined]
    sys.modules.update({"shinka": pkg, "shinka.core": core, "shinka.core.wrap_eval": wrap})
