"""moe_placement benchmark: planner runtime at DeepSeek-V3 shapes and balancedness next to the
bounds.

Shapes: 58 MoE layers, 256 experts, 288 replicas, 8 groups, 4 nodes, 32 GPUs (hierarchical), and
the same with 1 group / 1 node (global). Runtime: median of --repeats calls after one warm-up call
(numba compilation excluded), on prefill_in1024. Balancedness: the test split (real SGLang
statistics, plan on one file, score on another) and the validation split (generated time series).

    python benchmarks/moe_placement.py [--program evolved.py ...] [--repeats 30]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from evolve.config import problem_config
from evolve.problem import make_problem
from evolve.problems.moe_placement.workloads import real_statistics
from evolve.program import load_candidate
from evolve.result import evaluate_in_process

CFG = problem_config("moe_placement")
MODES = {"hierarchical": (288, 8, 4, 32), "global": (288, 1, 1, 32)}


def runtime_ms(fn, weight: np.ndarray, args: tuple, repeats: int) -> dict[str, float]:
    fn(weight, *args)  # compile / warm caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(weight, *args)
        times.append(time.perf_counter() - t0)
    t = np.array(times) * 1e3
    return {"median": round(float(np.median(t)), 4), "min": round(float(t.min()), 4)}


def balancedness(problem, fn, split: str) -> dict:
    res = evaluate_in_process(problem, fn, split)
    if not res.ok:
        return {"status": res.status, "error": res.error}
    m = res.metrics
    out = {"out_of_sample": round(m["balancedness_gpu"], 4),
           "in_sample": round(m["balancedness_gpu_in_sample"], 4)}
    if split == "test":
        out["pairs"] = {s["name"]: round(s["metrics"]["balancedness_gpu"], 4) for s in res.sets[:2]}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--program", action="append", default=[],
                    help="candidate .py file(s) to include")
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args(argv)
    weight = real_statistics()["prefill_in1024"][3:].astype(np.float64)
    problems = {mode: make_problem({**CFG, "shapes": dict(zip(
        ("num_replicas", "num_groups", "num_nodes", "num_gpus"), shape))})
                for mode, shape in MODES.items()}
    planners = dict(problems["hierarchical"].baselines())
    for path in args.program:
        planners[Path(path).stem] = load_candidate(Path(path).read_text(), "rebalance_experts",
                                                   False).py
    out: dict = {"shapes": {"layers": int(weight.shape[0]), "experts": int(weight.shape[1]),
                            "replicas": 288,
                            "gpus": 32, "hierarchical": "8 groups / 4 nodes",
                            "global": "1 group / 1 node"},
                 "repeats": args.repeats, "load_average_1min": round(os.getloadavg()[0], 2),
                 "planners": {}, "references": {}}
    for name, fn in planners.items():
        row = {}
        for mode, shape in MODES.items():
            row[mode] = {"runtime_ms": runtime_ms(fn, weight, shape, args.repeats),
                         "test": balancedness(problems[mode], fn, "test"),
                         "validation": balancedness(problems[mode], fn, "validation")}
        out["planners"][name] = row
    for mode, problem in problems.items():
        ref = {}
        for split in ("test", "validation"):
            m = evaluate_in_process(problem, planners["deepseek"], split).metrics
            ref[split] = {k: round(m[k], 4) for k in ("oracle_gpu", "bound_replication",
                                                      "bound_hierarchical")}
        out["references"][mode] = ref
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
