"""The train / validation / test / gate instance sets, with references cached on disk.

train and validation are generated (Potts & Van Wassenhove scheme, fixed seeds). For the default
parameters the instances and their references ship in data/ (see data/manifest.json), so nothing
slow runs at first use; other parameters are generated and solved once, then cached under the
user cache folder. test is the published data: the DiscoverHeuristics sets (unweighted) or the
OR-Library wt40/wt50/wt100 sets (weighted), with their proven / best known optima.

Rebuild the shipped files: python -m evolve.problems.smtt.splits [--jobs N]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gzip
import hashlib
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from evolve.problem import ProblemError

from . import generator, reference
from .instances import Instances
from .loaders import load_jsonl, load_orlib

log = logging.getLogger(__name__)

DATA = Path(__file__).parent / "data"
MANIFEST = DATA / "manifest.json"
TEST_SETS = ("smtt_n20_uniform_800", "smtt_n100_200", "smtt_n200_200", "smtt_n500_200")
TEST_SETS_WEIGHTED = ("wt40", "wt50", "wt100")

# Unweighted: every size the test covers (20, 100, 200, 500) is trained and validated on, and a
# split's score is the mean over its sets (one per size), so no size dominates. The counts follow
# the noise, not the cost: on the published test sets the per-instance gap difference between two
# close rules (MDD vs MDDC) has a standard deviation of 5.5 points at n = 20, 0.9 at n = 100 and
# 0.8-1.0 at n = 200 and 500 (there mostly from the low-TF classes, whose optima are small), so
# small instances need hundreds to rank rules 0.1 point apart. The larger sizes need hundreds
# too: with 5 / 3 / 2 validation instances per class at n = 100 / 200 / 500 (the 2026-12 files),
# a rule tuned from MDDC scored 0.09 points better than MDDC on the 100 validation instances at
# n = 100 and 0.15 [0.035, 0.265] worse on the 200 test ones. Optima are cheap up to n = 200
# (Lawler: ~2 ms at n = 100, ~16 ms at 200, ~3 s on average at 500, up to ~10 s).
DEFAULT_PARAMS = {
    "train": {"sizes": [20, 50, 100, 200, 500], "per_class": 3,
              "per_class_by_size": [40, 15, 20, 10, 4], "seed": 1, "published_sizes": [20]},
    "validation": {"sizes": [20, 100, 200, 500], "per_class": 2,
                   "per_class_by_size": [40, 40, 20, 8], "seed": 2, "published_sizes": [20]},
}
# At n = 20 the instances are drawn like the published n = 20 test set (generator.published_n20:
# p in 1..99, due dates not clamped, so high-TF classes have negative ones), the distribution a
# rule is tested on there; the Potts & Van Wassenhove n = 20 instances (the 2026-12-02 files)
# let the search keep rules that fail on it: a validation-best with 1.4 % on them scored 5.8 % on
# the published set and 6.1 % on 2,000 fresh published-style instances (MDD: 1.7 %).
# Weighted (tests: OR-Library n = 40..100; references above n = 20 are ILS, slow at n = 500).
DEFAULT_PARAMS_WEIGHTED = {
    "train": {"sizes": [20, 30, 40, 50, 60, 80, 100], "per_class": 3, "per_class_by_size": [],
              "seed": 1},
    "validation": {"sizes": [25, 50, 75, 100], "per_class": 2, "per_class_by_size": [],
                   "seed": 2},
}


def split_params(split: str, cfg_split: dict, weighted: bool, rdd, tf) -> dict:
    """Everything that determines a generated split (also the cache key)."""
    sizes = [int(n) for n in cfg_split["sizes"]]
    params = {"split": split, "weighted": bool(weighted), "sizes": sizes,
              "per_class": int(cfg_split["per_class"]), "seed": int(cfg_split["seed"]),
              "rdd": [float(x) for x in rdd], "tf": [float(x) for x in tf]}
    by_size = [int(c) for c in (cfg_split.get("per_class_by_size") or [])]
    if by_size:  # absent when empty: the keys of the splits made before it existed stay valid
        if len(by_size) != len(sizes):
            raise ProblemError(f"problem.{split}.per_class_by_size={by_size}: needs one count "
                               f"per size ({len(sizes)} sizes: {sizes})")
        params["per_class_by_size"] = by_size
    # the split's sizes drawn like the published n = 20 test set (unweighted: the weighted tests
    # are OR-Library's); absent when none, as above
    published = sorted({int(n) for n in (cfg_split.get("published_sizes") or [])} & set(sizes))
    if published and not weighted:
        params["published_sizes"] = published
    return params


def counts(params: dict) -> list[int]:
    """Instances per (RDD, TF) class of every size of a generated split."""
    return params.get("per_class_by_size") or [params["per_class"]] * len(params["sizes"])


def by_size(inst: Instances, split: str) -> list[Instances]:
    """One set per instance size (named `<split>_n<size>`): the split's score, a mean over its
    sets, then weighs every size the same."""
    sizes = inst.sizes
    return [inst.subset(np.flatnonzero(sizes == n), source=f"{split}_n{int(n)}")
            for n in sorted(set(sizes.tolist()))]


def _key(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "adrs-evolve" / "smtt"


def write_jsonl_gz(inst: Instances, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=9) as fh:
        for row in inst.records():
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")
    tmp.replace(path)


def _shipped(params: dict) -> Path | None:
    if not MANIFEST.exists():
        return None
    for entry in json.loads(MANIFEST.read_text())["generated"]:
        if entry["params"] == params:
            return DATA / entry["file"]
    return None


def generated(params: dict, ref_opts: dict, cache: Path | None = None) -> Instances:
    """A generated split with references: shipped, cached, or built now (slow once)."""
    name = params["split"]
    shipped = _shipped(params)
    path = shipped or (cache or cache_dir()) / f"{name}-{_key(params)}.jsonl.gz"
    # every worker warms up at once: one builds the split, the others wait and read its file
    with contextlib.nullcontext() if shipped else _building(path):
        if path.exists():
            inst = load_jsonl(path, params["weighted"])
            inst.source = name
            return inst
        inst = build(params, ref_opts)
        try:
            write_jsonl_gz(inst, path)
        except OSError as e:
            log.warning("smtt: cannot cache %s (%s); it will be rebuilt next time", path, e)
        return inst


@contextlib.contextmanager
def _building(path: Path):
    """An exclusive lock beside `path` while it is built (none where the folder is read-only)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path.with_name(path.name + ".lock"), "a")  # noqa: SIM115 - held across the yield
    except OSError:
        yield
        return
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _instance_key(inst: Instances, i: int) -> bytes:
    p, d, w = inst.arrays(i)
    return p.tobytes() + b"|" + d.tobytes() + b"|" + (w.tobytes() if inst.weighted else b"")


