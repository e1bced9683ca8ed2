"""moe_placement benchmark: planner runtime at DeepSeek-V3 shapes and balancedness next to the
bounds.

Shapes: 58 MoE layers, 256 experts, 288 replicas, 8 groups, 4 nodes, 32 GPUs (hierarchical), and
the same with 1 group / 1 node (global). Runtime: median of --repeats calls after one warm-up call
(numba compilation excluded), on prefill_in1024. Balancedness: the test split (real SGLang
statistics, plan on one file, score on another) and the validation split (generated time series).

    python benchmarks/moe_placement.py [--program evolved.py ...] [--repeats 30]

`--eval-path N [--other CHECKOUT]`: instead, seconds per evaluation through the real path (one
warm worker, sandboxed child, gate + train split, timed calls) of N one-site variants of the seed
(a no-op statement after a random assignment inside one of the numba functions of its evolved
block, so that what a mutation of the seed recompiles is recompiled), median; with another
checkout of this project, its worker evaluates variants of its own seed drawn the same way,
interleaved.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
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


def variant(seed: str, rng: np.random.Generator, tag: int) -> tuple[str, str]:
    """The seed with a no-op statement after a random assignment in one of the numba functions of
    its evolved block (what the mutator changes); -> (code, that function's name)."""
    lines = seed.split("\n")
    sites, fn, jit, block = [], "", False, False
    for i, line in enumerate(lines):
        block = (block or "EVOLVE-BLOCK-START" in line) and "EVOLVE-BLOCK-END" not in line
        if line.startswith("@njit"):
            jit = True
        elif line.startswith("def "):
            fn, jit = (line[4:line.index("(")], jit)
        elif line and not line[0].isspace():
            jit = False
        if block and jit and fn and re.match(r"^\s+[\w\[\], +*]+ [-+*]?= ", line):
            sites.append((i, fn))
        if line.startswith("def ") and not lines[i - 1].startswith("@njit"):
            fn = ""
    at, fn = sites[int(rng.integers(len(sites)))]
    indent = re.match(r"^\s*", lines[at]).group(0)
    return "\n".join(lines[:at + 1] + [f"{indent}_noop_{tag} = {tag}"] + lines[at + 1:]), fn


def eval_path(n: int, other: str | None) -> dict:
    """Seconds per evaluation of one-site seed variants through a warm worker (see the top)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.sandbox import _pool

    return asyncio.run(_eval_path(n, Path(other).resolve() if other else None, _pool))


async def _eval_path(n: int, other: Path | None, pool) -> dict:
    from evolve.config import compose, to_dict

    cfg = to_dict(compose(["problem=moe_placement"], []).problem)
    checkouts = {"this": None, **({"other": other} if other else {})}
    root = Path(__file__).resolve().parent.parent
    seeds = {k: ((c or root) / "seeds/moe_placement/deepseek.py").read_text()
             for k, c in checkouts.items()}
    took: dict[str, list[float]] = {k: [] for k in checkouts}
    seed_s: dict[str, list[float]] = {k: [] for k in checkouts}
    t0 = time.perf_counter()
    pools = {k: pool(cfg, None, c) for k, c in checkouts.items()}
    started = time.perf_counter() - t0
    rngs = {k: np.random.default_rng(0) for k in checkouts}  # the same draws for both
    try:
        for i in range(n):
            for k in (list(pools) if i % 2 else list(pools)[::-1]):
                t0 = time.perf_counter()
                res = await pools[k].evaluate(f"{seeds[k]}\n# unchanged {i}\n")
                assert res.ok, res.error
                seed_s[k].append(time.perf_counter() - t0)
                code, _ = variant(seeds[k], rngs[k], i)
                t0 = time.perf_counter()
                res = await pools[k].evaluate(code)
                assert res.ok, res.error
                took[k].append(time.perf_counter() - t0)
    finally:
        for ev in pools.values():
            ev.close()
    out: dict = {"variants": n, "load_average_1min": round(os.getloadavg()[0], 2),
                 "workers_started_s": round(started, 1)}
    for k in checkouts:
        out[k] = {"variant_s_median": round(statistics.median(took[k]), 3),
                  "variant_s": [round(t, 2) for t in took[k]],
                  "unchanged_seed_s_median": round(statistics.median(seed_s[k]), 3)}
    if other:
        out["other_checkout"] = str(other.name)
        out["this_over_other_median"] = round(statistics.median(
            [a / b for a, b in zip(took["this"], took["other"])]), 3)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--program", action="append", default=[],
                    help="candidate .py file(s) to include")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--eval-path", type=int, default=0, metavar="N",
                    help="seconds per evaluation of N seed variants through a warm worker")
    ap.add_argument("--other", help="with --eval-path: another checkout, interleaved")
    args = ap.parse_args(argv)
    if args.eval_path:
        print(json.dumps(eval_path(args.eval_path, args.other), indent=1))
        return
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
