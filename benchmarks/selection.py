"""Does a validation split pick what the test rewards? The top-k programs of each run (by their
stored validation score) are replayed in the sandbox on a validation split and on the test split,
and the script prints one JSON object: per program the two scores, and their correlations.

    .venv/bin/python benchmarks/selection.py RUN [RUN ...] [-k 10] [--set problem.KEY=VALUE ...]

`--set` changes the validation split the programs are replayed on (e.g.
`--set "problem.validation.per_class_by_size=[2,2,1,1]"` for the former SMTT split); the test
split is the problem's own. Every program runs through `evolve-replay` (sandboxed: run folders
may come from elsewhere), so it takes ~10 s per program and split.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

BIN = Path(sys.executable).parent


def replay(target: str, split: str, overrides: list[str]) -> float | None:
    """The program's score on `split` (None when it fails there)."""
    out = subprocess.run([str(BIN / "evolve-replay"), target, "--split", split, "--baselines",
                          "none", "--json", "--progress", "never", *overrides],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return None
    score = json.loads(out.stdout)["program"]["score"]
    return None if score is None else float(score)


def top(run: str, k: int) -> list[int]:
    """Ids of the run's best k programs by validation (then training) score."""
    out = subprocess.run([str(BIN / "evolve-archive"), "top", run, "-k", str(k), "--json"],
                         capture_output=True, text=True, check=True)
    return [int(p["id"]) for p in json.loads(out.stdout)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", help="run folders (none: nothing to measure)")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    if not args.runs:  # `make bench` runs every script bare; this one needs the user's runs
        print(json.dumps({"skipped": "no run folders given"}))
        return
    rows = []
    for run in args.runs:
        for pid in top(run, args.k):
            val = replay(f"{run}:{pid}", "validation", args.overrides)
            test = replay(f"{run}:{pid}", "test", [])
            if val is not None and test is not None:
                rows.append({"run": run, "id": pid, "validation": val, "test": test})
    v = np.array([r["validation"] for r in rows])
    t = np.array([r["test"] for r in rows])
    enough = len(rows) > 2 and np.ptp(v) > 1e-12 and np.ptp(t) > 1e-12  # else undefined
    print(json.dumps({
        "programs": rows,
        "pearson": float(np.corrcoef(v, t)[0, 1]) if enough else None,
        "spearman": float(spearmanr(v, t)[0]) if enough else None,
    }, indent=1))


if __name__ == "__main__":
    main()
