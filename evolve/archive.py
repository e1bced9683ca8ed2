"""The archive: every program, its lineage, evaluation and LLM calls (SQLAlchemy 2.0).

SQLite in WAL mode by default (readers never block the writer), or PostgreSQL
(`postgresql+psycopg://...`), where several runs and drivers share one database. The schema is
versioned with Alembic (evolve/migrations). The archive is also the checkpoint: a run resumes
from what is committed here.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
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
    case,
    create_engine,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from evolve.config import ConfigError


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


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # the driver's own transaction handling off: `_sqlite_begin` says when and how to begin
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn) -> None:
    # A write takes the lock up front: a deferred transaction that read first cannot upgrade
    # to a writer once another process (a second driver on a shared file) committed since,
    # and SQLite then fails at once instead of waiting out the busy timeout.
    immediate = conn.get_execution_options().get("archive_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def url_password(url: str) -> str | None:
    """The password written into `url`, if any (None also for an unparseable URL)."""
    try:
        return make_url(url).password
    except (ArgumentError, ValueError):
        return None


def check_archive_url(url: str | None) -> None:
    """`archive.url` of a run: it is saved in the run folder and the archive, so it must not
    hold a password (PostgreSQL reads one from PGPASSWORD or ~/.pgpass instead)."""
    if url and url_password(url):
        from evolve.trust import masked_url

        raise ConfigError(f"archive.url={masked_url(url)}: holds a password, which the run would "
                          "save in its folder; leave it out and set PGPASSWORD or ~/.pgpass")


def scrub(text: str, url: str | None = None) -> str:
    """`text` with the database password (the URL's, or PGPASSWORD) replaced by ***."""
    for secret in (url_password(url) if url else None, os.environ.get("PGPASSWORD")):
        if secret and len(secret) >= 4:  # a shorter one would mask ordinary words
            text = text.replace(secret, "***")
    return text


def make_engine(url: str, readonly: bool = False) -> Engine:
    """An engine for `url` whose schema is at the version this code knows: a writer upgrades it
    (creating a new archive), a reader only checks that it is not newer. SQLite gets WAL, a busy
    timeout, IMMEDIATE write transactions and no cross-thread check."""
    from evolve import migrations

    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    try:
        if readonly:
            migrations.check(engine)
        else:
            migrations.upgrade(engine.execution_options(archive_write=True))
    except BaseException:
        engine.dispose()
        raise
    return engine


class ArchiveError(Exception):
    """The archive can no longer be written (deleted, replaced, read-only, disk full): stop the
    run."""


def _sqlite_file(url: str) -> Path | None:
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        return None
    return Path(url[len("sqlite:///"):].split("?")[0])


class Archive:
    """Session factory and queries over one archive database."""

    def __init__(self, url: str, readonly: bool = False):
        self.url = url
        self.engine = make_engine(url, readonly=readonly)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self._WriteSession = sessionmaker(self.engine.execution_options(archive_write=True),
                                          expire_on_commit=False)
        # SQLite keeps writing into a deleted file without complaint: remember which file we
        # opened, and refuse to write once the path names another file or none.
        self.path = None if readonly else _sqlite_file(url)
        self._identity = self._stat() if self.path is not None else None

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)  # type: ignore[arg-type]
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def check(self) -> None:
        """Raise ArchiveError when the archive file was deleted or replaced since it was opened."""
        if self.path is None:
            return
        now = self._stat()
        if now is None:
            raise ArchiveError(f"the archive {self.path} was deleted during the run")
        if now != self._identity:
            raise ArchiveError(f"the archive {self.path} was replaced by another file during the "
                               "run")

    @contextmanager
    def _writing(self):
        """A write transaction; a database that refuses writes becomes one ArchiveError."""
        self.check()
        try:
            with self._WriteSession.begin() as s:
                yield s
        except (OperationalError, InterfaceError) as e:  # Interface: the server connection died
            raise ArchiveError(f"the archive refused a write: {self._why(e)}") from None

    def _why(self, e: OperationalError | InterfaceError) -> str:
        return scrub(" ".join(str(e.orig if e.orig is not None else e).split()), self.url)

    @classmethod
    def open_folder(cls, folder: str | Path, readonly: bool = True) -> Archive:
        """Open `<folder>/archive.sqlite`, or the URL stored in `<folder>/archive_url`."""
        folder = Path(folder)
        from evolve.trust import folder_archive_url, masked_url

        url = folder_archive_url(folder)  # checked: it parses, an SQLite file already exists
        if url is not None:
            print(f"note: {folder}/archive_url: using the archive at {masked_url(url)}",
                  file=sys.stderr)
            return cls(url, readonly=readonly)
        db = folder / "archive.sqlite"
        if not db.exists():
            raise FileNotFoundError(f"{folder}: no archive.sqlite (not a run folder)")
        return cls(sqlite_url(db), readonly=readonly)

    def close(self) -> None:
        self.engine.dispose()

    # ---- runs -----------------------------------------------------------------------------
    def create_run(self, problem: str, folder: str | None, config: dict, seed: int) -> Run:
        with self._writing() as s:
            run = Run(problem=problem, folder=folder, config=config, seed=seed, state={})
            s.add(run)
        return run

    def get_run(self, run_id: int) -> Run | None:
        with self.Session() as s:
            return s.get(Run, run_id)

    def update_run(self, run_id: int, **fields: Any) -> None:
        with self._writing() as s:
            run = s.get(Run, run_id)
            for k, v in fields.items():
                setattr(run, k, v)
            run.updated_at = utcnow()

    # ---- programs -------------------------------------------------------------------------
    def record(
        self,
        program: Program,
        edges: Iterable[tuple[int, str]] = (),
        calls: Iterable[LLMCall] = (),
        run_updates: dict | None = None,
    ) -> Program:
        """One transaction: the program, its lineage edges, its LLM calls and run progress."""
        with self._writing() as s:
            s.add(program)
            s.flush()
            for parent_id, role in edges:
                s.add(ProgramParent(program_id=program.id, parent_id=parent_id, role=role))
            for call in calls:
                call.program_id = program.id
                s.add(call)
            for name, text in (getattr(program, "pending_artifacts", None) or {}).items():
                s.add(Artifact(program_id=program.id, name=str(name)[:64], text=str(text)))
            run = s.get(Run, program.run_id)
            run.updated_at = utcnow()
            for k, v in (run_updates or {}).items():
                setattr(run, k, v)
        return program

    def programs(self, run_id: int) -> list[Program]:
        with self.Session() as s:
            return list(s.scalars(select(Program).where(Program.run_id == run_id)
                                  .order_by(Program.id)))

    def program(self, program_id: int) -> Program | None:
        with self.Session() as s:
            return s.get(Program, program_id)

    def best(self, run_id: int, k: int = 1) -> list[Program]:
        with self.Session() as s:
            q = (
                select(Program)
                .where(Program.run_id == run_id, Program.status == "ok", Program.score.is_not(None),
                       Program.duplicate_of.is_(None), Program.proposer != "migration")
                # stopped by a cascade stage: below every full evaluation, whatever its score
                .order_by(case((func.coalesce(Program.stage, "full") == "full", 0), else_=1),
                          Program.score.desc(), Program.id)
                .limit(k)
            )
            return list(s.scalars(q))

    def artifacts(self, program_id: int) -> list[Artifact]:
        with self.Session() as s:
            return list(s.scalars(select(Artifact).where(Artifact.program_id == program_id)
                                  .order_by(Artifact.id)))

    def edges(self, program_id: int) -> list[ProgramParent]:
        with self.Session() as s:
            return list(s.scalars(select(ProgramParent)
                                  .where(ProgramParent.program_id == program_id)))

    def calls(self, run_id: int, program_id: int | None = None) -> list[LLMCall]:
        with self.Session() as s:
            q = select(LLMCall).where(LLMCall.run_id == run_id)
            if program_id is not None:
                q = q.where(LLMCall.program_id == program_id)
            return list(s.scalars(q.order_by(LLMCall.id)))

    def total_cost(self, run_id: int) -> float:
        with self.Session() as s:
            return float(s.scalar(select(func.coalesce(func.sum(LLMCall.cost_usd), 0.0)).where(
                LLMCall.run_id == run_id)) or 0.0)

    # ---- held-out metrics (evolve-archive compare) -----------------------------------------
    def ensure_heldout(self) -> None:
        """Create the `heldout` table if this archive predates it; no other table is touched
        (an old archive opened read-only otherwise stays as it was)."""
        self.check()
        try:
            HeldOut.__table__.create(self.engine, checkfirst=True)  # type: ignore[attr-defined]
        except (OperationalError, InterfaceError) as e:
            raise ArchiveError(f"the archive refused a write: {self._why(e)}") from None

    def heldout(self, run_id: int, program_id: int, code_hash: str, split: str,
                problem_hash: str) -> HeldOut | None:
        """The cached held-out result of this program and problem config (None when absent,
        also when the archive has no `heldout` table yet)."""
        if not inspect(self.engine).has_table("heldout"):
            return None
        with self.Session() as s:
            q = (select(HeldOut)
                 .where(HeldOut.run_id == run_id, HeldOut.program_id == program_id,
                        HeldOut.code_hash == code_hash, HeldOut.split == split,
                        HeldOut.problem_hash == problem_hash)
                 .order_by(HeldOut.id.desc()).limit(1))
            return s.scalars(q).first()

    def add_heldout(self, row: HeldOut) -> HeldOut:
        self.ensure_heldout()
        with self._writing() as s:
            s.add(row)
        return row


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=float)


class Artifact(Base):
    """A named text stored with a program: the scorer's artifacts and the candidate's output
    (capped and scrubbed of secrets before it gets here)."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
