"""Scale-out of evaluations: the local pool against the Ray backend, side by side (prints JSON).

* `throughput`: evaluations per minute of candidates that sleep `--sleep-ms` (I/O-bound: the
  number of warm workers caps the rate, not the two cores), on the local pool with 2 workers
  and on Ray with 2, 4 and 8 actors of one local Ray cluster started here (`ray start --head`
  with 8 logical CPUs in a temp dir, ended at the end). Each configuration evaluates
  `--rounds` x workers distinct programs, all submitted at once.
* `efficiency_2_to_8`: (Ray rate with 8 actors / rate with 2) / 4; the same for 8 and 2 local
  workers as a control (what the machine allows, whatever the backend).
* `overhead`: a trivial candidate evaluated one at a time through one worker, local and Ray;
  median and p90 latency, and the Ray median minus the local median.

Usage: python benchmarks/scaleout.py [--rounds 6] [--sleep-ms 200] [--trivial 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evolve.evaluator import Evaluator  # noqa: E402
from evolve.ray_backend import RayEvaluator  # noqa: E402
from evolve.sandbox import Limits  # noqa: E402
from tests.raycluster import RayCluster  # noqa: E402

PROBLEM = {"name": "sleepy", "target": str(ROOT / "benchmarks" / "sleepy.py") + ":SleepyProblem"}


def _program(i: int, sleep_ms: float) -> str:
    # distinct text per program: nothing along the path may serve a repeat from a cache
    nap = f"    time.sleep({sleep_ms / 1000:.3f})\n" if sleep_ms else ""
    return f"import time\n\n\ndef wait(x):\n{nap}    return float(x.sum()) + 0.0 * {i}\n"


def _evaluator(backend: str, workers: int, address: str) -> Evaluator:
    if backend == "local":
        return Evaluator(PROBLEM, Limits(timeout_s=60), workers=workers, gate=False)
    return RayEvaluator(PROBLEM, Limits(timeout_s=60), workers=workers, gate=False,
                        ray_cfg={"address": address, "num_cpus": 1.0, "start_timeout_s": 600})


async def _burst(ev: Evaluator, n: int, sleep_ms: float) -> float:
    t0 = time.perf_counter()
    results = await asyncio.gather(*(ev.evaluate(_program(i, sleep_ms)) for i in range(n)))
    elapsed = time.perf_counter() - t0
    bad = [r for r in results if not r.ok]
    if bad:
        raise RuntimeError(f"{len(bad)} evaluations failed: {bad[0].status}: {bad[0].error}")
    return elapsed


def throughput(backend: str, workers: int, address: str, rounds: int, sleep_ms: float) -> dict:
    with _evaluator(backend, workers, address) as ev:
        asyncio.run(_burst(ev, workers, sleep_ms))  # every worker warm and past its first task
        n = rounds * workers
        elapsed = asyncio.run(_burst(ev, n, sleep_ms))
    return {"backend": backend, "workers": workers, "evaluations": n,
            "seconds": round(elapsed, 3), "evals_per_min": round(n / elapsed * 60, 1),
            "ideal_evals_per_min": round(workers * 60_000 / sleep_ms, 1)}


def latency(backend: str, address: str, n: int) -> dict:
    samples = []
    with _evaluator(backend, 1, address) as ev:
        for i in range(n + 5):
            t0 = time.perf_counter()
            res = ev.evaluate_sync(_program(i, 0))
            if not res.ok:
                raise RuntimeError(f"{res.status}: {res.error}")
            if i >= 5:  # the first few warm caches on both sides
                samples.append(time.perf_counter() - t0)
    ms = sorted(s * 1000 for s in samples)
    return {"median_ms": round(statistics.median(ms), 2),
            "p90_ms": round(ms[int(0.9 * len(ms))], 2), "n": len(ms)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--sleep-ms", type=float, default=200.0)
    ap.add_argument("--trivial", type=int, default=40)
    args = ap.parse_args()
    cluster = RayCluster(cpus=(8,)).start()
    try:
        rows = [throughput("local", 2, "", args.rounds, args.sleep_ms)]
        rows += [throughput("ray", n, cluster.address, args.rounds, args.sleep_ms)
                 for n in (2, 4, 8)]
        # the control: how far 8 local workers get on the same cores (the sandbox costs CPU)
        rows += [throughput("local", 8, "", args.rounds, args.sleep_ms)]
        local, on_ray = latency("local", "", args.trivial), latency("ray", cluster.address,
                                                                     args.trivial)
    finally:
        cluster.stop()
    rate = {(r["backend"], r["workers"]): r["evals_per_min"] for r in rows}
    print(json.dumps({
        "sleep_ms": args.sleep_ms, "throughput": rows,
        "efficiency_2_to_8": round(rate[("ray", 8)] / rate[("ray", 2)] / 4, 3),
        "local_efficiency_2_to_8": round(rate[("local", 8)] / rate[("local", 2)] / 4, 3),
        "overhead": {"local": local, "ray": on_ray,
                     "ray_minus_local_median_ms": round(on_ray["median_ms"] - local["median_ms"],
                                                        2)},
        "cluster_left_running": cluster.pids()}, indent=2))


if __name__ == "__main__":
    main()
