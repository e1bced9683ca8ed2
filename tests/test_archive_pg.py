"""The archive on a real PostgreSQL server (tests/pgserver.py): a short SMTT run, every reading
command on it (by folder and by URL#RUN), kill -9 then resume, and no password in the run
folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.engine_util import ROOT, SORTING, evolve_cmd, write_variants
from tests.pgserver import PASSWORD

SMTT_ITERATIONS = 6
KILL_ITERATIONS = 20  # killed after 8: the resume still has most of the budget to finish


def _run(cmd: list[str], env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=dict(env, PYTHONUNBUFFERED="1"))


def _ok(cmd: list[str], env: dict, timeout: float = 600) -> str:
    proc = _run(cmd, env, timeout)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _archive_cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "evolve.cli.archive", *argv]


def _rows(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(text(sql))]
    finally:
        engine.dispose()


def _no_password_in(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), f"{path} holds the password"


@pytest.mark.slow
def test_smtt_run_on_postgres_then_every_reader(pg_url, pg_server, tmp_path):
    env = pg_server.env()
    run_dir = tmp_path / "runs" / "smtt" / "r1"
    _ok(evolve_cmd("problem=smtt", f"archive.url={pg_url}", f"search.iterations={SMTT_ITERATIONS}",
                   "evaluator.workers=1", f"run_dir={run_dir}", "progress=false"), env)
    assert (run_dir / "archive_url").read_text().strip() == pg_url
    assert not (run_dir / "archive.sqlite").exists()
    _no_password_in(run_dir)
    (run_id,) = json.loads((run_dir / "run.json").read_text())["run_id"],
    (stored,) = _rows(pg_url, "SELECT config FROM runs")
    assert PASSWORD not in stored[0]

    runs = json.loads(_ok(_archive_cli("runs", pg_url, "--json"), env))
    assert [(r["run_id"], r["status"], r["iterations"]) for r in runs] == [
        (run_id, "finished", SMTT_ITERATIONS)]
    assert runs[0]["run_folder"] == str(run_dir)
    by_folder = json.loads(_ok(_archive_cli("top", str(run_dir), "-k", "3", "--json"), env))
    by_url = json.loads(_ok(_archive_cli("top", f"{pg_url}#{run_id}", "-k", "3", "--json"), env))
    latest = json.loads(_ok(_archive_cli("top", pg_url, "-k", "3", "--json"), env))
    assert by_folder == by_url == latest and by_folder
    best = by_folder[0]["id"]
    shown = json.loads(_ok(_archive_cli("show", f"{pg_url}#{run_id}", str(best), "--json"), env))
    assert shown["id"] == best and shown["code"]
    stats = json.loads(_ok(_archive_cli("stats", str(run_dir), "--json"), env))
    assert stats["total"]["children"] == SMTT_ITERATIONS
    _ok(_archive_cli("lineage", f"{pg_url}#{run_id}", str(best)), env)
    _ok(_archive_cli("plot", str(run_dir), "-o", str(tmp_path / "p.png")), env)

    replay = [sys.executable, "-m", "evolve.cli.replay"]
    via_folder = json.loads(_ok([*replay, str(run_dir), "--split", "validation", "--baselines",
                                 "none", "--json", "--progress", "never"], env))
    via_url = json.loads(_ok([*replay, f"{pg_url}#{run_id}:{best}", "--split", "validation",
                              "--baselines", "none", "--json", "--progress", "never"], env))
    assert via_folder["program"]["id"] == via_url["program"]["id"] == best

    # without the password nothing connects, and the error names no secret
    proc = _run(_archive_cli("runs", pg_url), dict(env, PGPASSWORD="wrong"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "wrong" not in proc.stderr


def test_a_password_in_the_url_is_refused(pg_server, tmp_path):
    url = pg_server.url("postgres").replace("evolve@", f"evolve:{PASSWORD}@")
    run_dir = tmp_path / "r"
    proc = _run(evolve_cmd(*SORTING, f"archive.url={url}", "search.iterations=2",
                           f"run_dir={run_dir}", "progress=false"), pg_server.env())
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert "password" in line and PASSWORD not in proc.stderr and "PGPASSWORD" in line
    assert not run_dir.exists()


def test_kill_9_then_resume_on_postgres(pg_url, pg_server, tmp_path):
    """The PostgreSQL twin of test_engine_resume.test_kill_9_then_resume_finishes_budget."""
    env = dict(pg_server.env(), PYTHONUNBUFFERED="1")
    programs = ",".join(map(str, write_variants(tmp_path / "variants", KILL_ITERATIONS)))
    run_dir = tmp_path / "run"
    args = [*SORTING, "proposer=scripted", f"proposer.programs=[{programs}]",
            f"search.iterations={KILL_ITERATIONS}", "search.concurrency=3",
            "evaluator.workers=2", f"archive.url={pg_url}", f"run_dir={run_dir}",
            "progress=false"]
    query = "SELECT id, iteration, code_hash, score FROM programs WHERE proposer='scripted'"
    proc = subprocess.Popen(evolve_cmd(*args), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    deadline = time.time() + 300  # a hang guard only
    before: list[tuple] = []
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.3)
        try:
            before = _rows(pg_url, query)
        except Exception:  # noqa: BLE001 - tables not created yet
            continue
        if len(before) >= 8:
            break
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _rows(pg_url, query)
    assert 8 <= len(before) < KILL_ITERATIONS
    assert _rows(pg_url, "SELECT status FROM runs") == [("running",)]  # never marked finished

    _ok(evolve_cmd(*SORTING[:2], f"resume={run_dir}"), env)
    after = _rows(pg_url, query)
    assert set(before) <= set(after), "a completed program was lost"
    iterations = sorted(r[1] for r in after)
    assert iterations == list(range(1, KILL_ITERATIONS + 1)), "iteration reused or missing"
    assert _rows(pg_url, "SELECT status FROM runs") == [("finished",)]
    assert len(_rows(pg_url, "SELECT id FROM programs WHERE proposer='seed'")) == 2  # 2 islands
