"""Spot simulator speed: numba kernel vs its plain-Python twin, and a full multi-region test
evaluation. Prints one JSON object.

    .venv/bin/python benchmarks/spot_sim.py
"""

from __future__ import annotations

import json
import time

import numpy as np

from evolve.evaluators import spot
from evolve.problem import Candidate
from evolve.problems.spot import SpotMultiProblem, SpotSingleProblem
from evolve.problems.spot import baselines as B
from evolve.result import evaluate_in_process, run_sets


def _rate(batch, policy, cfg, jitted, min_s=1.0):
    """Simulations per second (repeated until min_s elapsed) and the mean cost."""
    runs, t0 = 0, time.perf_counter()
    while True:
        _, _, st = spot.run_policy(batch, policy, cfg, jitted)
        runs += 1
        el = time.perf_counter() - t0
        if el >= min_s:
            return runs * batch.n / el, float(st[:, spot.ST_COST].mean())


def _concat(sets):
    """One batch of all jobs of same-shaped sets (the single-region test sets share a shape)."""
    b = [s.data for s in sets]
    off = np.cumsum([0] + [x.avail.shape[0] for x in b[:-1]])
    return spot.SpotBatch(
        np.concatenate([x.avail for x in b]), np.concatenate([x.prices for x in b]),
        np.concatenate([x.win_ticks for x in b]), np.concatenate([x.win_regions for x in b]),
        np.concatenate([x.win_gap for x in b]),
        np.concatenate([x.inst_win + o for x, o in zip(b, off)]),
        *(np.concatenate([getattr(x, k) for x in b])
          for k in ("work", "deadline", "overhead", "switch_overhead", "scenario")))


def main() -> None:
    out = {}
    single = SpotSingleProblem({"report_optimum": False})
    batch = _concat(single.instance_sets("test"))
    slow_batch = batch.subset(np.arange(0, batch.n, 18))  # 60 jobs spread over the suite
    for name, pol in (("greedy", B.greedy), ("uniform_progress", B.uniform_progress)):
        fast, _ = _rate(batch, spot.compile_policy(pol), single.sim, True)
        slow, _ = _rate(slow_batch, pol, single.sim, False, min_s=2.0)
        out[f"single_{name}"] = {"numba_sims_per_s": round(fast),
                                 "python_sims_per_s": round(slow, 1),
                                 "speedup": round(fast / slow, 1), "jobs_numba": batch.n,
                                 "jobs_python": slow_batch.n}

    multi = SpotMultiProblem({})
    mb = [s.data for s in multi.instance_sets("test")]
    jobs = sum(b.n for b in mb)
    disp = spot.compile_policy(B.uniform_progress_global)
    t0, reps = time.perf_counter(), 0
    while time.perf_counter() - t0 < 1.0:
        for b in mb:
            spot.run_policy(b, disp, multi.sim, True)
        reps += 1
    nb_rate = reps * jobs / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for b in mb:
        spot.run_policy(b, B.uniform_progress_global, multi.sim, False)
    py_rate = jobs / (time.perf_counter() - t0)
    out["multi_uniform_progress"] = {"numba_sims_per_s": round(nb_rate),
                                     "python_sims_per_s": round(py_rate, 1),
                                     "speedup": round(nb_rate / py_rate, 1), "jobs": jobs}

    # full multi-region test evaluation: run in the "sandbox" half, trusted replay, summary
    sets = multi.instance_sets("test")
    t0 = time.perf_counter()
    for s in sets:
        spot.optimum(s.data)
    out["multi_test_optimum_once_s"] = round(time.perf_counter() - t0, 3)
    code = multi.seed_path("greedy").read_text()
    t0 = time.perf_counter()
    r = evaluate_in_process(multi, code, split="test")
    out["multi_test_eval_incl_policy_compile_s"] = round(time.perf_counter() - t0, 3)
    cand = Candidate(module=None, py=B.greedy_round_robin, jit=None)
    run_sets(multi, cand, sets)  # compile once
    t0 = time.perf_counter()
    summary = multi.summarize("test", run_sets(multi, cand, sets))
    out["multi_test_eval_after_compile_s"] = round(time.perf_counter() - t0, 4)
    out["multi_test_jobs"] = int(summary.metrics["jobs"])
    out["multi_greedy_mean_cost"] = round(summary.metrics["mean_cost"], 3)
    out["multi_seed_ok"] = r.ok
    print(json.dumps(out))


if __name__ == "__main__":
    main()
