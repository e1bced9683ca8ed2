"""Schema versions (Alembic) on SQLite and PostgreSQL: a new archive is created at head, an
archive made before versions were recorded is stamped as the baseline, and an archive newer than
the code is refused with one line and exit status 2."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from sqlalchemy import create_engine, inspect, text

from evolve import migrations
from evolve.archive import Archive, sqlite_url
from tests.engine_util import ROOT, SORTING, run_evolve

TABLES = {"runs", "programs", "program_parents", "llm_calls", "heldout", "artifacts",
          "set_scores", "validations",
          "alembic_version"}

# What `evolve` on main wrote before schema versions (SQLAlchemy create_all, dumped by sqlite3),
# less the `heldout` table, which even older archives lack.
LEGACY_SQL = """
CREATE TABLE llm_calls (
    id INTEGER NOT NULL,
    run_id INTEGER NOT NULL,
    program_id INTEGER,
    iteration INTEGER,
    model VARCHAR(128) NOT NULL,
    mode VARCHAR(16),
    prompt JSON NOT NULL,
    reply TEXT,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd FLOAT NOT NULL,
    latency_s FLOAT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(run_id) REFERENCES runs (id),
    FOREIGN KEY(program_id) REFERENCES programs (id)
);
CREATE TABLE program_parents (
    program_id INTEGER NOT NULL,
    parent_id INTEGER NOT NULL,
    role VARCHAR(16) NOT NULL,
    PRIMARY KEY (program_id, parent_id, role),
    FOREIGN KEY(program_id) REFERENCES programs (id),
    FOREIGN KEY(parent_id) REFERENCES programs (id)
);
CREATE TABLE programs (
    id INTEGER NOT NULL,
    run_id INTEGER NOT NULL,
    iteration INTEGER NOT NULL,
    island INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    parent_id INTEGER,
    code TEXT NOT NULL,
    code_hash VARCHAR(64),
    proposer VARCHAR(32) NOT NULL,
    operator VARCHAR(64),
    model VARCHAR(128),
    diff TEXT,
    status VARCHAR(24) NOT NULL,
    error TEXT,
    compile_fallback TEXT,
    score FLOAT,
    metrics JSON NOT NULL,
    feedback TEXT,
    behaviour FLOAT,
    stage VARCHAR(16),
    duplicate_of INTEGER,
    improved BOOLEAN NOT NULL,
    propose_seconds FLOAT NOT NULL,
    eval_seconds FLOAT NOT NULL,
    created_at DATETIME NOT NULL,
    wall_offset FLOAT NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_program_iteration UNIQUE (run_id, iteration, island, proposer),
    FOREIGN KEY(run_id) REFERENCES runs (id),
    FOREIGN KEY(parent_id) REFERENCES programs (id)
);
CREATE TABLE runs (
    id INTEGER NOT NULL,
    problem VARCHAR(64) NOT NULL,
    folder TEXT,
    config JSON NOT NULL,
    seed INTEGER NOT NULL,
    status VARCHAR(16) NOT NULL,
    stop_reason TEXT,
    started_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    wall_seconds FLOAT NOT NULL,
    state JSON NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX ix_programs_run_score ON programs (run_id, score);
CREATE INDEX ix_programs_run_hash ON programs (run_id, code_hash);
INSERT INTO "runs" VALUES(1, 'sorting', '/x/runs/r1', '{"problem": {"name": "sorting"}}', 0,
    'finished', NULL, '2026-12-01 04:05:47.747212', '2026-12-01 04:05:47.905897', 0.0, '{}');
INSERT INTO "programs" VALUES(1, 1, 0, 0, 0, NULL, 'def solve(x):
    return x
', NULL, 'seed', NULL, NULL, NULL, 'ok', NULL, NULL, 1.0, '{"m": 1.0}', NULL, NULL, NULL, NULL,
    0, 0.0, 0.0, '2026-12-01 04:05:47.823319', 0.0);
"""


def _version(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return [r[0] for r in c.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _cli(*argv: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)


def test_a_new_sqlite_archive_is_created_at_head(tmp_path):
    url = sqlite_url(tmp_path / "a.sqlite")
    Archive(url).close()
    assert _tables(url) == TABLES
    assert _version(url) == [migrations.head()]


def _schema(url: str) -> dict:
    """Every table's columns (type, nullability, default), keys, foreign keys and indexes."""
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        return {t: {
            "columns": [(c["name"], str(c["type"]), c["nullable"], c.get("default"))
                        for c in insp.get_columns(t)],
            "pk": insp.get_pk_constraint(t)["constrained_columns"],
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"],
                           tuple(f["referred_columns"])) for f in insp.get_foreign_keys(t)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in insp.get_indexes(t)),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(t)),
        } for t in insp.get_table_names()}
    finally:
        engine.dispose()


