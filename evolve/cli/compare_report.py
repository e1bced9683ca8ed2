"""What `evolve-archive compare` reports: one plain dict (rendered as tables or JSON) with the
groups, their runs, and per metric the group summaries and the test between groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evolve.cli.archive_compare import (
    RunData,
    check_one_problem,
    group,
    group_keys,
    load,
    open_all,
)
from evolve.cli.archive_query import key_metrics
from evolve.cli.common import CliError, fmt_num, note
from evolve.cli.compare_heldout import heldout, key_metric_names, trusted
from evolve.cli.compare_stats import between, summary


@dataclass(frozen=True)
class CompareOptions:
    """The command line of `compare`, minus output choices."""

    specs: list[str]
    by: list[str] = field(default_factory=list)
    split: str | None = "test"  # None: no held-out evaluation
    threshold: float | None = None
    config_dirs: list[str] = field(default_factory=list)
    timeout_s: float | None = None


def _best_train(r: RunData) -> float | None:
    """The run's best training score (the reported program is the validation-best, which may
    score lower on train)."""
    return max((s[1] for s in r.steps if s[1] is not None), default=None)


def _metric(name: str, kind: str, groups: dict[str, list[RunData]], value,
            shown: bool = True, **extra: Any) -> dict[str, Any]:
    values = {g: [value(r) for r in runs] for g, runs in groups.items()}
    return {"name": name, "kind": kind, "shown": shown, **extra,
            "groups": [{"group": g, **summary(v)} for g, v in values.items()],
            "test": between(values)}


def _numeric(d: dict | None) -> dict[str, float]:
    return {k: v for k, v in (d or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _heldout_metrics(groups: dict[str, list[RunData]], results: dict[str, dict], split: str,
                     key: tuple[str, ...]) -> list[dict[str, Any]]:
    """The split's score, every overall metric and every per-set metric. Shown in the table:
    the score, two key metrics overall and the first key metric per instance set."""
    ok = [res for res in results.values() if res.get("status") == "ok"]
    overall: list[str] = []
    sets: list[str] = []
    set_metrics: dict[str, list[str]] = {}
    for res in ok:
        overall += [k for k in _numeric(res.get("metrics")) if k not in overall and k != "score"]
        for s in res.get("sets") or []:
            if s["name"] not in sets:
                sets.append(s["name"])
            names = set_metrics.setdefault(s["name"], [])
            names += [k for k in _numeric(s.get("metrics")) if k not in names and k != "score"]
    chosen = [k for k in key if k in overall][:2] or \
        key_metrics([{"metrics": _numeric(r.get("metrics"))} for r in ok], 2)
    chosen = [k for k in chosen if k != "score"]

    def overall_value(name):
        return lambda r: (_numeric(results[r.label].get("metrics")).get(name)
                          if results[r.label].get("status") == "ok" else None)

    def set_value(set_name, name):
        def get(r):
            res = results[r.label]
            if res.get("status") != "ok":
                return None
            match = next((s for s in res.get("sets") or [] if s["name"] == set_name), None)
            return _numeric(match.get("metrics")).get(name) if match else None
        return get

    out = [_metric(f"{split} score", "heldout", groups,
                   lambda r: results[r.label].get("score"), split=split, set=None, metric="score")]
    out += [_metric(f"{split} {m}", "heldout", groups, overall_value(m), shown=m in chosen,
                    split=split, set=None, metric=m) for m in overall]
    for s in sets:
        out += [_metric(f"{s} {m}", "heldout", groups, set_value(s, m),
                        shown=bool(chosen) and m == chosen[0], split=split, set=s, metric=m)
                for m in set_metrics[s]]
    return out


def _run_row(r: RunData, group_name: str, threshold: float) -> dict[str, Any]:
    hit = r.reach(threshold)
    return {"label": r.label, "folder": str(r.handle.folder), "run_id": r.handle.run.id,
            "status": r.handle.run.status, "seed": r.handle.run.seed, "group": group_name,
            "best_id": r.best.id if r.best else None,
            "best_score": r.best.score if r.best else None, "last_iteration": r.last_iteration,
            "reached": {"iteration": hit[0], "evaluations": hit[1]} if hit else None}


def _evaluate_heldout(runs: list[RunData], opts: CompareOptions) -> tuple[dict, tuple]:
    """label -> held-out result of the run's best program; and the problem's key metrics."""
    assert opts.split is not None
    results: dict[str, dict] = {}
    key: tuple[str, ...] = ()
    for i, r in enumerate(runs, 1):
        assert r.best is not None
        problem_cfg, limits = trusted(r.handle, r.config, r.best, opts.config_dirs)
        key = key or key_metric_names(problem_cfg)
        results[r.label] = heldout(r.handle, r.best, problem_cfg, limits, opts.split,
                                   opts.timeout_s, f"{i}/{len(runs)}")
        if results[r.label].get("status") != "ok":
            res = results[r.label]
            note(f"{r.label}: program #{r.best.id} failed on the {opts.split} split "
                 f"({res.get('status')}: {res.get('error')}); its held-out values are missing")
    return results, key


def compare(opts: CompareOptions) -> tuple[dict[str, Any], dict[str, list[RunData]]]:
    """The report, and the groups (for the plot). The caller closes the runs' archives."""
    runs = [load(h) for h in open_all(opts.specs)]
    problem = check_one_problem(runs)
    for r in runs:
        if r.best is None:
            note(f"skipped: {r.label} has no successful program yet")
        elif r.handle.run.status == "running":
            note(f"{r.label} is still running: its best so far is used")
    usable = [r for r in runs if r.best is not None]
    if not usable:
        raise CliError("no run with a successful program to compare")
    keys = group_keys(usable, opts.by)
    groups = group(usable, keys)
    finals = [f for f in (_best_train(r) for r in usable) if f is not None]
    threshold = opts.threshold if opts.threshold is not None else min(finals)
    metrics = [
        _metric("best train score", "train", groups, _best_train),
        _metric(f"iterations to {fmt_num(threshold)}", "threshold", groups,
                lambda r: (r.reach(threshold) or (None, None))[0]),
        _metric(f"evaluations to {fmt_num(threshold)}", "threshold", groups,
                lambda r: (r.reach(threshold) or (None, None))[1]),
    ]
    results: dict[str, dict] = {}
    if opts.split:
        results, key = _evaluate_heldout(usable, opts)
        metrics += _heldout_metrics(groups, results, opts.split, key)
    rows = []
    for name, members in groups.items():
        for r in members:
            row = _run_row(r, name, threshold)
            if opts.split:
                row["heldout"] = results[r.label]
            rows.append(row)
    data = {
        "problem": problem, "split": opts.split, "group_keys": keys,
        "threshold": threshold,
        "threshold_source": "--threshold" if opts.threshold is not None
        else "lowest final best score among the runs",
        "groups": [{"name": g, "n": len(m), "runs": [r.label for r in m]}
                   for g, m in groups.items()],
        "runs": rows, "metrics": metrics,
    }
    return data, groups
