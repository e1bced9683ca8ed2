"""The real `evolve` under SIGTERM, a concurrent resume, and its archive deleted mid-run."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.engine_util import ROOT, SORTING, evolve_cmd, rows, run_evolve, write_variants

ITERATIONS = 100_000  # never reached: each test ends the run itself


def _start(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    programs = ",".join(map(str, write_variants(tmp_path / "v", 20)))
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        evolve_cmd(*SORTING, "proposer=scripted", f"proposer.programs=[{programs}]",
                   f"search.iterations={ITERATIONS}", "search.concurrency=1", "evaluator.workers=1",
                   f"run_dir={run_dir}", "progress=false"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, run_dir


def _wait_for_programs(proc: subprocess.Popen, run_dir: Path, n: int) -> None:
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.3)
        try:
            if rows(run_dir, "select count(*) from programs where proposer='scripted'")[0][0] >= n:
                return
        except Exception:  # noqa: BLE001 - archive or schema not there yet
            pass
    raise AssertionError(f"no {n} programs recorded (exit {proc.poll()})")


def test_sigterm_stops_cleanly_and_a_concurrent_resume_is_refused(tmp_path):
    proc, run_dir = _start(tmp_path)
    try:
        _wait_for_programs(proc, run_dir, 1)
        second = run_evolve(*SORTING[:2], f"resume={run_dir}", check=False, timeout=120)
        assert second.returncode == 2, second.stderr
        err = [l for l in second.stderr.splitlines() if l.strip()]
        assert len(err) == 1 and "in use by another evolve process" in err[0], second.stderr
        assert "Traceback" not in second.stdout + second.stderr
        proc.send_signal(signal.SIGTERM)
        out, err_text = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err_text
    assert "Traceback" not in err_text
    (status, reason), = rows(run_dir, "select status, stop_reason from runs")
    assert status == "stopped" and reason == "interrupted (SIGTERM)"
    assert "run folder:" in out  # the clean stop printed its summary
    its = [r[0] for r in rows(run_dir, "select iteration from programs where proposer='scripted'")]
    assert len(its) == len(set(its)) >= 1 and len(its) < ITERATIONS


def test_deleting_the_archive_mid_run_stops_it_with_one_line(tmp_path):
    proc, run_dir = _start(tmp_path)
    try:
        _wait_for_programs(proc, run_dir, 2)
        for f in run_dir.glob("archive.sqlite*"):
            f.unlink()
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("evolve: error: the archive "), err
    assert lines[0].endswith("archive.sqlite was deleted during the run: run stopped"), err
    assert not (run_dir / "archive.sqlite").exists()
