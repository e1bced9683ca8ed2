"""The archive's tables (SQLAlchemy 2.0 models): runs, programs, lineage, LLM calls, held-out
scores, artifacts, per-set scores and validation results. Their history is in
evolve/migrations: a change here needs a revision there.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class SafeText(TypeDecorator):
    """Text that PostgreSQL accepts: NUL characters (a candidate's output may hold them, and
    PostgreSQL text cannot) become U+FFFD there; SQLite keeps the text as it is."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and dialect.name == "postgresql" and "\x00" in value:
            return value.replace("\x00", "\ufffd")
        return value


class JSONText(TypeDecorator):
    """JSON kept as text on every database: NaN and infinities (a failed candidate's metrics)
    round-trip, where PostgreSQL's json type would refuse them."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else json.dumps(value)

    def process_result_value(self, value, dialect):
        return None if value is None else json.loads(value)


class Base(DeclarativeBase):
    """Declarative base of the archive models."""


class Run(Base):
    """One evolution run: its problem, resolved config and progress."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    problem: Mapped[str] = mapped_column(SafeText)
    folder: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    config: Mapped[dict] = mapped_column(JSONText, default=dict)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(SafeText, default="running")  # running|finished|stopped
    stop_reason: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    wall_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # summed over sessions
    state: Mapped[dict] = mapped_column(JSONText, default=dict)  # strategy state (bandits, ...)


class Program(Base):
    """A candidate program with its evaluation; iteration 0 holds the seeds."""

    __tablename__ = "programs"
    __table_args__ = (
        UniqueConstraint("run_id", "iteration", "island", "proposer", name="uq_program_iteration"),
        Index("ix_programs_run_hash", "run_id", "code_hash"),
        Index("ix_programs_run_score", "run_id", "score"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    iteration: Mapped[int] = mapped_column(Integer)
    island: Mapped[int] = mapped_column(Integer, default=0)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), nullable=True)
    code: Mapped[str] = mapped_column(SafeText)
    code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    proposer: Mapped[str] = mapped_column(SafeText)  # seed|mutation|crossover|tune|llm_diff|...
    operator: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    model: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    diff: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    status: Mapped[str] = mapped_column(SafeText)  # ok | a failure kind
    error: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    compile_fallback: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    metrics: Mapped[dict] = mapped_column(JSONText, default=dict)
    feedback: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    behaviour: Mapped[float | None] = mapped_column(Float, nullable=True)
    stage: Mapped[str | None] = mapped_column(SafeText, nullable=True)  # gate | full
    duplicate_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    improved: Mapped[bool] = mapped_column(Boolean, default=False)  # beat its parent
    propose_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    eval_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    wall_offset: Mapped[float] = mapped_column(Float, default=0.0)  # run wall-clock seconds


class ProgramParent(Base):
    """Extra lineage edges: crossover mates and inspirations shown to the proposer."""

    __tablename__ = "program_parents"
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    role: Mapped[str] = mapped_column(SafeText, primary_key=True)  # parent|mate|inspiration


class LLMCall(Base):
    """One model call: prompt, reply, tokens, cost, latency, error."""

    __tablename__ = "llm_calls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), nullable=True)
    iteration: Mapped[int | None] = mapped_column(Integer, nullable=True)
    model: Mapped[str] = mapped_column(SafeText)
    mode: Mapped[str | None] = mapped_column(SafeText, nullable=True)  # diff|rewrite|fix
    prompt: Mapped[Any] = mapped_column(JSONText, default=list)  # chat messages
    reply: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HeldOut(Base):
    """A program's metrics on a held-out split, cached by `evolve-archive compare` (the sandbox
    evaluation of a 300-iteration run's best program on the test sets takes close to a minute)."""

    __tablename__ = "heldout"
    __table_args__ = (
        Index("ix_heldout_key", "run_id", "program_id", "split", "problem_hash"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    code_hash: Mapped[str] = mapped_column(String(64))
    split: Mapped[str] = mapped_column(SafeText)
    # the problem section it was evaluated with: another config is another cache entry
    problem_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict] = mapped_column(JSONText, default=dict)  # status, score, metrics, sets
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Artifact(Base):
    """A named text stored with a program: the scorer's artifacts and the candidate's output
    (capped and scrubbed of secrets before it gets here)."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    name: Mapped[str] = mapped_column(SafeText)
    text: Mapped[str] = mapped_column(SafeText)  # a candidate's output may hold NUL characters


class SetScoreRecord(Base):
    """One instance set's trusted metrics from one evaluation of a program: the train sets (or
    the cascade stage it stopped at) when it was recorded, the validation sets when it entered
    the training top-k."""

    __tablename__ = "set_scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    split: Mapped[str] = mapped_column(SafeText)  # train | validation | a cascade stage's name
    set_name: Mapped[str] = mapped_column(SafeText)
    # the set's own `score` metric when the problem reports one (else None)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    metrics: Mapped[dict] = mapped_column(JSONText, default=dict)


class Validation(Base):
    """A program's evaluation on the validation split (the training top-k only): what picks the
    run's reported best. A table of its own, not columns of `programs`, so that a reader of an
    older archive (opened without upgrading) still selects programs."""

    __tablename__ = "validations"
    __table_args__ = (
        Index("ix_validations_run_score", "run_id", "score"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    status: Mapped[str] = mapped_column(SafeText)  # ok | a failure kind
    score: Mapped[float | None] = mapped_column(Float, nullable=True)  # None unless a full ok
    stage: Mapped[str | None] = mapped_column(SafeText, nullable=True)  # gate | full
    metrics: Mapped[dict] = mapped_column(JSONText, default=dict)
    eval_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