def build(params: dict, ref_opts: dict, jobs: int = 1,
          known: Instances | None = None) -> Instances:
    """Generate the split and its references; an instance also in `known` (same p, d, w) keeps
    the reference found there (a rebuild that changes one size does not solve the others again)."""
    log.info("smtt: generating %s (%s) and computing references once", params["split"],
             params["sizes"])
    inst = generator.generate(params["sizes"], counts(params), params["seed"],
                              params["weighted"], params["rdd"], params["tf"], params["split"],
                              params.get("published_sizes", ()))
    ref, exact = inst.ref.copy(), inst.ref_exact.copy()
    if known is not None:
        found = {_instance_key(known, i): i for i in range(known.m)}
        for i in range(inst.m):
            if (k := found.get(_instance_key(inst, i))) is not None:
                ref[i], exact[i] = known.ref[k], known.ref_exact[k]
        inst = inst.with_refs(ref, exact)
    todo = [i for i in range(inst.m) if not np.isfinite(ref[i])]
    log.info("smtt: %d references to compute, %d reused", len(todo), inst.m - len(todo))
    if jobs <= 1:
        return reference.solve(inst, ref_opts)  # solves only the references still missing
    # largest instances first, dealt round-robin: the processes finish at about the same time
    todo.sort(key=lambda i: -int(inst.sizes[i]))
    parts = [idx for k in range(jobs) if (idx := todo[k::jobs])]
    with ProcessPoolExecutor(jobs) as pool:
        solved = list(pool.map(reference.solve, [inst.subset(idx) for idx in parts],
                               [ref_opts] * len(parts)))
    for idx, part in zip(parts, solved):
        ref[idx], exact[idx] = part.ref, part.ref_exact
    return inst.with_refs(ref, exact)


