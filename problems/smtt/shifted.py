"""Shifted-distribution SMTT sets: processing times unlike the training generator's U{1..100}.

Training (generator.py) draws p ~ U{1..100}. These sets keep its due-date scheme (RDD x TF grid,
generator.due_dates) but draw p from
  * bimodal:   a short job U{1..20} with probability 0.75, else a long job U{100..200};
  * lognormal: round(exp(N(3.5, 1.0))), at least 1 (median 33, heavy right tail);
so a rule that learned the scale or the spread of training's p meets data it never saw. Every
distribution has its own random stream, default_rng([seed, index of the distribution]). Optima:
Lawler's decomposition (exact.lawler_value: exact for integer data, < 0.1 ms each at n <= 25);
instances with n <= --verify-dp-max-n are also solved by the subset DP and must agree.

Regenerate the shipped files (and their manifest entries):
    python -m evolve.problems.smtt.shifted --out problems/smtt/data --manifest

`--dists uniform published_n20` writes fresh samples of the generators themselves instead (the
training scheme, which the published n = 100-500 sets share, and the published n = 20 set's own,
generator.published_n20) with proven optima: thousands of instances where a shipped test set has
200-800, for `evolve-replay --instances` comparisons tight enough to rank close rules.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from . import generator
from .exact import UNSOLVED, lawler_value, subset_dp_value
from .instances import Instances, from_arrays

SIZES = (15, 20, 25)
PER_CLASS = 4
SEED = 16
VERIFY_DP_MAX_N = 20  # subset DP cross-check: 2^20 states, ~0.3 s per instance (n = 25: ~10 s)
DP_MAX_N = 25  # the subset DP stays affordable (2^25 float64 = 256 MB) up to here
MAX_N = 200  # Lawler: 40 instances at n = 100 in ~3 s, 20 at n = 200 in 1.4 s; n = 500 can run out
MEMO_BUDGET = 4_000_000


def bimodal(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,) float64: short jobs U{1..20} (probability 0.75) mixed with long jobs U{100..200}."""
    long_job = rng.random(n) < 0.25
    short = rng.integers(1, 20, size=n, endpoint=True)
    long = rng.integers(100, 200, size=n, endpoint=True)
    return np.where(long_job, long, short).astype(np.float64)


def lognormal(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,) float64: round(exp(N(3.5, 1.0))), at least 1."""
    return np.maximum(np.rint(rng.lognormal(3.5, 1.0, size=n)), 1.0)


Sampler = Callable[[np.random.Generator, int, float, float], tuple[np.ndarray, np.ndarray]]


def _with_due_dates(draw: Callable[[np.random.Generator, int], np.ndarray]) -> Sampler:
    """(rng, n, RDD, TF) -> (p, d): p from `draw`, due dates by training's scheme."""
    def sample(rng: np.random.Generator, n: int, rdd: float, tf: float):
        p = draw(rng, n)
        return p, generator.due_dates(rng, p, rdd, tf)
    return sample


# processing times unlike training's (the shipped smtt_shift_* files)
DISTRIBUTIONS: dict[str, Sampler] = {
    "bimodal": _with_due_dates(bimodal),
    "lognormal": _with_due_dates(lognormal),
}
# fresh samples of the training and test generators themselves (files smtt_sample_*)
SAMPLES: dict[str, Sampler] = {
    "uniform": _with_due_dates(generator.processing_times),  # training's own scheme
    "published_n20": generator.published_n20,
}
# the position of a name is its stream index: append new distributions, never reorder
ALL: dict[str, Sampler] = {**DISTRIBUTIONS, **SAMPLES}


def generate(dist: str, sizes: Sequence[int], per_class: int, seed: int) -> Instances:
    """per_class instances for every (size, RDD, TF); order: size, RDD, TF, repetition.

    Returns m = len(sizes) * 20 * per_class instances (flat p, d: (sum of sizes,) float64)."""
    sample = ALL[dist]
    rng = np.random.default_rng([seed, list(ALL).index(dist)])
    rows = []
    for n in sizes:
        for rdd in generator.RDD_GRID:
            for tf in generator.TF_GRID:
                for _ in range(per_class):
                    p, d = sample(rng, int(n), rdd, tf)
                    rows.append({"p": p, "d": d, "rdd": rdd, "tf": tf})
    kind = "shift" if dist in DISTRIBUTIONS else "sample"
    return from_arrays(rows, False, f"smtt_{kind}_{dist}_{len(rows)}")


def optimum(p: np.ndarray, d: np.ndarray, verify_dp_max_n: int = VERIFY_DP_MAX_N) -> int:
    """Optimal total tardiness of one instance (p, d: (n,) integer-valued float64)."""
    n = p.shape[0]
    v = lawler_value(p, d, MEMO_BUDGET)
    if v == UNSOLVED and n > DP_MAX_N:
        raise ValueError(f"n={n}: Lawler's memo budget ran out and the subset DP stops at "
                         f"n={DP_MAX_N}")
    if v == UNSOLVED or n <= verify_dp_max_n:
        dp = int(round(subset_dp_value(p, d, np.ones(n))))
        if v != UNSOLVED and dp != v:  # would mean a bug in the decomposition's pruning
            raise RuntimeError(f"Lawler {v} != subset DP {dp} on p={p.tolist()} d={d.tolist()}")
        v = dp
    return int(v)


