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


def test_ctrl_c_finishes_in_flight_work_and_marks_the_run_stopped(tmp_path):
    import signal
    import subprocess
    import time

    from tests.engine_util import evolve_cmd

    programs = ",".join(map(str, write_variants(tmp_path / "v", 60)))
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(evolve_cmd(*SORTING, "proposer=scripted",
                                       f"proposer.programs=[{programs}]",
                                       "search.iterations=60", f"run_dir={run_dir}",
                                       "progress=false"),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.3)
        try:
            if rows(run_dir, "select count(*) from programs where proposer='scripted'")[0][0] >= 3:
                break
        except Exception:  # noqa: BLE001 - archive not created yet
            pass
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out  # interrupted, after the clean stop
    (status, reason), = rows(run_dir, "select status, stop_reason from runs")
    assert status == "stopped" and reason == "interrupted (Ctrl-C)"
    assert "run folder:" in out  # the summary of the clean stop
    its = sorted(r[0] for r in rows(run_dir,
                                    "select iteration from programs where proposer='scripted'"))
    assert 3 <= len(its) < 60 and len(set(its)) == len(its)
