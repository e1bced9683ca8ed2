"""Per-candidate cost of the sandbox, and evaluations per minute on the test problem (prints JSON).

* `overhead_trivial`: a trivial candidate through a warm worker's sandbox. `critical` is what an
  evaluation waits for (task to the standby child, result frame, kill); `cycle` adds forking and
  confining the next standby (namespaces, read-only root, limits), which the worker does while
  the controller records the previous result. Measured as the current user and, when root, as a
  plain user created for the run (the unprivileged user-namespace path).
* `real_path`: a real SMTT candidate (EDD seed variants) through the whole evaluation path
  (controller -> worker -> standby sandboxed child -> gate + train -> trusted scoring -> result
  frame -> controller), minus the same candidate's own work (load, numba compile, gate and train
  sets, score) measured in-process, paired and interleaved in one run. The target (issue 18) is
  on this path's median overhead, not on the trivial body's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evolve.evaluator import Evaluator  # noqa: E402
from evolve.sandbox import Limits  # noqa: E402
from tests.engine_util import write_variants  # noqa: E402

PROBLEM = {"name": "sorting", "target": str(ROOT / "tests/problems/sorting.py") + ":SortingProblem",
           "instances": 20, "n": 30}



EDD_LINE = "v = slack + t + p_j"


def edd_variant(code: str, k: int) -> str:
    """The EDD seed with its priority changed in source, not in value (+ k * 1e-300 is lost in
    the rounding of any due date): numba compiles it anew, as it does a real candidate (a
    comment-only change would reuse the seed's compiled entry)."""
    assert EDD_LINE in code
    return code.replace(EDD_LINE, f"{EDD_LINE} + {k}e-300", 1)

def _stats(samples: list[float]) -> dict:
    ms = sorted(s * 1000 for s in samples)
    return {"median_ms": round(statistics.median(ms), 3),
            "p90_ms": round(ms[int(0.9 * len(ms))], 3),
            "min_ms": round(ms[0], 3), "n": len(ms)}


def overhead(n: int = 200) -> dict:
    with Evaluator(PROBLEM, Limits(), workers=1) as ev:
        ev.overhead(10)  # warm the page cache
        samples = ev.overhead(n)
        isolation = ev.isolation_detail
    return {"isolation": isolation, "uid": os.geteuid(),
            **{k: _stats(v) for k, v in samples.items()}}


def overhead_as_plain_user() -> dict | None:
    """The same measurement in a child process run as a throwaway plain user."""
    if os.geteuid() != 0:
        return None
    from tests.sandbox_util import as_user_cmd, plain_user

    with plain_user() as (uid, gid):
        cmd = as_user_cmd([sys.executable, __file__, "--overhead-only"], uid, gid)
        env = dict(os.environ, XDG_CACHE_HOME="/tmp", NUMBA_CACHE_DIR="/tmp", HOME="/tmp")
        out = subprocess.run(cmd, cwd="/tmp", env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout)


def real_path(n: int = 15, profile: bool = False, other: str | None = None) -> dict:
    """A real SMTT candidate (the EDD seed, a fresh variant each time so nothing is reused)
    through the real path with the default gate, minus the same variant's own work in-process:
    load, numba compile, the gate and train sets, scoring. Paired and interleaved. `other`: also
    through another checkout of this project (its controller module and its workers), in
    alternating order. `profile`: the workers note when each step ended (EVOLVE_PROFILE_EVAL;
    a checkout without it ignores it), the result adds median ms per step and CPU totals."""
    return asyncio.run(_real_path(n, profile, Path(other).resolve() if other else None))


def _other_evaluator(other: Path) -> type:
    import importlib.util

    spec = importlib.util.spec_from_file_location("other_evaluator",
                                                  other / "evolve" / "evaluator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Evaluator


def _pool(cfg: dict, log: Path | None, checkout: Path | None, workers: int = 1):
    """An evaluator of this checkout, or of `checkout` (its workers import its package)."""
    saved, cwd = dict(os.environ), os.getcwd()
    if log is not None:
        os.environ["EVOLVE_PROFILE_EVAL"] = str(log)  # read by the workers at start
    if checkout is not None:  # `python -m` puts the working folder first on the path
        os.environ["PYTHONPATH"] = str(checkout)
        os.chdir(checkout)
    try:
        cls = _other_evaluator(checkout) if checkout is not None else Evaluator
        ev = cls(cfg, Limits(), workers=workers, gate=True).start()
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved)
    for w in ev._all:  # every worker runs the intended checkout's code
        assert os.readlink(f"/proc/{w.proc.pid}/cwd") == str(checkout or Path.cwd())
    return ev


async def _real_path(n: int, profile: bool, other: Path | None) -> dict:
    from evolve.config import compose, to_dict
    from evolve.problem import make_problem
    from evolve.result import evaluate_in_process

    cfg = to_dict(compose(["problem=smtt"], []).problem)
    problem = make_problem({k: v for k, v in cfg.items() if k != "preload"})
    code = problem.seed_path("edd").read_text()
    sets = problem.gate_sets() + problem.instance_sets("train")
    names = ["this"] + (["other"] if other else [])
    own, own_cpu = [], []
    took: dict[str, list[float]] = {k: [] for k in names}
    spans: dict[str, list[tuple[float, float]]] = {k: [] for k in names}
    own_steps: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        logs = {k: Path(tmp) / f"{k}.jsonl" for k in names}
        pools = {k: _pool(cfg, logs[k] if profile else None, other if k == "other" else None)
                 for k in names}
        try:
            for ev in pools.values():
                await ev.evaluate(code)
            evaluate_in_process(problem, code, sets=sets)
            await asyncio.sleep(0.5)  # the warm-up's profile row is written after its reply
            for log in logs.values():
                log.unlink(missing_ok=True)
            for i in range(n):  # interleaved, so that load changes hit all alike
                variant = edd_variant(code, i)
                t0, c0 = time.perf_counter(), time.process_time()
                assert _own_steps(problem, variant, sets, own_steps)
                own.append(time.perf_counter() - t0)
                own_cpu.append(time.process_time() - c0)
                for k in (names if i % 2 else names[::-1]):
                    t0, m0 = time.perf_counter(), time.monotonic()
                    assert (await pools[k].evaluate(variant)).ok  # the controller's own call
                    took[k].append(time.perf_counter() - t0)
                    spans[k].append((m0, time.monotonic()))
        finally:
            for ev in pools.values():
                ev.close()
        out: dict = {"candidate": "smtt edd seed variants, gate + train split",
                     "own_work": _stats(own), "own_work_cpu": _stats(own_cpu)}
        for k in names:
            label = "" if k == "this" else f"_{k}"
            out[f"through_sandbox{label}"] = _stats(took[k])
            out[f"overhead{label}"] = _stats([w - o for w, o in zip(took[k], own)])
            if profile and logs[k].exists():
                out[f"steps_median_ms{label}"] = _steps(logs[k], spans[k], own_cpu)
    if other:
        out["other"] = str(other.name)
        out["this_minus_other"] = _stats([a - b for a, b in zip(took["this"], took["other"])])
    if profile:
        out["own_steps_median_ms"] = {k: round(statistics.median(v) * 1000, 2)
                                      for k, v in own_steps.items()}
    return out


def saturated(other: str, rounds: int = 8, batch: int = 8) -> dict:
    """Seconds for a batch of EDD variants submitted at once to 2 workers (tasks queued, as in a
    run with an instant LLM), this checkout and `other` alternating, `rounds` batches each."""
    return asyncio.run(_saturated(Path(other).resolve(), rounds, batch))


async def _saturated(other: Path, rounds: int, batch: int) -> dict:
    from evolve.config import compose, to_dict
    from evolve.problem import make_problem

    cfg = to_dict(compose(["problem=smtt"], []).problem)
    code = make_problem({k: v for k, v in cfg.items() if k != "preload"}).seed_path("edd") \
        .read_text()
    pools = {"this": _pool(cfg, None, None, 2), "other": _pool(cfg, None, other, 2)}
    took: dict[str, list[float]] = {k: [] for k in pools}
    try:
        for ev in pools.values():
            await asyncio.gather(*(ev.evaluate(edd_variant(code, 10_000 + i)) for i in range(2)))
        for r in range(rounds):
            for k in (["this", "other"] if r % 2 else ["other", "this"]):
                t0 = time.perf_counter()
                tag = 100_000 * (1 + list(pools).index(k)) + 1_000 * r
                got = await asyncio.gather(*(pools[k].evaluate(edd_variant(code, tag + i))
                                             for i in range(batch)))
                took[k].append(time.perf_counter() - t0)
                assert all(g.ok for g in got)
    finally:
        for ev in pools.values():
            ev.close()
    return {"batch": batch, "workers": 2, "seconds_this": [round(t, 2) for t in took["this"]],
            "seconds_other": [round(t, 2) for t in took["other"]],
            "ratio_per_round": [round(a / b, 3) for a, b in zip(took["this"], took["other"])]}


def _own_steps(problem, code: str, sets: list, steps: dict[str, list[float]]) -> bool:
    """The in-process evaluation (as evaluate_in_process), timed per step."""
    from evolve.program import load_candidate

    t = [time.perf_counter()]
    c = [time.process_time()]

    def lap(name: str) -> None:
        t.append(time.perf_counter())
        c.append(time.process_time())
        steps.setdefault(name, []).append(t[-1] - t[-2])
        steps.setdefault(name + " (cpu)", []).append(c[-1] - c[-2])

    cand = load_candidate(code, problem.entry, problem.jit_entry)
    lap("load")
    outputs = []
    for i, iset in enumerate(sets):
        outputs.append(problem.run(cand, iset))
        lap(f"run set {i}")
    scores = [problem.score_set(iset, out) for iset, out in zip(sets, outputs)]
    lap("score sets")
    problem.summarize("train", scores)
    lap("summarize")
    return not cand.fallback_reason


def _steps(log: Path, spans: list[tuple[float, float]], own_cpu: list[float]) -> dict:
    """Median ms from the previous mark to each mark, controller call to controller return (the
    standby fork after the reply is off the path: listed, not in the sum). CPU: the child's and
    the worker's (message read to reply sent) per evaluation, and their sum minus the same
    variant's CPU in-process."""
    rows = [json.loads(line) for line in log.read_text().splitlines()][-len(spans):]
    per_step: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {"child": [], "worker": [], "child + worker - in-process": []}
    for (start, end), row, own in zip(spans, rows, own_cpu):
        marks = sorted([("controller: submitted", start, None), ("controller: returned", end, None)]
                       + [tuple(m) for m in row["marks"]], key=lambda m: m[1])
        for (before, t_prev, c_prev), (name, t, c) in itertools.pairwise(marks):
            per_step.setdefault(name, []).append((t - t_prev) * 1000)
            if c is not None and c_prev is not None and name.split(":")[0] == before.split(":")[0]:
                per_step.setdefault(name + " (cpu)", []).append((c - c_prev) * 1000)
        at = {m[0]: m[2] for m in row["marks"]}
        child = [m[2] for m in row["marks"] if m[0].startswith("child:")]
        cpu["child"].append(child[-1] - at["child: task read"])
        cpu["worker"].append(at["worker: reply sent"] - at["worker: message read"])
        cpu["child + worker - in-process"].append(cpu["child"][-1] + cpu["worker"][-1] - own)
    out: dict = {k: round(statistics.median(v), 2) for k, v in per_step.items()}
    out["cpu_ms"] = {k: _stats(v) for k, v in cpu.items()}
    full = [row["gc_runs"][2] for row in rows if row.get("gc_runs")]
    out["children with a full gc collection"] = f"{sum(n > 0 for n in full)} of {len(full)}"
    return out


def compile_where(n: int = 8) -> dict:
    """CPU ms of one EDD variant's compile + gate set in one warm worker's state: in a fully
    isolated child, in a plain forked child, in the worker process itself (interleaved). Runs the
    worker's code in this process (it becomes a worker: run it alone, `--compile-where`)."""
    os.environ["EVOLVE_PROFILE_EVAL"] = os.devnull  # the child's marks carry its CPU time
    from evolve.evaluator import numba_cache_dir

    cache = numba_cache_dir(dict(os.environ))
    if cache:  # the workers' folder; numba's default is the package's own __pycache__
        os.environ["NUMBA_CACHE_DIR"] = cache
    from evolve import evalmarks, worker
    from evolve.config import compose, to_dict
    from evolve.program import load_candidate

    evalmarks.PROFILE = os.devnull
    import evolve.sandbox as sandbox_mod

    sandbox_mod.PROFILE = True
    worker.init_worker(to_dict(compose(["problem=smtt"], []).problem), Limits())
    problem = worker._STATE["problem"]
    code = problem.seed_path("edd").read_text()
    gate = worker._sets("gate")[0]

    def here(variant: str) -> float:
        cand = load_candidate(variant, problem.entry, problem.jit_entry)
        c = time.process_time()
        problem.run(cand, gate)
        return time.process_time() - c

    def forked(variant: str) -> float:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(w, repr(here(variant)).encode())
            os._exit(0)
        os.close(w)
        got = os.read(r, 100)
        os.waitpid(pid, 0)
        os.close(r)
        return float(got)

    def sandboxed(variant: str) -> float:
        worker.shut_down()
        assert worker.evaluate_task(variant)["status"] == "ok"
        at = {m[0]: m[2] for m in worker._STATE["child_profile"]["marks"]}
        # a streamed stage (episode.serve_stage) marks its end once, a held one per set
        ran = at.get("child: ran gate", at.get("child: ran gate 0"))
        return ran - at["child: loaded"]

    ways = {"isolated child": sandboxed, "plain forked child": forked, "worker itself": here}
    took: dict[str, list[float]] = {k: [] for k in ways}
    for i in range(n):
        for name, way in ways.items():
            tag = 1_000_000 + 1_000 * list(ways).index(name)
            took[name].append(way(edd_variant(code, tag + i)))
    worker.shut_down()
    return {k: round(statistics.median(v) * 1000, 1) for k, v in took.items()}


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
    if "--saturated" in sys.argv:  # this checkout against another with the workers' queue full
        other = sys.argv[sys.argv.index("--saturated") + 1]
        print(json.dumps({"benchmark": "sandbox", "load_average": os.getloadavg(),
                          "saturated": saturated(other)}, indent=2))
        return
    if "--compile-where" in sys.argv:
        print(json.dumps({"benchmark": "sandbox", "load_average": os.getloadavg(),
                          "compile_cpu_ms_median": compile_where()}, indent=2))
        return
    if "--overhead-only" in sys.argv:
        print(json.dumps(overhead()))
        return
    if "--compare" in sys.argv or "--profile" in sys.argv:
        other = sys.argv[sys.argv.index("--compare") + 1] if "--compare" in sys.argv else None
        n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 15
        print(json.dumps({"benchmark": "sandbox", "load_average": os.getloadavg(),
                          "real_path": real_path(n, "--profile" in sys.argv, other)}, indent=2))
        return
    if "--real-only" in sys.argv:  # only the real per-candidate path (a few minutes less)
        print(json.dumps({"benchmark": "sandbox", "load_average": os.getloadavg(),
                          "real_path": real_path(), "overhead_trivial": overhead(50)}, indent=2))
        return
    trivial = overhead()
    as_user = overhead_as_plain_user()
    real = real_path()
    with tempfile.TemporaryDirectory() as tmp:
        tp = asyncio.run(throughput(40, 2, Path(tmp)))
    print(json.dumps({
        "benchmark": "sandbox",
        "load_average": os.getloadavg(),
        "overhead_trivial": trivial,
        "overhead_trivial_plain_user": as_user,
        "real_path": real,
        "target_median_ms": 20,
        "meets_target": real["overhead"]["median_ms"] <= 20,
        "throughput_test_problem": tp,
    }, indent=2))


if __name__ == "__main__":
    main()
