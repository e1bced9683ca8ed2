"""Ctrl-C (SIGINT) on the real `evolve`: a clean stop, status `stopped` with a short reason, and
exit status 130, whether it arrives while the workers warm up or while iterating."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.engine_util import ROOT, SORTING, evolve_cmd, rows, write_variants


def _wait(proc: subprocess.Popen, ready, what: str) -> None:
    deadline = time.monotonic() + 240  # generous: 2 busy cores; never reached when correct
    while not ready():
        assert proc.poll() is None, (
            f"evolve ended before {what}: {proc.stderr.read() if proc.stderr else ''}")
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.2)


def _programs(run_dir: Path) -> int:
    if not (run_dir / "run.json").exists():  # sqlite3.connect would create the archive file
        return 0
    try:
        return rows(run_dir, "select count(*) from programs where proposer='scripted'")[0][0]
    except Exception:  # noqa: BLE001 - archive or schema not there yet
        return 0


def _log_has(run_dir: Path, text: str) -> bool:
    try:
        return text in (run_dir / "run.log").read_text()
    except OSError:
        return False


@pytest.mark.parametrize("when", ["warming", "iterating"])
def test_ctrl_c_stops_cleanly_with_exit_130(tmp_path, when):
    programs = ",".join(map(str, write_variants(tmp_path / "v", 5)))
    run_dir = tmp_path / "run"
    # while iterating: the default concurrency and workers, so that several evaluations are in
    # flight when the signal comes (they finish and are recorded, none is run twice)
    one = ["search.concurrency=1", "evaluator.workers=1"] if when == "warming" else []
    proc = subprocess.Popen(
        evolve_cmd(*SORTING, "proposer=scripted", f"proposer.programs=[{programs}]",
                   "search.iterations=100000", *one, f"run_dir={run_dir}", "progress=false"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        if when == "warming":
            _wait(proc, lambda: _log_has(run_dir, "warming 1 worker"), "the warming phase")
        else:
            _wait(proc, lambda: _programs(run_dir) >= 3, "three programs")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in out + err
    (status, reason), = rows(run_dir, "select status, stop_reason from runs")
    assert (status, reason) == ("stopped", "interrupted (Ctrl-C)")
    assert "run folder:" in out  # the clean stop printed its summary
    its = sorted(r[0] for r in rows(run_dir,
                                    "select iteration from programs where proposer='scripted'"))
    assert len(set(its)) == len(its)  # no iteration recorded twice
    if when == "iterating":
        assert len(its) >= 3
