"""The spot panel's reference costs: every baseline's mean cost per scenario on every instance set
of every split (default config), computed here with trusted code and stored as a data file, since
the web UI evaluates nothing.

Regenerate (about two minutes): `python -m evolve.problems.spot.panel_baselines`
Check without writing: `python -m evolve.problems.spot.panel_baselines --check` (exit 1 and the
stale values when the file differs; `--problem spot_multi` restricts either to one problem)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from evolve.evaluators import spot
from evolve.problem import Candidate, InstanceSet
from evolve.problems.spot.panel import BASELINES_FILE
from evolve.problems.spot.problem import SpotMultiProblem, SpotProblem, SpotSingleProblem

SPLITS = ("gate", "train", "validation", "test")  # gate: the split label of a stopped program
PROBLEMS: dict[str, type[SpotProblem]] = {"spot_single": SpotSingleProblem,
                                          "spot_multi": SpotMultiProblem}
DECIMALS = 6  # $1e-6: far below any difference the panel shows, stable across machines
COMMAND = "python -m evolve.problems.spot.panel_baselines"


def _sets(problem: SpotProblem, split: str) -> list[InstanceSet]:
    return problem.gate_sets() if split == "gate" else problem.instance_sets(split)


def set_rows(problem: SpotProblem, iset: InstanceSet) -> dict[str, dict[str, float | None]]:
    """{scenario: {n, optimum, <baseline>: mean cost}} of one instance set, each baseline run
    and replayed exactly as a candidate's proposals are (`run` then the trusted `score_set`)."""
    batch: spot.SpotBatch = iset.data
    bound = spot.optimum(batch, problem.sim.od_price)
    out: dict[str, dict[str, float | None]] = {}
    for s, name in enumerate(batch.scenario_names):
        sel = batch.scenario == s
        if sel.any():
            opt = float(bound[sel].mean())
            out[name] = {"n": float(sel.sum()),
                         "optimum": round(opt, DECIMALS) if np.isfinite(opt) else None}
    for base, fn in problem.policies.items():
        m = problem.score_set(iset, problem.run(Candidate(module=None, py=fn), iset)).metrics
        for name, row in out.items():
            row[base] = round(float(m[f"cost/{name}"]), DECIMALS)
    return out


def compute(name: str, splits: Iterable[str] = SPLITS,
            set_names: Iterable[str] | None = None) -> dict[str, Any]:
    """One problem's table: {baselines, splits: {split: {set: {scenario: row}}}}; `set_names`
    restricts it to those sets (the test checks a cheap subset)."""
    # the optimum is computed once per set here, not once per baseline
    problem = PROBLEMS[name]({"report_optimum": False})
    keep = None if set_names is None else set(set_names)
    table: dict[str, dict[str, Any]] = {}
    for split in splits:
        table[split] = {s.name: set_rows(problem, s) for s in _sets(problem, split)
                        if keep is None or s.name in keep}
    return {"baselines": list(problem.policies), "splits": table}


def build(names: Iterable[str] = tuple(PROBLEMS)) -> dict[str, Any]:
    return {"about": "mean cost ($) per scenario of each baseline, per problem, split and "
                     "instance set; default problem config (default accounting); optimum: the "
                     "omniscient lower bound, n: jobs",
            "command": COMMAND,
            "problems": {name: compute(name) for name in names}}


def dumps(table: dict[str, Any]) -> str:
    return json.dumps(table, indent=1, sort_keys=True) + "\n"


def differences(shipped: dict, fresh: dict, tol: float = 2e-6) -> list[str]:
    """Where `fresh` (possibly a subset) disagrees with `shipped`: one line per value."""
    out = []

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(b, dict):
            if not isinstance(a, dict):
                out.append(f"{path}: missing in the shipped file")
                return
            for k, v in b.items():
                walk(a.get(k), v, f"{path}/{k}")
        elif isinstance(b, (int, float)) and not isinstance(b, bool):
            if not isinstance(a, (int, float)) or not np.isclose(a, b, rtol=0.0, atol=tol):
                out.append(f"{path}: shipped {a!r}, computed {b!r}")
        elif a != b:
            out.append(f"{path}: shipped {a!r}, computed {b!r}")

    walk(shipped, fresh, "")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="compare with the shipped file instead of writing it (exit 1 if stale)")
    ap.add_argument("--problem", action="append", choices=list(PROBLEMS),
                    help="only this problem (repeatable; the others are kept as shipped)")
    args = ap.parse_args(argv)
    fresh = build(args.problem or PROBLEMS)
    try:
        shipped = json.loads(BASELINES_FILE.read_text())
    except (OSError, ValueError):
        shipped = {}
    if args.check:
        diff = differences(shipped, fresh)
        for line in diff[:20]:
            print(line, file=sys.stderr)
        print(f"{BASELINES_FILE.name}: {'stale' if diff else 'up to date'}")
        return 1 if diff else 0
    if args.problem and isinstance(shipped.get("problems"), dict):
        fresh["problems"] = {**shipped["problems"], **fresh["problems"]}
    BASELINES_FILE.write_text(dumps(fresh))
    print(f"wrote {BASELINES_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