def test_sets(weighted: bool) -> list[Instances]:
    if weighted:
        out = [load_orlib(DATA / f"{name}.txt.gz", True) for name in TEST_SETS_WEIGHTED]
    else:
        out = [load_jsonl(DATA / f"{name}.jsonl.gz", False) for name in TEST_SETS]
    for inst in out:
        if not np.all(np.isfinite(inst.ref)):
            raise ProblemError(f"{inst.source}: shipped test data lacks reference values")
    return out


def gate(train: Instances, count: int) -> Instances:
    """The `count` smallest train instances, spread over the classes."""
    order = sorted(range(train.m), key=lambda i: (int(train.sizes[i]), i))
    seen, pick = set(), []
    for i in order:
        cls = (train.rdd[i], train.tf[i])
        if cls not in seen:
            seen.add(cls)
            pick.append(i)
        if len(pick) == count:
            break
    for i in order:
        if len(pick) >= count:
            break
        if i not in pick:
            pick.append(i)
    return train.subset(sorted(pick), source="gate")


def main(argv: list[str] | None = None) -> None:
    """Regenerate the shipped train/validation files and the manifest (default parameters).

    Files whose parameters did not change are kept as they are (their references took long to
    compute). `--jobs N` solves the references in N processes."""
    parser = argparse.ArgumentParser(prog="python -m evolve.problems.smtt.splits")
    parser.add_argument("--jobs", type=int, default=1, help="reference solver processes")
    jobs = parser.parse_args(argv).jobs
    logging.basicConfig(level=logging.INFO)
    old = {e["file"]: e for e in json.loads(MANIFEST.read_text())["generated"]} \
        if MANIFEST.exists() else {}
    entries = []
    for weighted in (False, True):
        for split, cfg in (DEFAULT_PARAMS_WEIGHTED if weighted else DEFAULT_PARAMS).items():
            params = split_params(split, cfg, weighted, generator.RDD_GRID, generator.TF_GRID)
            name = f"{split}{'_weighted' if weighted else ''}.jsonl.gz"
            if old.get(name, {}).get("params") == params and (DATA / name).exists():
                entries.append(old[name])
                continue
            # the references of instances the former file shares are taken over, not solved
            known = load_jsonl(DATA / name, weighted) if (DATA / name).exists() else None
            inst = build(params, {}, jobs, known)
            write_jsonl_gz(inst, DATA / name)
            entries.append({"file": name, "params": params, "fingerprint": inst.fingerprint(),
                            "instances": inst.m, "exact_refs": int(inst.ref_exact.sum())})
    # earlier defaults stay shipped under their own names: older runs resume and replay on them
    made = {e["file"] for e in entries}
    entries += [e for name, e in old.items() if name not in made and (DATA / name).exists()]
    write_manifest(entries)


def write_manifest(entries: list[dict], key: str = "generated", path: Path = MANIFEST) -> None:
    """Replace the `key` list of the manifest; the other lists (shifted.py's) are kept."""
    lists = json.loads(path.read_text()) if path.exists() else {}
    lists[key] = entries
    parts = [f"{json.dumps(k)}: [\n" + ",\n".join("  " + json.dumps(e) for e in v) + "\n]"
             for k, v in lists.items()]
    path.write_text("{" + ", ".join(parts) + "}\n")


if __name__ == "__main__":
    main()
