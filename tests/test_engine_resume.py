"""kill -9 during a run, then `evolve resume=...`: nothing completed is lost, no iteration
reused."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from omegaconf import OmegaConf

from evolve import app, session
from evolve.config import load_saved, validate
from tests.engine_util import ROOT, SORTING, evolve_cmd, rows, run_evolve, write_variants
from tests.unit.inprocess import InProcessPool

ITERATIONS = 20  # killed after 8: the resume still has most of the budget to finish


def test_kill_9_then_resume_finishes_budget(tmp_path):
    programs = ",".join(map(str, write_variants(tmp_path / "variants", ITERATIONS)))
    run_dir = tmp_path / "run"
    args = [*SORTING, "proposer=scripted", f"proposer.programs=[{programs}]",
            f"search.iterations={ITERATIONS}", "search.concurrency=3", "evaluator.workers=2",
            f"run_dir={run_dir}", "progress=false"]
    proc = subprocess.Popen(evolve_cmd(*args), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 180
    before: list[tuple] = []
    while time.time() < deadline:
        time.sleep(0.3)
        if (run_dir / "archive.sqlite").exists():
            try:
                before = rows(run_dir, "select id, iteration, code_hash, score from programs "
                                       "where proposer='scripted'")
            except Exception:  # noqa: BLE001 - schema not there yet
                continue
            if len(before) >= 8:
                break
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = rows(run_dir, "select id, iteration, code_hash, score from programs "
                           "where proposer='scripted'")
    assert 8 <= len(before) < ITERATIONS
    (status,) = rows(run_dir, "select status from runs")[0]
    assert status == "running"  # killed: never marked finished

    run_evolve(*SORTING[:2], f"resume={run_dir}", timeout=300)
    after = rows(run_dir, "select id, iteration, code_hash, score from programs "
                          "where proposer='scripted'")
    assert set(before) <= set(after), "a completed program was lost"
    iterations = [r[1] for r in after]
    assert sorted(iterations) == list(range(1, ITERATIONS + 1)), "iteration reused or missing"
    (status,) = rows(run_dir, "select status from runs")[0]
    assert status == "finished"
    assert len(rows(run_dir, "select id from programs where proposer='seed'")) == 2  # 2 islands


def test_resume_can_extend_the_budget(tmp_path, capsys, monkeypatch):
    # In process through app.main (real Hydra, session and archive; candidates scored in this
    # process): the kill -9 test above resumes a real process.
    monkeypatch.setattr(session, "Evaluator", InProcessPool)
    programs = ",".join(map(str, write_variants(tmp_path / "variants", 6)))
    run_dir = tmp_path / "run"
    assert app.main([*SORTING, "proposer=scripted", f"proposer.programs=[{programs}]",
                     "search.iterations=3", f"run_dir={run_dir}", "progress=false"]) == 0
    assert app.main([*SORTING[:2], f"resume={run_dir}", "search.iterations=6",
                     "progress=false"]) == 0
    its = sorted(r[0] for r in rows(run_dir,
                                    "select iteration from programs where proposer='scripted'"))
    assert its == [1, 2, 3, 4, 5, 6]
    capsys.readouterr()
    assert app.main([*SORTING[:2], f"resume={run_dir}", "problem.seed_program=x"]) == 2
    assert "cannot change" in capsys.readouterr().err
    _check_resume_overrides_against_the_schema(run_dir, capsys)


def _check_resume_overrides_against_the_schema(run_dir, capsys) -> None:
    """`evolve resume=` merges the saved config onto the typed schema: bad values are one line
    (app.main in process)."""
    saved = OmegaConf.load(run_dir / "config.yaml")
    validate(load_saved(OmegaConf.to_container(saved)))  # type: ignore[arg-type]
    for override, message in (("search.iterations=abc",
                               "search.iterations='abc': expected an integer"),
                              ("search.islands=0", "search.islands=0: must be > 0")):
        capsys.readouterr()
        assert app.main([*SORTING[:2], f"resume={run_dir}", override]) == 2
        assert capsys.readouterr().err.strip().splitlines() == [f"evolve: error: {message}"]
