"""The peer bench's loop, interleaved: this project against OpenEvolve (and/or another checkout).

    python benchmarks/peers.py --bench PEER_BENCH_DIR [--openevolve-python OE_VENV/bin/python]
        [--baseline OTHER_CHECKOUT/.venv/bin/python] [--rounds 2] [--iterations 60] [--work bench]

PEER_BENCH_DIR is the peer bench folder (fake LLM, OpenEvolve task); OpenEvolve runs only when
its venv's python is given (`python -m venv oe && oe/bin/pip install openevolve==0.4.0
numba==0.68.1`). Each round runs every side once, one after another (never concurrently), the
order reversed every other round; per side it records the start-up (process start -> first LLM
request) and the loop (first LLM request -> process exit), and per round the ratios against
OpenEvolve (and the baseline). Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class FakeLLM:
    """The bench's loopback OpenAI-compatible server, logging each request's time."""

    def __init__(self, bench: Path, log: Path):
        self.log = log
        self.port_file = log.with_suffix(".port")
        with open(self.port_file, "w") as out:
            self.proc = subprocess.Popen([sys.executable, str(bench / "fake_llm.py"), "0"],
                                         stdout=out, stderr=subprocess.DEVNULL,
                                         env=dict(os.environ, FAKE_LOG=str(log)))
        for _ in range(200):
            text = self.port_file.read_text().strip()
            if text:
                self.port = int(text.splitlines()[0])
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("the fake LLM server did not start")

    def first_request(self) -> float | None:
        try:
            return min(json.loads(line)["t"] for line in self.log.read_text().splitlines())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


# The bench's train.jsonl is the first set of the project's default training split (n = 20,
# 40 per class, seed 1: the same 800 instances, fingerprint 1f479cd1074f63d3); the project's
# default split adds n = 50-500 and a 1,000-instance validation up to n = 500. With `--work
# bench` the project trains on those 800 only and validates on 800 n = 20 instances of its own,
# so both engines score the same candidates on the same data (plus the project's validation).
SAME_WORK = ["problem.train.sizes=[20]", "problem.train.per_class_by_size=[40]",
             "problem.validation.sizes=[20]", "problem.validation.per_class_by_size=[40]"]


def _project(python: str, out: Path, port: int, iterations: int, extra: list[str]) -> list[str]:
    return [python, "-m", "evolve.app", "problem=smtt", "llm=openai_compatible",
            f"llm.api_base=http://127.0.0.1:{port}/v1", "llm.model=openai/fake-model",
            "llm.modes.rewrite=0", f"search.iterations={iterations}", "progress=false",
            f"run_dir={out}", *extra]


def _openevolve(python: str, bench: Path, out: Path, port: int, iterations: int) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    template = (bench / "oe_task" / "config.template.yaml").read_text()
    config = out / "config.yaml"
    config.write_text(template.replace("@PORT@", str(port)).replace("@ITER@", str(iterations))
                      .replace("@TIMEOUT@", "60"))
    run = str(Path(python).parent / "openevolve-run")
    return [run, str(bench / "oe_task" / "initial_program.py"),
            str(bench / "oe_task" / "evaluator.py"), "--config", str(config), "--output",
            str(out), "--iterations", str(iterations)]


def run_side(side: str, python: str, bench: Path, work: Path, iterations: int,
             extra: list[str]) -> dict:
    """One run of one side with its own fake server; times from the server's request log."""
    out = work / side
    llm = FakeLLM(bench, work / f"{side}.calls.jsonl")
    env = dict(os.environ, PEER_BENCH_COMMON=str(bench / "common"),
               SMTT_TRAIN=str(bench / "train.jsonl"))
    try:
        if side == "openevolve":
            cmd, cwd = _openevolve(python, bench, out, llm.port, iterations), str(work)
        else:
            cmd = _project(python, out, llm.port, iterations, extra)
            cwd = str(Path(python).absolute().parent.parent.parent) if side == "baseline" \
                else str(ROOT)
        t0 = time.time()
        with open(work / f"{side}.log", "w") as log:
            rc = subprocess.run(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                timeout=3600).returncode
        t1 = time.time()
        first = llm.first_request()
    finally:
        llm.stop()
    row = {"side": side, "rc": rc, "wall_s": round(t1 - t0, 2), "load": os.getloadavg()[0]}
    if first is not None:
        row.update(startup_s=round(first - t0, 2), loop_s=round(t1 - first, 2))
    return row


def _ratios(rows: list[dict], base: str) -> dict:
    by = {r["side"]: r for r in rows}
    if base not in by or "project" not in by:
        return {}
    out = {}
    for key in ("loop_s", "startup_s", "wall_s"):
        a, b = by["project"].get(key), by[base].get(key)
        if a and b:
            out[key] = round(a / b, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", required=True, type=Path, help="the peer bench folder")
    ap.add_argument("--openevolve-python", help="python of a venv with openevolve installed")
    ap.add_argument("--baseline", help="python of another checkout's venv (before/after)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=60)
    ap.add_argument("--work", choices=("bench", "default"), default="bench",
                    help="bench: the project trains on the bench's 800 instances (the same work "
                         "as OpenEvolve); default: the project's default splits (more work)")
    args = ap.parse_args()
    bench = args.bench.resolve()
    if args.openevolve_python and not (bench / "train.jsonl").exists():
        subprocess.run([sys.executable, str(bench / "export_train.py"),
                        str(bench / "train.jsonl")], cwd=str(ROOT), check=True,
                       stdout=subprocess.DEVNULL)
    sides = [("project", sys.executable)]
    if args.openevolve_python:
        sides.append(("openevolve", args.openevolve_python))
    if args.baseline:
        sides.append(("baseline", args.baseline))
    extra = SAME_WORK if args.work == "bench" else []
    rounds: list[dict] = []
    ratios: dict[str, list[dict]] = {"project_vs_openevolve": [], "project_vs_baseline": []}
    with tempfile.TemporaryDirectory(prefix="evolve-peers-") as tmp:
        for i in range(args.rounds):
            order = sides if i % 2 == 0 else sides[::-1]
            rows = []
            for side, python in order:
                work = Path(tmp) / f"r{i}"
                work.mkdir(exist_ok=True)
                rows.append(run_side(side, python, bench, work, args.iterations, extra))
                print(json.dumps(rows[-1]), file=sys.stderr)
            ratios["project_vs_openevolve"].append(_ratios(rows, "openevolve"))
            ratios["project_vs_baseline"].append(_ratios(rows, "baseline"))
            rounds.append({"round": i, "runs": rows,
                           **{key: found[-1] for key, found in ratios.items()}})
    summary: dict[str, dict[str, float]] = {}
    for key, found in ratios.items():
        for metric in ("loop_s", "startup_s", "wall_s"):
            vals = [r[metric] for r in found if metric in r]
            if vals:
                summary.setdefault(key, {})[f"{metric}_median_ratio"] = statistics.median(vals)
    print(json.dumps({"benchmark": "peers", "iterations": args.iterations, "work": args.work,
                      "rounds": rounds,
                      "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
