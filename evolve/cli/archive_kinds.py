"""Which archive rows are failures: `no_gain` (a tuning step that found no improvement) is
neither a failure nor a program, also in archives written before it had its own status."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement

from evolve.archive import Program

NO_GAIN = "no_gain"
# Before `no_gain` existed the tuner stored these as `diff_failed` with this message.
_LEGACY_PREFIX = "constant tuning found no improvement"


def is_no_gain(p: Any) -> bool:
    """A proposal that brought no new code: `no_gain`, or its older `diff_failed` spelling."""
    if p.status == NO_GAIN:
        return True
    return (p.status == "diff_failed" and p.proposer == "tune"
            and (p.error or "").startswith(_LEGACY_PREFIX))


def outcome(p: Any) -> str:
    """"ok", "no_gain" or the failure kind of a program row."""
    return NO_GAIN if is_no_gain(p) else p.status


def is_scored(p: Any) -> bool:
    """An evaluated program with a score, not a duplicate answered from the archive nor a copy
    made by migration: what `Archive.best` ranks and the MAP-Elites grid holds."""
    return (p.status == "ok" and p.score is not None and p.duplicate_of is None
            and p.proposer != "migration")


def is_failure(p: Any) -> bool:
    return p.status != "ok" and not is_no_gain(p)


def no_gain_sql() -> ColumnElement[bool]:
    """`is_no_gain` as an SQL condition on `programs`."""
    return or_(Program.status == NO_GAIN,
               and_(Program.status == "diff_failed", Program.proposer == "tune",
                    Program.error.like(f"{_LEGACY_PREFIX}%")))
