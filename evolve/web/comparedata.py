"""The Compare page: `evolve-archive compare` (groups, CIs, tests). Its held-out step evaluates
programs and writes a cache, which the web UI never does: it shows the held-out metrics that
`compare` has cached (the `heldout` table) and names the runs that have none and the command."""

from __future__ import annotations

import shlex
from typing import Any

import numpy as np
from sqlalchemy import inspect, select

from evolve.archive import HeldOut
from evolve.cli.archive_compare import RunData
from evolve.cli.common import CliError
from evolve.cli.compare_heldout import key_metric_names, problem_hash, trusted
from evolve.cli.compare_report import CompareOptions, _heldout_metrics, compare
from evolve.cli.compare_stats import band
from evolve.program import code_hash
from evolve.web.source import Source

SPLIT = "test"  # what `evolve-archive compare` evaluates by default


def _cached(r: RunData) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """The cached held-out result of the run's best program on SPLIT (None when `compare` has
    cached none for this program and code), and the problem's key metrics. The problem config
    is part of the cache key when the problem can be resolved here (`compare` may have trusted
    it through its --config-dir); otherwise the newest entry for the program and code counts."""
    if r.best is None or not inspect(r.handle.archive.engine).has_table("heldout"):
        return None, ()
    where = [HeldOut.run_id == r.handle.run.id, HeldOut.program_id == r.best.id,
             HeldOut.code_hash == (r.best.code_hash or code_hash(r.best.code)),
             HeldOut.split == SPLIT]
    names: tuple[str, ...] = ()
    try:
        problem_cfg, _ = trusted(r.handle, r.config, r.best, [])
        where.append(HeldOut.problem_hash == problem_hash(problem_cfg))
        names = key_metric_names(problem_cfg)
    except CliError:
        pass  # not importable without --config-dir: look up by program and code only
    with r.handle.archive.Session() as s:
        row = s.scalars(select(HeldOut).where(*where).order_by(HeldOut.id.desc())
                        .limit(1)).first()
    return (dict(row.result or {}) if row is not None else None), names


def add_heldout(data: dict[str, Any], groups: dict[str, list[RunData]]) -> None:
    """`data` gains the cached held-out metrics and `heldout`: which runs have them."""
    results: dict[str, dict] = {}
    missing: list[str] = []
    key: tuple[str, ...] = ()
    for runs in groups.values():
        for r in runs:
            res, names = _cached(r)
            key = key or names
            results[r.label] = res or {}
            if res is None:
                missing.append(r.label)
    if len(missing) < len(results):
        data["metrics"] = data["metrics"] + _heldout_metrics(groups, results, SPLIT, key)
    folders = [str(r.handle.folder) for runs in groups.values() for r in runs]
    data["heldout"] = {"split": SPLIT, "missing": missing, "cached": len(results) - len(missing),
                       "command": "evolve-archive compare " + " ".join(map(shlex.quote, folders))}


def _curves(groups: dict[str, list]) -> dict[str, Any]:
    """Best-so-far per group: each run's curve and the mean with its 95% bootstrap band, as the
    PNG of `compare --plot` draws them."""
    upto = max(r.last_iteration for runs in groups.values() for r in runs)
    out = []
    for name, runs in groups.items():
        curves = np.array([r.curve(upto) for r in runs])
        full = np.all(np.isfinite(curves), axis=0)
        entry: dict[str, Any] = {"group": name, "runs": [c.tolist() for c in curves],
                                 "x": np.flatnonzero(full).tolist()}
        if full.any():
            mean, low, high = band(curves[:, full])
            entry.update(mean=mean.tolist(), low=low.tolist(), high=high.tolist())
        out.append(entry)
    return {"upto": upto, "groups": out}


def compare_page(source: Source, keys: list[int]) -> tuple[dict[str, Any], dict[str, Any]]:
    if len(keys) < 2:
        raise CliError("select at least two runs to compare")
    specs = []
    for key in keys:
        ref = source.ref(key)
        if ref is None:
            raise CliError(f"no run {key}")
        if ref.label != str(ref.folder):
            raise CliError("runs of one database URL are compared with `evolve-archive compare "
                           "URL` (the web page compares run folders)")
        specs.append(str(ref.folder))
    data, groups = compare(CompareOptions(specs=specs, split=None))
    try:
        add_heldout(data, groups)
        return data, _curves(groups)
    finally:
        for runs in groups.values():
            for r in runs:
                r.handle.close()
