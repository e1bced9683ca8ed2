"""Web UI page times on a 5,000-program archive: server-side (HTTP round trip to a real
`evolve-archive serve`) and in Chromium (navigation until the charts are drawn). Prints JSON.

    python benchmarks/webui.py [--programs 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evolve.archive import Archive, LLMCall, Program, sqlite_url
from tests.browser import chromium, served

CODE = "import numpy as np\n\n\ndef solve(x):\n    key = x * {a:.4f} + {b:.4f}\n" \
       "    return np.argsort(key)\n"
KINDS = ["compile_error", "runtime_error", "timeout", "invalid_output"]


def build(folder: Path, n: int) -> None:
    """A synthetic run shaped like a real one: two islands, a lineage, 15% failures, LLM calls,
    a few disastrous outliers."""
    rng = random.Random(0)
    a = Archive(sqlite_url(folder / "archive.sqlite"))
    cfg = {"problem": {"name": "smtt", "target": "evolve.problems.smtt:SmttProblem"},
           "search": {"iterations": n, "exploration": 0.2,
                      "map_elites": {"features": ["code_length", "behaviour"], "bins": 8}}}
    run = a.create_run("smtt", str(folder), cfg, seed=0)
    ok: list[tuple[int, float]] = []
    with a.Session.begin() as s:
        for i in range(n):
            parent = rng.choice(ok[-200:]) if ok else None
            fail = i > 0 and rng.random() < 0.15
            score = None if fail else (min(0.0, (parent[1] if parent else -60.0)
                                           + rng.gauss(0.5, 3.0)) if rng.random() > 0.01
                                       else -600.0)
            p = Program(run_id=run.id, iteration=i, island=i % 2, parent_id=parent[0]
                        if parent else None, code=CODE.format(a=rng.random(), b=rng.random()),
                        proposer="seed" if i == 0 else rng.choice(["mutation", "llm_diff",
                                                                   "crossover", "tune"]),
                        operator=rng.choice(["scale", "swap", None]), model="tiny",
                        status=rng.choice(KINDS) if fail else "ok", score=score,
                        error="Traceback ...\nValueError: bad" if fail else None,
                        metrics={} if fail else {"mean_gap_pct": -(score or 0.0)},
                        behaviour=rng.random(), wall_offset=i * 0.7, feedback="feedback")
            s.add(p)
            s.flush()
            s.add(LLMCall(run_id=run.id, program_id=p.id, iteration=i, model="tiny",
                          prompt=[{"role": "user", "content": "improve"}], reply="```diff```",
                          prompt_tokens=900, completion_tokens=200, cost_usd=0.0004))
            if score is not None:
                ok.append((p.id, score))
    a.update_run(run.id, status="finished")
    a.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--programs", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "run"
        folder.mkdir()
        t = time.perf_counter()
        build(folder, args.programs)
        built = time.perf_counter() - t
        mid = args.programs // 2
        pages = {"runs": "/", "run": "/run/1", "lineage": "/run/1/tree",
                 "program": f"/run/1/program/{mid}", "failures": "/run/1/failures",
                 "run.json": "/run/1/data.json"}
        ready = {"run": ".score-chart svg circle", "lineage": "svg.tree path.node",
                 "program": "#code", "failures": "#fail-table", "runs": "#runs-table"}
        out: dict = {"programs": args.programs, "build_s": round(built, 2), "server_s": {},
                     "browser_s": {}, "bytes": {}}
        with served(folder) as url:
            for name, path in pages.items():
                times = []
                for _ in range(args.repeat + 1):  # the first request warms the caches
                    t = time.perf_counter()
                    with urllib.request.urlopen(url + path, timeout=120) as r:
                        body = r.read()
                    times.append(time.perf_counter() - t)
                out["server_s"][name] = round(statistics.median(times[1:]), 3)
                out["bytes"][name] = len(body)
            with chromium() as browser:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                for name, sel in ready.items():
                    times = []
                    for _ in range(args.repeat + 1):
                        t = time.perf_counter()
                        page.goto(url + pages[name])
                        page.wait_for_selector(sel)
                        times.append(time.perf_counter() - t)
                    out["browser_s"][name] = round(statistics.median(times[1:]), 3)
        out["target_s"] = 1.0
        out["all_under_target"] = all(v < 1.0 for v in [*out["server_s"].values(),
                                                        *out["browser_s"].values()])
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
