"""SMTT evaluation speed: numba tardiness kernel vs the same function in plain Python, and one full
`train` evaluation of the MDD seed after compilation. Prints one JSON object.

    .venv/bin/python benchmarks/smtt_eval.py
"""

from __future__ import annotations

import json
import time
from importlib import resources

import numpy as np

from evolve.evaluators.smtt import total_tardiness, total_tardiness_py
from evolve.problem import make_problem
from evolve.problems.smtt import rules
from evolve.program import load_candidate
from evolve.result import run_sets


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    problem = make_problem({"name": "smtt", "target": "evolve.problems.smtt:SmttProblem"})
    big = next(s for s in problem.instance_sets("test") if s.name == "smtt_n500_200").data
    orders = np.concatenate([rules.mdd(*big.arrays(i)) for i in range(big.m)])
    args = (big.p, big.d, big.w, big.offsets, orders)
    fast = total_tardiness(*args)  # compiles (or loads the cache)
    slow = total_tardiness_py(*args)
    assert np.array_equal(fast, slow)
    t_numba = best_of(lambda: total_tardiness(*args), 50)
    t_python = best_of(lambda: total_tardiness_py(*args), 3)

    code = (resources.files("evolve.seeds") / "smtt" / "mdd.py").read_text()
    cand = load_candidate(code, problem.entry, jit=True)
    sets = problem.instance_sets("train")
    t0 = time.perf_counter()
    first = problem.summarize("train", run_sets(problem, cand, sets))
    t_first = time.perf_counter() - t0
    t_train = best_of(lambda: problem.summarize("train", run_sets(problem, cand, sets)), 5)

    print(json.dumps({
        "tardiness_instances": big.m,
        "tardiness_jobs": int(big.p.size),
        "tardiness_numba_s": t_numba,
        "tardiness_python_s": t_python,
        "tardiness_speedup": t_python / t_numba,
        "train_instances": int(sum(s.size for s in sets)),
        "train_eval_mdd_first_s": t_first,
        "train_eval_mdd_s": t_train,
        "train_mdd_mean_gap_pct": first.metrics["mean_gap_pct"],
        "compile_fallback": cand.fallback_reason,
    }, indent=1))


if __name__ == "__main__":
    main()
