"""`evolve-archive compare`: runs grouped by the config values that differ between them (seeds
aside), with per-group bootstrap CIs, rank tests between groups, the iterations and evaluations
each run needed to reach a threshold, and held-out metrics of each run's best program."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evolve.archive import Program
from evolve.cli.archive_kinds import is_no_gain
from evolve.cli.common import CliError, note
from evolve.cli.runref import RunHandle, find_run_folders, is_archive_url, open_run, open_url_runs

# Keys that differ between runs without making them different treatments: the seed (what a
# group repeats over) and where/how a run was launched and shown.
IGNORED_KEYS = ("search.seed", "seed", "run_dir", "resume", "progress", "log_level", "hydra",
                "archive", "evaluator.workers")
_MISSING = "<unset>"
# Proposal outcomes that were never evaluated (no program came out of the proposer).
_NOT_EVALUATED = ("diff_failed", "llm_error")


@dataclass
class RunData:
    """One run as `compare` sees it: config, best program, and its progress per iteration."""

    handle: RunHandle
    config: dict[str, Any]
    flat: dict[str, str]  # dotted key -> canonical JSON of the value
    best: Program | None
    # (iteration, score of a successful program or None, evaluated in the sandbox), by iteration
    steps: list[tuple[int, float | None, bool]]
    last_iteration: int

    @property
    def label(self) -> str:
        return self.handle.label

    def curve(self, upto: int) -> np.ndarray:
        """Best score so far at iterations 0..upto (a run that stopped keeps its best; NaN
        before its first successful program)."""
        best = np.full(upto + 1, -np.inf)
        for it, score, _ in self.steps:
            if score is not None and it <= upto:
                best[it] = max(best[it], score)
        best = np.maximum.accumulate(best)
        return np.where(np.isfinite(best), best, np.nan)

    def reach(self, threshold: float) -> tuple[int, int] | None:
        """(iteration, evaluations so far) when the best first reached `threshold`, or None."""
        hit = min((it for it, s, _ in self.steps if s is not None and s >= threshold),
                  default=None)
        if hit is None:
            return None
        return hit, sum(1 for it, _, ev in self.steps if ev and it <= hit)


def _flatten(cfg: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(cfg, dict) and cfg:
        out: dict[str, str] = {}
        for k, v in cfg.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: json.dumps(cfg, sort_keys=True, default=str)} if prefix else {}


def ignored(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in IGNORED_KEYS)


def run_config(h: RunHandle) -> dict[str, Any]:
    """The run's resolved config: the archive's run row, else the config.yaml a folder keeps
    (Hydra's `.hydra/config.yaml` too)."""
    if isinstance(h.run.config, dict) and h.run.config.get("problem"):
        return dict(h.run.config)
    for path in (h.folder / "config.yaml", h.folder / ".hydra" / "config.yaml"):
        if path.is_file() and not h.source:
            from omegaconf import OmegaConf

            try:
                cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
            except Exception as e:  # noqa: BLE001 - YAML, interpolation or decoding errors alike
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise CliError(f"{path}: cannot read ({first})") from None
            if isinstance(cfg, dict):
                return {str(k): v for k, v in cfg.items()}
    return {}


def _steps(programs: list[Program]) -> tuple[list[tuple[int, float | None, bool]], int]:
    steps = []
    for p in programs:
        if p.proposer == "migration" or is_no_gain(p):
            continue  # a copy of a program already counted / a step that made no program
        ok = p.status == "ok" and p.score is not None
        evaluated = p.duplicate_of is None and p.status not in _NOT_EVALUATED
        steps.append((p.iteration, float(p.score) if ok else None, evaluated))  # type: ignore[arg-type]
    steps.sort(key=lambda s: s[0])
    return steps, max((p.iteration for p in programs), default=0)


def load(h: RunHandle) -> RunData:
    cfg = run_config(h)
    steps, last = _steps(h.archive.programs(h.run.id))
    best = h.best(1, notice=False)  # the validation-best, like best.py and evolve-replay RUN
    return RunData(handle=h, config=cfg, flat=_flatten(cfg), best=best[0] if best else None,
                   steps=steps, last_iteration=last)


def open_all(specs: list[str]) -> list[RunHandle]:
    """Every run named by the arguments: run folders, folders holding run folders at any depth
    (a Hydra sweep folder), or archive URLs (each run in that database)."""
    handles: list[RunHandle] = []
    seen: set[tuple[str, int]] = set()
    for spec in specs:
        if is_archive_url(spec):
            found = open_url_runs(spec)
        else:
            path = Path(spec).expanduser()
            if not path.exists():
                raise CliError(f"{spec}: no such file or folder")
            folders = find_run_folders(path)
            if not folders and (path / "latest").exists():
                folders = find_run_folders((path / "latest").resolve())
            if not folders:
                raise CliError(f"{spec}: no run folders there (none holds archive.sqlite or "
                               f"archive_url)")
            found = []
            for folder in folders:
                try:
                    found.append(open_run(folder))
                except CliError as e:  # e.g. a run of the sweep that has not started yet
                    note(f"skipped: {e}")
        for h in found:
            # a run named twice (its folder and its archive URL) counts once
            known = not h.source or h.run.folder
            key = (str(h.folder.resolve()) if known else h.source, h.run.id)
            if key in seen:
                h.close()
                continue
            seen.add(key)
            handles.append(h)
    if not handles:
        raise CliError(f"no readable runs in {' '.join(specs)}")
    return handles


def _display(value_json: str) -> str:
    try:
        v = json.loads(value_json)
    except ValueError:
        return value_json
    return v if isinstance(v, str) else json.dumps(v)


def group_keys(runs: list[RunData], by: list[str]) -> list[str]:
    """--by KEY ... when given (each must be a key of some run), else every config key whose
    value differs between the runs, seed and launch keys aside."""
    every = sorted({k for r in runs for k in r.flat})
    if by:
        for key in by:
            if not any(k == key or k.startswith(key + ".") for k in every):
                raise CliError(f"--by {key}: no run has this config key")
        return [k for k in every if any(k == b or k.startswith(b + ".") for b in by)]
    return [k for k in every
            if not ignored(k) and len({r.flat.get(k, _MISSING) for r in runs}) > 1]


def group(runs: list[RunData], keys: list[str]) -> dict[str, list[RunData]]:
    """label -> runs, labels like `problem.seed_program=edd`, in sorted order."""
    groups: dict[str, list[RunData]] = {}
    for r in runs:
        label = ", ".join(f"{k}={_display(r.flat.get(k, json.dumps(_MISSING)))}" for k in keys)
        groups.setdefault(label or "all runs", []).append(r)
    return dict(sorted(groups.items()))


def check_one_problem(runs: list[RunData]) -> str:
    names = sorted({r.handle.run.problem for r in runs})
    if len(names) > 1:
        where = {n: next(r.label for r in runs if r.handle.run.problem == n) for n in names}
        raise CliError("runs of different problems cannot be compared: " + ", ".join(
            f"{n} ({where[n]})" for n in names))
    return names[0]
