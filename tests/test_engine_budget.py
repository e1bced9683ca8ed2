"""Stopping rules: target score and wall time end a run cleanly (status stopped, reason stored).

In process through `evolve.app.main` (real Hydra, session, controller and archive) with candidates
scored by the real sorting problem in this process: a subprocess run would test only the
interpreter start-up on top (tests/test_engine_interrupt.py runs the real process to `stopped`).
"""

from __future__ import annotations

import pytest

from evolve import app, session
from tests.engine_util import ROOT, SORTING, rows, write_variants
from tests.unit.inprocess import InProcessPool

SLOW_S = 1.0  # per evaluation in the wall-time test: 50 of them cannot fit in its 3 s budget


@pytest.fixture(autouse=True)
def in_process_pool(monkeypatch):
    InProcessPool.delay_s = 0.0
    monkeypatch.setattr(session, "Evaluator", InProcessPool)


def test_target_score_stops_the_run(tmp_path):
    good = ROOT / "tests" / "hostile" / "good.py"  # sorts perfectly: score 0
    programs = ",".join([str(good)] + list(map(str, write_variants(tmp_path / "v", 3))))
    run_dir = tmp_path / "run"
    assert app.main([*SORTING, "proposer=scripted", f"proposer.programs=[{programs}]",
                     "search.iterations=40", "search.concurrency=1",
                     "search.target_score=-0.001", f"run_dir={run_dir}", "progress=false"]) == 0
    (status, reason), = rows(run_dir, "select status, stop_reason from runs")
    assert status == "stopped" and "target score" in reason
    done = rows(run_dir, "select count(*) from programs where proposer='scripted'")[0][0]
    assert 1 <= done < 40


def test_wall_time_budget_stops_the_run(tmp_path):
    InProcessPool.delay_s = SLOW_S
    programs = ",".join(map(str, write_variants(tmp_path / "v", 50)))
    run_dir = tmp_path / "run"
    assert app.main([*SORTING, "proposer=scripted", f"proposer.programs=[{programs}]",
                     "search.iterations=50", "search.concurrency=4", "search.max_seconds=3",
                     f"run_dir={run_dir}", "progress=false"]) == 0
    (status, reason), = rows(run_dir, "select status, stop_reason from runs")
    assert status == "stopped" and "wall-time budget" in reason
    assert rows(run_dir, "select count(*) from programs where proposer='scripted'")[0][0] < 50


# Ctrl-C while iterating (in-flight work finishes, status stopped, exit 130, no iteration twice)
# is tests/test_engine_interrupt.py::test_ctrl_c_stops_cleanly_with_exit_130[iterating]; it was
# also tested here with a run of its own.
