"""Sandbox overhead per candidate and evaluations per minute on the test problem (prints JSON).

Overhead = fork from the warm worker + isolation (limits, user, network namespace, audit hook)
+ result pipe + reap, for a trivial candidate body; median over 200 children.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evolve.evaluator import Evaluator  # noqa: E402
from evolve.sandbox import Limits  # noqa: E402
from tests.engine_util import write_variants  # noqa: E402

PROBLEM = {"name": "sorting", "target": str(ROOT / "tests/problems/sorting.py") + ":SortingProblem",
           "instances": 20, "n": 30}


def overhead(limits: Limits, n: int = 200) -> dict:
    with Evaluator(PROBLEM, limits, workers=1) as ev:
        ev.overhead(10)  # warm the page cache
        samples = ev.overhead(n)
    ms = sorted(s * 1000 for s in samples)
    return {"median_ms": round(statistics.median(ms), 3), "p90_ms": round(ms[int(0.9 * n)], 3),
            "min_ms": round(ms[0], 3), "n": n}


async def throughput(n_programs: int, workers: int, tmp: Path) -> dict:
    codes = [p.read_text() for p in write_variants(tmp, n_programs)]
    with Evaluator(PROBLEM, Limits(timeout_s=30), workers=workers) as ev:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(ev.evaluate(c) for c in codes))
        dt = time.perf_counter() - t0
    ok = sum(r.ok for r in results)
    return {"programs": n_programs, "workers": workers, "ok": ok, "seconds": round(dt, 2),
            "evals_per_min": round(60 * n_programs / dt, 1),
            "mean_eval_s": round(statistics.mean(r.seconds for r in results), 3)}


def main() -> None:
    import tempfile

    full = overhead(Limits())
    bare = overhead(Limits(isolate_network=False, drop_privileges=False))
    with tempfile.TemporaryDirectory() as tmp:
        tp = asyncio.run(throughput(40, 2, Path(tmp)))
    print(json.dumps({
        "benchmark": "sandbox",
        "running_as_root": os.geteuid() == 0,
        "overhead_full_isolation": full,
        "overhead_without_netns_and_user": bare,
        "target_median_ms": 20,
        "meets_target": full["median_ms"] < 20,
        "throughput_test_problem": tp,
    }, indent=2))


if __name__ == "__main__":
    main()
