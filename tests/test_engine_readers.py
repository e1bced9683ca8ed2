"""Readers open the archive while a run writes it: no lock errors (SQLite WAL)."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.engine_util import ROOT, SORTING, evolve_cmd, write_variants

# Each reader process calls `evolve-archive top RUN --json` over and over (in-process, so that
# the test makes many reads), and checks the run status through the Archive API. A short pause
# between reads keeps the two readers from taking both cores from the writer they watch.
READER = """
import contextlib, io, json, sys, time
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from evolve.archive import Archive, Run
from evolve.cli.archive import main as archive_cli
folder = sys.argv[1]
n = reads = 0
t_end = time.time() + float(sys.argv[2])
while time.time() < t_end:
    try:
        a = Archive.open_folder(folder)
    except FileNotFoundError:
        time.sleep(0.05); continue
    try:
        with a.Session() as s:
            run = s.scalars(select(Run).order_by(Run.id.desc()).limit(1)).first()
    except OperationalError as e:  # the file is there, its tables not yet (a busy machine)
        if "no such table" not in str(e):
            raise
        run = None
    a.close()
    if run is None:
        time.sleep(0.05); continue
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = archive_cli(["top", folder, "-k", "5", "--json"])
    assert code == 0, code
    n = max(n, len(json.loads(buf.getvalue()) or []))
    reads += 1
    time.sleep(0.1)
    if run.status != "running":
        break
print(reads, n)
"""


def test_two_readers_while_run_writes(tmp_path):
    programs = ",".join(map(str, write_variants(tmp_path / "v", 24)))
    run_dir = tmp_path / "run"
    writer = subprocess.Popen(evolve_cmd(*SORTING, "proposer=scripted",
                                         f"proposer.programs=[{programs}]", "search.iterations=24",
                                         f"run_dir={run_dir}", "progress=false"),
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    readers = [subprocess.Popen([sys.executable, "-c", READER, str(run_dir), "240"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(2)]
    _out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err
    for r in readers:
        rout, rerr = r.communicate(timeout=120)
        assert r.returncode == 0, rerr
        assert "locked" not in rerr.lower()
        reads, seen = map(int, rout.split())
        assert reads > 5 and seen > 0