def solve(inst: Instances, verify_dp_max_n: int = VERIFY_DP_MAX_N) -> Instances:
    """`inst` with proven optima as references."""
    ref = np.array([optimum(*inst.arrays(i)[:2], verify_dp_max_n) for i in range(inst.m)],
                   dtype=np.float64)
    return inst.with_refs(ref, np.ones(inst.m, dtype=bool))


def jsonl(inst: Instances, dist: str) -> bytes:
    """The JSON-lines text of a set (the format of the shipped test sets, plus field `dist`)."""
    lines = [json.dumps({**row, "dist": dist}, separators=(",", ":")) for row in inst.records()]
    return ("\n".join(lines) + "\n").encode()


def write_gz(data: bytes, path: Path) -> None:
    """gzip without a time stamp or file name in the header: same data, same bytes."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def build(out: Path, dists: Sequence[str], sizes: Sequence[int], per_class: int, seed: int,
          verify_dp_max_n: int = VERIFY_DP_MAX_N) -> list[dict]:
    """Write one file per distribution into `out`; returns their manifest entries."""
    entries = []
    for dist in dists:
        inst = solve(generate(dist, sizes, per_class, seed), verify_dp_max_n)
        data = jsonl(inst, dist)
        name = f"{inst.source}.jsonl.gz"
        write_gz(data, out / name)
        entries.append({
            "file": name,
            "params": {"dist": dist, "sizes": [int(n) for n in sizes], "per_class": per_class,
                       "seed": seed, "rdd": list(generator.RDD_GRID),
                       "tf": list(generator.TF_GRID)},
            "fingerprint": inst.fingerprint(), "sha256": hashlib.sha256(data).hexdigest(),
            "instances": inst.m, "exact_refs": inst.m,
            "zero_optima": int(np.sum(inst.ref == 0)),
        })
    return entries


def _parser() -> argparse.ArgumentParser:
    from evolve.cli.common import OneLineParser

    p = OneLineParser(prog="python -m evolve.problems.smtt.shifted",
                      description="Write SMTT sets with shifted processing-time distributions "
                                  "and their proven optima (one .jsonl.gz per distribution).")
    p.add_argument("--out", required=True, type=Path, help="folder for the files")
    p.add_argument("--dists", nargs="+", default=list(DISTRIBUTIONS), choices=list(ALL),
                   help="processing-time distributions (default: the shifted ones, "
                        f"{' '.join(DISTRIBUTIONS)}); {' and '.join(SAMPLES)} sample the "
                        "training scheme and the published n = 20 generator")
    p.add_argument("--sizes", nargs="+", type=int, default=list(SIZES), metavar="N")
    p.add_argument("--per-class", type=int, default=PER_CLASS, metavar="K",
                   help=f"instances per (size, RDD, TF) class (default {PER_CLASS})")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--verify-dp-max-n", type=int, default=VERIFY_DP_MAX_N, metavar="N",
                   help="also solve instances up to N jobs by subset DP and check the optima "
                        f"agree (default {VERIFY_DP_MAX_N}; at most {DP_MAX_N})")
    p.add_argument("--manifest", action="store_true",
                   help="record the files under 'shifted' in OUT/manifest.json (other keys "
                        "kept)")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed as one line
        return int(e.code or 0)
    bad = [f"--sizes {n}: must be 2..{MAX_N}" for n in args.sizes if not 2 <= n <= MAX_N]
    bad += [f"--per-class {args.per_class}: must be >= 1"] if args.per_class < 1 else []
    bad += [f"--seed {args.seed}: must be >= 0"] if args.seed < 0 else []
    if not 0 <= args.verify_dp_max_n <= DP_MAX_N:
        bad.append(f"--verify-dp-max-n {args.verify_dp_max_n}: must be 0..{DP_MAX_N}")
    if args.out.exists() and not args.out.is_dir():
        bad.append(f"--out {args.out}: not a folder")
    if bad:
        sys.stderr.write(f"shifted: {bad[0]}\n")
        return 2
    manifest = args.out / "manifest.json"
    try:
        if args.manifest and manifest.exists():  # checked before the slow part
            try:
                json.loads(manifest.read_text())
            except ValueError as e:
                raise ValueError(f"{manifest}: not a JSON manifest ({e})") from None
        entries = build(args.out, args.dists, args.sizes, args.per_class, args.seed,
                        args.verify_dp_max_n)
        if args.manifest:
            from .splits import write_manifest

            write_manifest(entries, key="shifted", path=manifest)
    except (OSError, ValueError) as e:  # unwritable --out, a broken manifest, an unsolved n
        sys.stderr.write(f"shifted: {' '.join(str(e).split())}\n")
        return 2
    for entry in entries:
        print(f"{args.out / entry['file']}: {entry['instances']} instances, "
              f"{entry['zero_optima']} with optimum 0, sha256 {entry['sha256'][:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
