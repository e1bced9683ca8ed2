"""Schema versions of the archive (Alembic), run from code: no alembic.ini is needed.

A new archive gets the models' tables stamped at head (the same schema as replaying every
revision, which a test checks); an existing one is upgraded by Alembic. An archive made before the
schema was versioned (no `alembic_version` table, but a `runs` table) is recognised and stamped
as the baseline. An archive newer than this code is refused with one line (ArchiveVersionError,
exit 2). Upgrades run under a lock (PostgreSQL advisory lock, SQLite IMMEDIATE transaction), so
several drivers starting on one database at once migrate it exactly once.
See docs/postgres.md ("Adding a schema revision").
"""

from __future__ import annotations

import ast
import logging
from functools import lru_cache
from importlib import resources
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from evolve.config import ConfigError

log = logging.getLogger("evolve")

BASELINE = "0001_baseline"
# pg_advisory_xact_lock key: any constant shared by every evolve process ("evolve" in ASCII)
_PG_LOCK_KEY = 0x65766F6C7665


class ArchiveVersionError(ConfigError):
    """The archive's schema is newer than this code (or unknown to it)."""


def script_location() -> Path:
    return Path(str(resources.files("evolve.migrations")))


def alembic_config(connection: Connection | None = None):
    """An Alembic Config pointing at the packaged scripts (and at `connection`, when given)."""
    from alembic.config import Config

    settings = Config()  # Alembic's own settings object, not an evolve config
    settings.set_main_option("script_location", str(script_location()))
    settings.attributes["connection"] = connection
    return settings


def _assigned(tree: ast.Module, name: str) -> list[str]:
    """The revision id(s) a version file assigns to `name` at module level (str, tuple, None)."""
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets) and node.value:
                value = ast.literal_eval(node.value)
                if value is None:
                    return []
                return [value] if isinstance(value, str) else [str(v) for v in value]
    return []


@lru_cache(maxsize=1)
def _revisions() -> tuple[frozenset[str], frozenset[str]]:
    """(every revision the code knows, the heads), read from the packaged version files without
    importing Alembic (0.7 s): every reader of an archive asks this. Alembic reads the same
    module-level `revision` / `down_revision` names (a test checks the two agree)."""
    known: set[str] = set()
    parents: set[str] = set()
    for f in sorted((script_location() / "versions").glob("*.py")):
        tree = ast.parse(f.read_text(encoding="utf-8"), str(f))
        known.update(_assigned(tree, "revision"))
        parents.update(_assigned(tree, "down_revision"))
    return frozenset(known), frozenset(known - parents)


def head() -> str:
    return ",".join(sorted(_revisions()[1]))


def _current(conn: Connection) -> str | None:
    """The revision recorded in the database (None: unversioned, or no table at all)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    rows = [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    return ",".join(sorted(rows)) or None


def _refuse_unknown(rev: str | None, url: str) -> None:
    known, _heads = _revisions()
    if rev is not None and any(r not in known for r in rev.split(",")):
        raise ArchiveVersionError(
            f"the archive {url} has schema version {rev}, newer than this evolve knows "
            f"(head {head()}); upgrade evolve to read or write it")


def _shown(engine: Engine | Connection) -> str:
    return engine.engine.url.render_as_string(hide_password=True)


def check(engine: Engine) -> None:
    """For readers: refuse an archive newer than the code; write nothing."""
    with engine.connect() as conn:
        _refuse_unknown(_current(conn), _shown(engine))


def upgrade(engine: Engine) -> None:
    """Bring the database to head under a lock (creating every table of a new archive)."""
    _known, heads = _revisions()
    with engine.connect() as conn:
        if _current(conn) in heads:  # the common case: no lock, no write
            return
        conn.rollback()
    with engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE (the engine's archive_write option)
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        rev = _current(conn)  # again, under the lock: another driver may have done it
        _refuse_unknown(rev, _shown(engine))
        if rev in heads:
            return
        if rev is None and not inspect(conn).get_table_names():
            create_at_head(conn)
            return
        if rev is None and inspect(conn).has_table("runs"):
            # made before versions were recorded: the baseline creates only what is missing
            log.info("archive %s predates schema versions: stamping it as %s", _shown(engine),
                     BASELINE)
        from alembic import command

        command.upgrade(alembic_config(conn), "heads")


def create_at_head(conn: Connection) -> None:
    """A new archive: the models' tables and the head revision, without importing Alembic (0.4-0.8
    s of every run's start-up). The same schema as replaying the revisions (a test compares the
    two, column types, keys and indexes included)."""
    from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table

    from evolve.archive_models import Base

    Base.metadata.create_all(conn)
    version = Table("alembic_version", MetaData(),
                    Column("version_num", String(32), nullable=False),
                    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))
    version.create(conn)
    conn.execute(version.insert(), [{"version_num": rev} for rev in sorted(_revisions()[1])])


def main(argv: list[str] | None = None) -> int:
    """`python -m evolve.migrations revision -m "what changes"`: a new revision file (for
    developers working in a source checkout; see docs/postgres.md)."""
    import argparse

    from alembic import command

    p = argparse.ArgumentParser(prog="python -m evolve.migrations")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("revision", help="write a new, empty revision after the current head")
    r.add_argument("-m", "--message", required=True)
    sub.add_parser("heads", help="print the head revision")
    args = p.parse_args(argv)
    if args.cmd == "heads":
        print(head())
        return 0
    script = command.revision(alembic_config(), message=args.message)
    print(getattr(script, "path", script))
    return 0
