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
from pathlib import Path
from typing import Any

from sqlalchemy import (
    case,
    create_engine,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError
from sqlalchemy.orm import sessionmaker

from evolve.archive_models import (  # noqa: F401 - the models are part of the archive's API
    Artifact,
    Base,
    HeldOut,
    JSONText,
    LLMCall,
    Program,
    ProgramParent,
    Run,
    SafeText,
    SetScoreRecord,
    Validation,
    utcnow,
)
from evolve.archive_sets import (
    SetRow,
    has_tables,
    read_set_scores,
    read_validations,
    set_records,
    validation_best,
)
from evolve.config import ConfigError


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
        self._sets_known = False  # the tables of revision 0003 were seen (they never go away)

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
            for rec in getattr(program, "pending_sets", None) or ():
                rec.program_id = program.id
                s.add(rec)
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
        if not inspect(self.engine).has_table(Artifact.__tablename__):
            return []  # an archive older than artifacts, opened by a reader (no upgrade)
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

    # ---- per-set scores and validation (revision 0003) -------------------------------------
    def _has_sets(self) -> bool:
        if not self._sets_known:
            self._sets_known = has_tables(self.engine)
        return self._sets_known

    def set_scores(self, program_ids: Iterable[int],
                   split: str | None = None) -> dict[int, list[SetRow]]:
        """Per program id, its per-set results ({} entries for an archive older than them);
        `split` keeps one split (train, validation, or a cascade stage such as gate)."""
        ids = list(program_ids)
        if not self._has_sets():
            return {int(i): [] for i in ids}
        with self.Session() as s:
            return read_set_scores(s, ids, split)

    def add_validation(self, row: Validation, sets: Iterable[dict]) -> Validation:
        """One transaction: a program's validation result and its per-set rows."""
        with self._writing() as s:
            s.add(row)
            for rec in set_records(sets, "validation"):
                rec.program_id = row.program_id
                s.add(rec)
        return row

    def validations(self, run_id: int) -> dict[int, Validation]:
        """The run's validation results by program id ({} for an archive older than them)."""
        if not self._has_sets():
            return {}
        with self.Session() as s:
            return read_validations(s, run_id)

    def best_validated(self, run_id: int, k: int = 1) -> list[Program]:
        """The k programs with the best validation score ([] when none was validated)."""
        if not self._has_sets():
            return []
        with self.Session() as s:
            return validation_best(s, run_id, k)

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
