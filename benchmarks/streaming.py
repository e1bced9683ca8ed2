"""What streaming costs: a seed's evaluation through the real sandbox path, streamed (the child
gets one round of visible inputs at a time, evolve/episode.py) next to the whole-set path (the
same problem with `streams = False`: the child holds its sets, as before streaming), alternating
the order, one warm worker per arm.

    python benchmarks/streaming.py [--problems smtt,moe_placement,spot_single,spot_multi]
                                   [--split train] [--n 5] [--workers 1]

Prints one JSON object: per problem the median seconds per evaluation (EvalResult.seconds: from
the task reaching the worker to its result) of each arm, and their ratio, with the scores (which
must agree: streaming changes what the child holds, not what it computes). With `--workers W`
each arm has W warm workers and each round submits W evaluations at once (a saturated pool: the
streamed pairs then compete for the CPUs); `batch_seconds` is the wall time of those rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

from evolve.config import problem_config
from evolve.evaluator import Evaluator
from evolve.problem import load_problem_class
from evolve.sandbox import Limits

HERE = Path(__file__).resolve()
SEEDS = {"smtt": "mdd", "moe_placement": "deepseek", "spot_single": "up",
         "spot_multi": "up_global"}


def whole_set(target: str):
    """The problem class with streaming off (imported by the worker from this file)."""
    cls = load_problem_class(target)
    return type(f"WholeSet{cls.__name__}", (cls,), {"streams": False,
                                                     "__module__": __name__})


# the whole-set twins of the built-in problems, importable as benchmarks/streaming.py:<name>
for _name in SEEDS:
    _cls = whole_set(problem_config(_name)["target"])
    globals()[_cls.__name__] = _cls


async def _batch(pool: Evaluator, code: str, split: str, count: int) -> list:
    return list(await asyncio.gather(*[pool.evaluate(code, split=split) for _ in range(count)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", default=",".join(SEEDS))
    ap.add_argument("--split", default="train")
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    out: dict = {"split": args.split, "n": args.n, "workers": args.workers, "problems": {}}
    limits = Limits(timeout_s=600, memory_mb=8192)
    for name in args.problems.split(","):
        code = (HERE.parents[1] / "seeds" / name / f"{SEEDS[name]}.py").read_text()
        cfg = problem_config(name)
        twin = whole_set(cfg["target"]).__name__
        arms = {"streamed": cfg, "whole_set": {**cfg, "target": f"{HERE}:{twin}"}}
        secs: dict[str, list[float]] = {a: [] for a in arms}
        batch: dict[str, list[float]] = {a: [] for a in arms}
        scores: dict[str, set] = {a: set() for a in arms}
        with Evaluator(arms["streamed"], limits, workers=args.workers) as a, \
                Evaluator(arms["whole_set"], limits, workers=args.workers) as b:
            pools = {"streamed": a, "whole_set": b}
            for k in range(args.n + 1):  # the first round warms both (numba caches, children)
                order = list(pools) if k % 2 else list(pools)[::-1]
                for arm in order:
                    t0 = time.perf_counter()
                    results = asyncio.run(_batch(pools[arm], code, args.split, args.workers))
                    wall = time.perf_counter() - t0
                    for res in results:
                        if not res.ok:
                            sys.exit(f"{name} {arm}: {res.status} {res.error}")
                        if k:
                            secs[arm].append(res.seconds)
                            scores[arm].add(round(res.metrics.get("mean_cost", res.metrics.get(
                                "mean_gap_pct", res.metrics.get("balancedness_gpu", 0.0))), 9))
                    if k:
                        batch[arm].append(wall)
        med = {arm: statistics.median(v) for arm, v in secs.items()}
        out["problems"][name] = {
            "seconds_median": {arm: round(v, 4) for arm, v in med.items()},
            "ratio_streamed_to_whole_set": round(med["streamed"] / med["whole_set"], 3),
            "seconds": {arm: [round(x, 4) for x in v] for arm, v in secs.items()},
            "batch_seconds_median": {arm: round(statistics.median(v), 4)
                                     for arm, v in batch.items()},
            "quality": {arm: sorted(v) for arm, v in scores.items()},
        }
        print(json.dumps({name: out["problems"][name]["seconds_median"]}), file=sys.stderr)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
