"""Web UI page times on a 5,000-program archive: server-side (HTTP round trip to a real
`evolve-archive serve`) and in Chromium (navigation until the page has drawn its charts), each
cold (the server's first read of the run) and warm (served from its per-run cache), plus the
time the lineage tree takes to redraw after one zoom step. Prints JSON.

    python benchmarks/webui.py [--programs 5000] [--repeat 3] [--baseline DIR]

`--baseline DIR` serves the same archive from another checkout too (e.g. `git worktree add DIR
main`), alternating the two in every repeat, so both are measured under the same machine load.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evolve.archive import Archive, LLMCall, Program, sqlite_url  # noqa: E402
from tests.browser import HANG_GUARD_S, chromium, served  # noqa: E402

SEED = (ROOT / "seeds" / "smtt" / "mdd.py").read_text()
BLOCK_END = "            # EVOLVE-BLOCK-END\n"
KINDS = ["compile_error", "runtime_error", "timeout", "invalid_output"]
PROMPT = "You improve a dispatch rule for single-machine total tardiness.\n" * 60
# "ready": the page set body[data-ready] after drawing; the older UI had no such flag, so its
# last-drawn element stands in for it
READY = {"runs": "#runs-table", "run": ".score-chart svg circle",
         "lineage": "svg.tree path.node", "program": "#code", "failures": "#fail-table"}


def _code(rng: random.Random) -> str:
    """The MDD seed with 0-60 evolved lines in its block: 1.7-5 KB, like LLM-grown programs."""
    extra = "".join(f"            v += {rng.uniform(-1, 1):.4f} * (p_j - d_j / {rng.randint(2, 9)})"
                    f"  # term {k}\n" for k in range(rng.randint(0, 60)))
    return SEED.replace(BLOCK_END, extra + BLOCK_END)


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
                        if parent else None, code=_code(rng),
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
                          prompt=[{"role": "user", "content": PROMPT}], reply="```diff```",
                          prompt_tokens=900, completion_tokens=200, cost_usd=0.0004))
            if score is not None:
                ok.append((p.id, score))
    a.update_run(run.id, status="finished")
    a.close()


def _get(url: str) -> tuple[float, int]:
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        body = r.read()
    return time.perf_counter() - t, len(body)


def _open(page, url: str, name: str) -> float:
    t = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(f"body[data-ready], {READY[name]}")
    return time.perf_counter() - t


# one zoom step on the lineage chart, timed until the browser has painted the next frame
ZOOM = """() => new Promise(done => {
  const el = document.querySelector('.tree-chart canvas, .tree-chart svg.tree');
  const r = el.getBoundingClientRect(), t0 = performance.now();
  el.dispatchEvent(new WheelEvent('wheel', {deltaY: -120, clientX: r.left + r.width / 2,
    clientY: r.top + r.height / 2, bubbles: true, cancelable: true}));
  requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0)));
})"""


def measure(folder: Path, root: Path, pages: dict[str, str], browser) -> dict:
    """One round on a fresh server for HTTP and one for the browser (cold = first request)."""
    out: dict = {"server_cold_s": {}, "server_warm_s": {}, "browser_cold_s": {},
                 "browser_warm_s": {}, "bytes": {}}
    with served(folder, root=root) as url:
        for name, path in pages.items():
            out["server_cold_s"][name], _ = _get(url + path)
            out["server_warm_s"][name], out["bytes"][name] = _get(url + path)
    with served(folder, root=root) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(HANG_GUARD_S * 1000)  # a hang guard: the machine may be busy
        for name, path in pages.items():
            if name in READY:
                out["browser_cold_s"][name] = _open(page, url + path, name)
                out["browser_warm_s"][name] = _open(page, url + path, name)
        _open(page, url + pages["lineage"], "lineage")
        out["zoom_redraw_s"] = statistics.median(page.evaluate(ZOOM) for _ in range(5)) / 1000
        page.close()
    return out


def _median(rounds: list[dict]) -> dict:
    out: dict = {}
    for key, v in rounds[0].items():
        if isinstance(v, dict):
            out[key] = {k: round(statistics.median(r[key][k] for r in rounds), 3) for k in v}
        else:
            out[key] = round(statistics.median(r[key] for r in rounds), 3)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--programs", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", type=Path, help="another checkout to serve the same archive")
    args = ap.parse_args()
    variants = {"this": ROOT}
    if args.baseline:
        variants = {"baseline": args.baseline.resolve(), **variants}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "run"
        folder.mkdir()
        t = time.perf_counter()
        build(folder, args.programs)
        built = time.perf_counter() - t
        mid = args.programs // 2
        pages = {"runs": "/", "run": "/run/1", "lineage": "/run/1/tree",
                 "program": f"/run/1/program/{mid}", "failures": "/run/1/failures",
                 "run.json": "/run/1/data.json", "tree.json": "/run/1/tree.json"}
        rounds: dict[str, list[dict]] = {name: [] for name in variants}
        with chromium() as browser:
            for _ in range(args.repeat):
                for name, root in variants.items():  # interleaved: same load for both
                    rounds[name].append(measure(folder, root, pages, browser))
    out: dict = {"programs": args.programs, "build_s": round(built, 2), "repeat": args.repeat,
                 "target_s": 1.0}
    for name, rs in rounds.items():
        m = _median(rs)
        m["all_under_target"] = all(v < 1.0 for k in ("server_cold_s", "browser_cold_s")
                                    for v in m[k].values())
        out[name] = m
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