def _replay_revisions(url: str) -> None:
    """What a new archive was before the shortcut: Alembic replaying every revision."""
    from alembic import command

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(migrations.alembic_config(conn), "heads")
    finally:
        engine.dispose()


def _check_shortcut_matches_revisions(fresh: str, replayed: str) -> None:
    Archive(fresh).close()  # the new-archive path (create_at_head)
    _replay_revisions(replayed)
    got, want = _schema(fresh), _schema(replayed)
    assert set(got) == TABLES
    for table in sorted(want):
        assert got[table] == want[table], table
    assert _version(fresh) == _version(replayed) == [migrations.head()]


def test_a_new_sqlite_archive_has_the_schema_the_revisions_build(tmp_path):
    # a model changed without a revision (or the reverse) fails here, before any user sees it
    _check_shortcut_matches_revisions(sqlite_url(tmp_path / "new.sqlite"),
                                      sqlite_url(tmp_path / "replayed.sqlite"))


def test_a_new_postgres_archive_has_the_schema_the_revisions_build(pg_url, pg_server):
    replayed = pg_server.create_database(f"replayed_{pg_url.rsplit('/', 1)[-1]}"[:60])
    _check_shortcut_matches_revisions(pg_url, replayed)


def test_a_new_postgres_archive_is_created_at_head(pg_url):
    Archive(pg_url).close()
    assert _tables(pg_url) == TABLES
    assert _version(pg_url) == [migrations.head()]
    Archive(pg_url).close()  # at head: opening again changes nothing
    assert _version(pg_url) == [migrations.head()]


def test_an_archive_from_before_versions_is_readable_then_stamped(tmp_path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    db = folder / "archive.sqlite"
    con = sqlite3.connect(db)
    con.executescript(LEGACY_SQL)
    con.close()
    (folder / "run.json").write_text('{"run_id": 1}')

    from evolve.cli import archive as archive_cli

    assert archive_cli.main(["top", str(folder), "--json"]) == 0
    assert '"id": 1' in capsys.readouterr().out
    # a reader writes nothing, and copes with the tables an old archive lacks
    assert archive_cli.main(["show", str(folder), "1"]) == 0
    assert "alembic_version" not in _tables(sqlite_url(db))

    archive = Archive(sqlite_url(db))  # a writer (resume) stamps it as the baseline
    try:
        assert archive.get_run(1).status == "finished"
        assert archive.programs(1)[0].metrics == {"m": 1.0}
    finally:
        archive.close()
    assert _version(sqlite_url(db)) == [migrations.head()]  # stamped, then upgraded
    assert _tables(sqlite_url(db)) == TABLES  # the missing `heldout` table was added


def _future(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()


def test_a_newer_archive_is_refused_with_one_line(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    url = sqlite_url(folder / "archive.sqlite")
    Archive(url).close()
    _future(url)
    proc = _cli("-m", "evolve.cli.archive", "top", str(folder))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "9999_from_the_future" in lines[0] and "newer" in lines[0], lines

    proc = run_evolve(*SORTING, "search.iterations=2", f"archive.url={url}",
                      f"run_dir={tmp_path / 'new'}", "progress=false", check=False)
    assert proc.returncode == 2, proc.stderr
    assert "9999_from_the_future" in proc.stderr.strip().splitlines()[-1]


def test_a_newer_postgres_archive_is_refused(pg_url, pg_server):
    Archive(pg_url).close()
    _future(pg_url)
    proc = _cli("-m", "evolve.cli.archive", "runs", pg_url, env=pg_server.env())
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "9999_from_the_future" in lines[0], lines


def test_developer_revision_commands_work_without_alembic_ini():
    proc = _cli("-m", "evolve.migrations", "heads")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == migrations.head() == "0003_set_scores"


def test_the_revisions_read_without_alembic_agree_with_alembic():
    # readers list the known revisions from the version files' text (no 0.7 s Alembic import);
    # Alembic's own walk of the same files must give the same revisions and heads
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrations.alembic_config())
    known, heads = migrations._revisions()
    assert known == {r.revision for r in script.walk_revisions()}
    assert heads == set(script.get_heads())
