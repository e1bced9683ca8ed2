"""A session always leaves a final status, and never overwrites a run folder or a `latest` that is
not a link.

In-process through `evolve.app.main`, with a fake evaluator (no worker processes): cheap and exact.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from evolve import app, run_folder, session
from evolve.problem import ProblemError
from evolve.result import EvalResult
from tests.engine_util import ROOT, SORTING

GOOD = str(ROOT / "tests" / "hostile" / "good.py")


class FakeEvaluator:
    """Stands in for the worker pool: every program scores 0, isolation is reported as reduced."""

    fail_start: Exception | None = None

    def __init__(self, problem_cfg, limits, workers, gate=True, **_: object):
        self.isolation, self.isolation_detail = "unknown", ""

    def start(self):
        if FakeEvaluator.fail_start is not None:
            raise FakeEvaluator.fail_start
        self.isolation, self.isolation_detail = "reduced", "reduced (no user namespaces; test)"
        return self

    def close(self):
        pass

    async def evaluate(self, code, then=None):
        return EvalResult(status="ok", score=0.0, metrics={"inversions": 0.0}, behaviour=0.0)


@pytest.fixture(autouse=True)
def fake_evaluator(monkeypatch):
    FakeEvaluator.fail_start = None
    monkeypatch.setattr(session, "Evaluator", FakeEvaluator)


def _evolve(run_dir, *extra):
    return app.main([*SORTING, "proposer=scripted", f"proposer.programs=[{GOOD}]",
                     "search.iterations=2", f"run_dir={run_dir}", "progress=false", *extra])


def _run_row(run_dir):
    con = sqlite3.connect(run_dir / "archive.sqlite")
    try:
        return con.execute("select status, stop_reason from runs").fetchone()
    finally:
        con.close()


def test_isolation_is_written_to_run_json_after_the_evaluator_starts(tmp_path):
    run_dir = tmp_path / "run"
    assert _evolve(run_dir) == 0
    info = json.loads((run_dir / "run.json").read_text())
    assert info["run_id"] == 1 and info["url"].endswith("archive.sqlite")
    assert info["isolation"] == "reduced" and "no user namespaces" in info["isolation_detail"]
    assert "isolation: reduced (no user namespaces; test)" in (run_dir / "run.log").read_text()
    assert _run_row(run_dir) == ("finished", "finished")


def test_a_crash_of_the_run_itself_is_recorded_as_failed(tmp_path, monkeypatch, capsys):
    def boom(*_a, **_k):
        raise RuntimeError("summary exploded")

    monkeypatch.setattr(session, "print_summary", boom)
    run_dir = tmp_path / "run"
    assert _evolve(run_dir) == 1
    status, reason = _run_row(run_dir)
    assert status == "failed" and reason == "crashed: RuntimeError: summary exploded"
    log = (run_dir / "run.log").read_text()
    assert "Traceback" in log and "in boom" in log  # the traceback is kept in run.log
    assert "Traceback" not in capsys.readouterr().err  # ... and not sprayed on the terminal


def test_workers_failing_to_start_leave_the_run_failed_not_running(tmp_path):
    FakeEvaluator.fail_start = ProblemError("warm_up: simulator data missing")
    run_dir = tmp_path / "run"
    assert _evolve(run_dir) == 1
    status, reason = _run_row(run_dir)
    assert status == "failed" and "simulator data missing" in reason


@pytest.mark.parametrize("content", ["config.yaml", "archive.sqlite", "run.json", "notes.txt"])
def test_run_dir_that_holds_anything_is_refused(tmp_path, content, capsys):
    run_dir = tmp_path / "old"
    run_dir.mkdir()
    (run_dir / content).write_text("precious\n")
    assert _evolve(run_dir) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"evolve: error: run_dir={run_dir}: ")
    assert "resume=" in err[0]
    assert [p.name for p in run_dir.iterdir()] == [content]
    assert (run_dir / content).read_text() == "precious\n"


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_latest_that_is_not_a_symlink_is_left_alone(tmp_path, kind):
    latest = tmp_path / "latest"
    if kind == "dir":
        latest.mkdir()
        (latest / "keep.txt").write_text("mine\n")
    else:
        latest.write_text("mine\n")
    assert _evolve(tmp_path / "run") == 0
    assert not latest.is_symlink()
    assert (latest / "keep.txt" if kind == "dir" else latest).read_text() == "mine\n"
    assert "is not a symlink: left as it is" in (tmp_path / "run" / "run.log").read_text()


def test_latest_symlink_is_moved_to_the_new_run(tmp_path):
    assert _evolve(tmp_path / "a") == 0
    assert _evolve(tmp_path / "b") == 0
    assert (tmp_path / "latest").is_symlink() and (tmp_path / "latest").resolve() == tmp_path / "b"


def test_resume_of_a_folder_in_use_is_refused(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert _evolve(run_dir) == 0
    capsys.readouterr()
    held = session.RunLock(run_dir).acquire()  # another evolve session holds it
    try:
        before = _run_row(run_dir)
        assert app.main([*SORTING[:2], f"resume={run_dir}", "search.iterations=4"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "in use by another evolve process" in err[0], err
        assert _run_row(run_dir) == before  # nothing written
    finally:
        held.release()
    assert app.main([*SORTING[:2], f"resume={run_dir}", "search.iterations=4"]) == 0  # free again


def test_resume_of_a_run_saved_before_a_key_existed_gets_the_yaml_default(tmp_path):
    run_dir = tmp_path / "run"
    assert _evolve(run_dir) == 0
    saved = run_dir / "config.yaml"
    text = saved.read_text()
    assert "tournament_k: 3" in text
    saved.write_text(text.replace("  tournament_k: 3\n", ""))  # as written by an older version
    assert app.main([*SORTING[:2], f"resume={run_dir}", "search.iterations=3"]) == 0
    assert _run_row(run_dir) == ("finished", "finished")


def test_a_failure_right_after_the_run_row_exists_still_records_failed(tmp_path, monkeypatch):
    def no_space(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_folder, "write_run_json", no_space)  # announce() writes it
    run_dir = tmp_path / "run"
    assert _evolve(run_dir) == 1
    assert _run_row(run_dir) == ("failed", "crashed: OSError: [Errno 28] No space left on device")
