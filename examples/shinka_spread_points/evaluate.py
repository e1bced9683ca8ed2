"""Spread n points in the unit square: combined_score is the smallest pairwise distance (mean
over runs with different seeds and sizes); points outside [0, 1]^2 make a run incorrect.

Written for this repository after ShinkaEvolve's evaluation-script conventions: main(program_path,
results_dir) calls shinka.core.run_shinka_eval, which writes metrics.json (combined_score, public,
private, text_feedback) and correct.json.
"""

import argparse

import numpy as np
from shinka.core import run_shinka_eval

SIZES = (8, 12, 16)


def get_experiment_kwargs(run_index):
    return {"seed": run_index, "n": SIZES[run_index % len(SIZES)]}


def min_distance(points):
    d = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    d[np.diag_indices(len(points))] = np.inf
    return float(d.min())


def validate_fn(result):
    points = np.asarray(result, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) not in SIZES:
        return False, f"expected an (n, 2) array, got shape {points.shape}"
    if not np.all(np.isfinite(points)) or points.min() < 0 or points.max() > 1:
        return False, "points must lie in [0, 1]^2"
    return True, None


def aggregate_metrics_fn(results):
    dists = [min_distance(np.asarray(r, dtype=float)) for r in results]
    by_size = {f"min_distance_n{len(r)}": d for r, d in zip(results, dists)}
    worst = min(by_size, key=by_size.get)
    return {
        "combined_score": float(np.mean(dists)),
        "public": by_size,
        "private": {"runs": len(results)},
        "text_feedback": f"closest pair is tightest for {worst} ({by_size[worst]:.4f})",
    }


def main(program_path, results_dir):
    metrics, correct, error = run_shinka_eval(
        program_path=program_path,
        results_dir=results_dir,
        experiment_fn_name="run_experiment",
        num_runs=3,
        get_experiment_kwargs=get_experiment_kwargs,
        validate_fn=validate_fn,
        aggregate_metrics_fn=aggregate_metrics_fn,
    )
    print(f"combined_score={metrics.get('combined_score')} correct={correct} error={error}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--program_path", default="initial.py")
    parser.add_argument("--results_dir", default="results")
    args = parser.parse_args()
    main(args.program_path, args.results_dir)
