"""Per-set scores and validation results in the archive: rows built from a trusted evaluation
result, and the read queries behind `Archive.set_scores` and the validation-best.

Both tables arrived with revision 0003_set_scores: a reader of an older archive (opened without
upgrading) gets empty answers, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from evolve.archive_models import Program, SetScoreRecord, Validation

VALIDATION = "validation"


@dataclass(frozen=True)
class SetRow:
    """One instance set's result, as `Archive.set_scores` returns it."""

    split: str  # train | validation | the cascade stage a program stopped at (e.g. gate)
    set_name: str
    score: float | None  # the set's own `score` metric when the problem reports one
    metrics: dict[str, Any] = field(default_factory=dict)


def has_tables(engine: Engine) -> bool:
    """Whether this archive has the per-set and validation tables (revision 0003 or later)."""
    names = set(inspect(engine).get_table_names())
    return {SetScoreRecord.__tablename__, Validation.__tablename__} <= names


def _score_of(metrics: dict) -> float | None:
    v = metrics.get("score")
    try:
        return float(v) if v is not None and math.isfinite(float(v)) else None
    except (TypeError, ValueError):
        return None


def set_records(sets: Iterable[dict], split: str) -> list[SetScoreRecord]:
    """Rows for the `sets` of an EvalResult (dicts built by the trusted worker), without their
    program id (the caller sets it)."""
    out = []
    for s in sets:
        got = s.get("metrics")
        metrics: dict = got if isinstance(got, dict) else {}
        out.append(SetScoreRecord(split=str(split)[:64], set_name=str(s.get("name", ""))[:200],
                                  score=_score_of(metrics), metrics=dict(metrics)))
    return out


def split_of(stage: str | None) -> str:
    """The `split` label of a training evaluation's sets: train, or the stage it stopped at."""
    return "train" if (stage or "full") == "full" else str(stage)


def read_set_scores(s: Session, program_ids: Iterable[int],
                    split: str | None = None) -> dict[int, list[SetRow]]:
    """Per asked program id, its set rows in the order they were stored; a duplicate (or a
    migration copy) answers with the rows of the program it repeats."""
    ids = [int(i) for i in program_ids]
    if not ids:
        return {}
    origin = dict(s.execute(select(Program.id, func.coalesce(Program.duplicate_of, Program.id))
                            .where(Program.id.in_(ids))).all())
    q = select(SetScoreRecord).where(SetScoreRecord.program_id.in_(set(origin.values())))
    if split is not None:
        q = q.where(SetScoreRecord.split == split)
    by_origin: dict[int, list[SetRow]] = {}
    for r in s.scalars(q.order_by(SetScoreRecord.id)):
        by_origin.setdefault(r.program_id, []).append(SetRow(
            split=r.split, set_name=r.set_name, score=r.score, metrics=dict(r.metrics or {})))
    return {i: list(by_origin.get(origin.get(i, i), [])) for i in ids}


def validation_best(s: Session, run_id: int, k: int = 1) -> list[Program]:
    """The programs of a run with the highest validation score (full evaluations only, on both
    splits: a program a cascade stage stopped is never the validation-best), ties to the older."""
    q = (select(Program).join(Validation, Validation.program_id == Program.id)
         .where(Validation.run_id == run_id, Validation.status == "ok",
                Validation.score.is_not(None), func.coalesce(Validation.stage, "full") == "full",
                Program.status == "ok", func.coalesce(Program.stage, "full") == "full")
         .order_by(Validation.score.desc(), Program.id).limit(k))
    return list(s.scalars(q))


def read_validations(s: Session, run_id: int) -> dict[int, Validation]:
    """Every validation result of a run, by program id (the newest when one was repeated)."""
    rows = s.scalars(select(Validation).where(Validation.run_id == run_id)
                     .order_by(Validation.id))
    return {v.program_id: v for v in rows}
