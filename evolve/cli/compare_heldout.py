"""Held-out metrics of each run's best program for `evolve-archive compare`: evaluated once in
the sandbox through evolve-replay's trusted path, then cached in the run's own archive (the
`heldout` table), keyed by program, code hash, split and problem config."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from evolve.archive import ArchiveError, HeldOut, Program
from evolve.cli.common import CliError, note
from evolve.cli.replay_eval import evaluate_target
from evolve.cli.replay_target import Target, trusted_sections
from evolve.cli.runref import RunHandle
from evolve.program import code_hash

# As evolve-replay: the test sets are larger than the training sets a run's timeout was set for.
DEFAULT_TIMEOUT_S = 600.0
# Results that say nothing about the program (the problem's own code or the engine failed):
# reported, never cached, so the next `compare` tries again.
_NOT_THE_PROGRAM = ("engine_error", "problem_error")


def section(cfg: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = cfg.get(key) or {}
    if not isinstance(value, dict):
        raise CliError(f"{where}: its stored '{key}' config is not a mapping")
    return dict(value)


def trusted(h: RunHandle, cfg: dict[str, Any], best: Program,
            config_dirs: list[str]) -> tuple[dict, dict]:
    """(problem section, sandbox limits) for the run's best program, through evolve.trust
    exactly as `evolve-replay RUN` does: a copied run folder is untrusted input."""
    target = Target(label=f"program #{best.id}", code=best.code, kind="run", run=h.label,
                    program_id=best.id,
                    problem_cfg=section(cfg, "problem", h.label) or {"name": h.run.problem},
                    evaluator_cfg=section(cfg, "evaluator", h.label))
    return trusted_sections(target, config_dirs)


def problem_hash(problem_cfg: dict[str, Any]) -> str:
    """A hash of the problem config the metrics depend on. A file target counts by its file name
    and class, so the same archive on another machine (another absolute path) still hits."""
    cfg = dict(problem_cfg)
    mod, sep, cls = str(cfg.get("target") or "").rpartition(":")
    if sep and mod.endswith(".py"):
        cfg["target"] = f"{Path(mod).name}:{cls}"
    text = json.dumps(cfg, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def key_metric_names(problem_cfg: dict[str, Any]) -> tuple[str, ...]:
    """The problem's key metrics (its class attribute; the target is trusted by now)."""
    from evolve.problem import load_problem_class

    try:
        return tuple(load_problem_class(str(problem_cfg.get("target") or "")).key_metrics)
    except Exception:  # noqa: BLE001 - a table layout hint only: fall back to the metric names
        return ()


def _as_dict(row: HeldOut, source: str) -> dict[str, Any]:
    return {**(row.result or {}), "program_id": row.program_id, "source": source,
            "created_at": row.created_at}


def heldout(h: RunHandle, best: Program, problem_cfg: dict, limits: dict, split: str,
            timeout_s: float | None, position: str) -> dict[str, Any]:
    """The best program's result on `split`: from the cache, else evaluated in the sandbox and
    stored. `position` ("3/10") is for the progress line on stderr."""
    chash = best.code_hash or code_hash(best.code)
    phash = problem_hash(problem_cfg)
    cached = h.archive.heldout(h.run.id, best.id, chash, split, phash)
    if cached is not None:
        return _as_dict(cached, "cached")
    note(f"[{position}] {h.label}: evaluating program #{best.id} on the {split} split in the "
         f"sandbox (once: the result is cached in its archive)")
    res = evaluate_target(problem_cfg, best.code, split, None,
                          {**limits, "timeout_s": timeout_s or DEFAULT_TIMEOUT_S})
    result = {"status": res.status, "error": res.error or None,
              "score": res.score if res.ok else None, "metrics": dict(res.metrics or {}),
              "sets": [{k: s.get(k) for k in ("name", "n_instances", "metrics")}
                       for s in res.sets]}
    row = HeldOut(run_id=h.run.id, program_id=best.id, code_hash=chash, split=split,
                  problem_hash=phash, result=result)
    if res.status in _NOT_THE_PROGRAM:
        note(f"{h.label}: program #{best.id} could not be evaluated ({res.status}: "
             f"{res.error}); not cached")
        return {**result, "program_id": best.id, "source": "evaluated", "created_at": None}
    try:
        h.archive.add_heldout(row)
    except (ArchiveError, SQLAlchemyError) as e:  # e.g. a read-only copy: report, do not cache
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        note(f"{h.label}: result not cached ({first})")
        return {**result, "program_id": best.id, "source": "evaluated", "created_at": None}
    return _as_dict(row, "evaluated")
