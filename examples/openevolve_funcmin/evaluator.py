"""Find the global minimum of f(x, y) = sin(x) cos(y) + sin(x y) + (x^2 + y^2) / 20 on
[-5, 5]^2 (minimum about -1.519 near (-1.704, 0.678)). `run_search()` must return (x, y, value);
the evaluator recomputes the value itself. Higher combined_score is better: closeness of the value
and of the point to the known minimum, and how reliably every trial finds it.

Written for this repository after OpenEvolve's evaluator conventions: evaluate(program_path) ->
dict with combined_score, a two-stage cascade (evaluate_stage1, evaluate_stage2) and artifacts
returned in an EvaluationResult.
"""

import concurrent.futures
import importlib.util
import math
import time

import numpy as np
from openevolve.evaluation_result import EvaluationResult

BEST_X, BEST_Y, BEST_VALUE = -1.704, 0.678, -1.519


def f(x, y):
    return math.sin(x) * math.cos(y) + math.sin(x * y) + (x * x + y * y) / 20


def load(program_path):
    spec = importlib.util.spec_from_file_location("program", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def with_timeout(fn, seconds=5):
    """A trial may not take more than `seconds` (the usual OpenEvolve evaluator idiom)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result(timeout=seconds)


def trials(program_path, n):
    """Run the search n times; per trial (value score, distance score, seconds) or an error."""
    program = load(program_path)
    rows, errors = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            x, y, _reported = with_timeout(program.run_search)
            x, y = float(x), float(y)
        except Exception as e:  # noqa: BLE001 - a failing trial scores zero, its message is kept
            errors.append(f"{type(e).__name__}: {e}")
            continue
        if not (math.isfinite(x) and math.isfinite(y)) or abs(x) > 5 or abs(y) > 5:
            errors.append(f"point ({x}, {y}) outside [-5, 5]^2")
            continue
        value = f(x, y)
        distance = math.hypot(x - BEST_X, y - BEST_Y)
        rows.append((1 / (1 + abs(value - BEST_VALUE)), 1 / (1 + distance),
                     time.perf_counter() - t0))
    return rows, errors


def score(rows, errors, n):
    if not rows:
        return {"combined_score": 0.0, "value_score": 0.0, "distance_score": 0.0,
                "reliability_score": 0.0}
    value = float(np.mean([r[0] for r in rows]))
    distance = float(np.mean([r[1] for r in rows]))
    reliability = len(rows) / n
    return {"value_score": value, "distance_score": distance, "reliability_score": reliability,
            "combined_score": 0.6 * value + 0.2 * distance + 0.2 * reliability,
            "seconds_per_trial": float(np.mean([r[2] for r in rows]))}


def evaluate_stage1(program_path):
    """Quick check: three trials."""
    rows, errors = trials(program_path, 3)
    metrics = score(rows, errors, 3)
    artifacts = {"stage1": f"{len(rows)} of 3 trials ran"}
    if errors:
        artifacts["errors"] = "\n".join(errors[:5])
    return EvaluationResult(metrics=metrics, artifacts=artifacts)


def evaluate_stage2(program_path):
    """The full evaluation: ten trials."""
    rows, errors = trials(program_path, 10)
    metrics = score(rows, errors, 10)
    artifacts = {"stage2": f"{len(rows)} of 10 trials ran; best value score "
                           f"{max((r[0] for r in rows), default=0):.4f}"}
    if errors:
        artifacts["errors"] = "\n".join(errors[:5])
    return EvaluationResult(metrics=metrics, artifacts=artifacts)


def evaluate(program_path):
    """Without the cascade: the full evaluation, as a plain dict."""
    return evaluate_stage2(program_path).metrics
