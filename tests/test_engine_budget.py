"""Stopping rules: target score and wall time end a run cleanly (status stopped, reason stored)."""

from __future__ import annotations

from tests.engine_util import ROOT, SORTING, rows, run_evolve, write_variants


def test_target_score_stops_the_run(tmp_path):
    good = ROOT / "tests" / "hostile" / "good.py"  # sorts perfectly: score 0
    programs = ",".join([str(good)] + list(map(str, write_variants(tmp_path / "v", 3))))
    run_dir = tmp_path / "run"
    run_evolve(*SORTING, "proposer=scripted", f"proposer.programs=[{programs}]",
               "search.iterations=40", "search.concurrency=1", "search.target_score=-0.001",
               f"run_dir={run_dir}", "progress=false")
    (status, reason), = rows(run_dir, "select status, stop_reason from runs")
    assert status == "stopped" and "target score" in reason
    done = rows(run_dir, "select count(*) from programs where proposer='scripted'")[0][0]
    assert 1 <= done < 40


def test_wall_time_budget_stops_the_run(tmp_path):
    programs = ",".join(map(str, write_variants(tmp_path / "v", 50)))
    run_dir = tmp_path / "run"
    run_evolve(*SORTING, "proposer=scripted", f"proposer.programs=[{programs}]",
               "search.iterations=50", "search.max_seconds=3", f"run_dir={run_dir}",
               "progress=false")
    (status, reason), = rows(run_dir, "select status, stop_reason from runs")
    assert status == "stopped" and "wall-time budget" in reason
    assert rows(run_dir, "select count(*) from programs where proposer='scripted'")[0][0] < 50


# Ctrl-C while iterating (in-flight work finishes, status stopped, exit 130, no iteration twice)
# is tests/test_engine_interrupt.py::test_ctrl_c_stops_cleanly_with_exit_130[iterating]; it was
# also tested here with a run of its own.
