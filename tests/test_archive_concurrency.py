"""Many drivers on one database: two `evolve` processes write one archive at once (two runs)
while two readers call `evolve-archive top URL --json` in a loop. On PostgreSQL and on one
shared SQLite file, reached by the same `archive.url`: no errors, both runs complete, each
with its own run id and iterations 1..N."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text

from evolve.archive import sqlite_url
from tests.engine_util import ROOT, SORTING, evolve_cmd, write_variants

ITERATIONS = 8  # per driver: the two runs overlap from their first write to their last

# A reader: `evolve-archive top URL --json` (the newest run) in-process, over and over, until
# every run in the database says it stopped running; any non-zero exit fails the reader. A short
# pause between reads: two readers reading back to back took a core each from the writers they
# watch (2-core machine), and a read every ~0.1 s still lands inside the writers' transactions.
READER = """
import contextlib, io, json, sys, time
from sqlalchemy import create_engine, text
from evolve.cli.archive import main as archive_cli
url, want, t_end = sys.argv[1], int(sys.argv[2]), time.time() + float(sys.argv[3])
reads = seen = 0
while time.time() < t_end:
    try:
        engine = create_engine(url)
        with engine.connect() as c:
            status = [r[0] for r in c.execute(text("SELECT status FROM runs"))]
        engine.dispose()
    except Exception:
        status = []  # not created yet
    if not status:
        time.sleep(0.1); continue
    buf, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        code = archive_cli(["top", url, "-k", "5", "--json"])
    assert code == 0, (code, err.getvalue())
    seen = max(seen, len(json.loads(buf.getvalue()) or []))
    reads += 1
    time.sleep(0.1)
    if len(status) >= want and all(s != "running" for s in status):
        break
print(reads, seen)
"""


def _drivers_and_readers(url: str, tmp_path, env: dict) -> None:
    programs = ",".join(map(str, write_variants(tmp_path / "v", ITERATIONS)))
    drivers = [subprocess.Popen(
        evolve_cmd(*SORTING, "proposer=scripted", f"proposer.programs=[{programs}]",
                   f"search.iterations={ITERATIONS}", "evaluator.workers=1",
                   f"archive.url={url}", f"run_dir={tmp_path / f'run{i}'}", "progress=false",
                   f"search.seed={i}"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for i in range(2)]
    readers = [subprocess.Popen([sys.executable, "-c", READER, url, "2", "400"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for _ in range(2)]
    for d in drivers:
        _out, err = d.communicate(timeout=600)  # hang guard
        assert d.returncode == 0, err
    for r in readers:
        out, err = r.communicate(timeout=600)
        assert r.returncode == 0, err
        reads, seen = map(int, out.split())
        assert reads > 0 and seen > 0

    engine = create_engine(url)
    try:
        with engine.connect() as c:
            runs = [tuple(r) for r in c.execute(text("SELECT id, status FROM runs ORDER BY id"))]
            assert [s for _id, s in runs] == ["finished", "finished"]
            for run_id, _status in runs:
                its = [r[0] for r in c.execute(text(
                    "SELECT iteration FROM programs WHERE run_id = :r AND proposer = 'scripted'"
                    " ORDER BY iteration"), {"r": run_id})]
                assert its == list(range(1, ITERATIONS + 1))
    finally:
        engine.dispose()
    ids = {json.loads((tmp_path / f"run{i}" / "run.json").read_text())["run_id"]
           for i in range(2)}
    assert ids == {r[0] for r in runs}

    listed = subprocess.run([sys.executable, "-m", "evolve.cli.archive", "runs", url, "--json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert sorted(r["run_id"] for r in rows) == sorted(ids)
    assert {r["run_folder"] for r in rows} == {str(tmp_path / f"run{i}") for i in range(2)}


@pytest.mark.slow
def test_two_drivers_two_readers_on_postgres(pg_url, pg_server, tmp_path):
    _drivers_and_readers(pg_url, tmp_path, pg_server.env())


@pytest.mark.slow
def test_two_drivers_two_readers_on_one_sqlite_file(tmp_path):
    import os

    _drivers_and_readers(sqlite_url(tmp_path / "shared.sqlite"), tmp_path, dict(os.environ))
