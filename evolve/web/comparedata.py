"""The Compare page: `evolve-archive compare` (groups, CIs, tests) without the held-out step,
which would evaluate programs and write its cache: the web UI only reads."""

from __future__ import annotations

from typing import Any

import numpy as np

from evolve.cli.common import CliError
from evolve.cli.compare_report import CompareOptions, compare
from evolve.cli.compare_stats import band
from evolve.web.source import Source


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
        return data, _curves(groups)
    finally:
        for runs in groups.values():
            for r in runs:
                r.handle.close()
