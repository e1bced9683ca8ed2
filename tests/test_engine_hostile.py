"""Hostile candidates are each recorded with the right failure kind and the run finishes."""

from __future__ import annotations

import os
from pathlib import Path

from tests.engine_util import ROOT, SORTING, rows, run_evolve

EXPECTED = {
    "infinite_loop.py": "timeout",
    "memory_bomb.py": "memory_limit",
    "fork_bomb.py": "runtime_error",
    "os_exit.py": "runtime_error",
    "sys_exit.py": "runtime_error",
    "print_100mb.py": "ok",  # output is capped, the candidate still sorts correctly
    "write_outside.py": "runtime_error",
    "open_socket.py": "runtime_error",
    "mutate_input.py": "input_mutation",
    "wrong_length.py": "invalid_output",
    "duplicates.py": "invalid_output",
    "raise_at_import.py": "runtime_error",
    "patch_scorer.py": "ok",  # it tries to patch the scorer; scoring happens outside its process
    "good.py": "ok",
}


def test_hostile_candidates_recorded_and_run_finishes(tmp_path):
    escape = Path("/tmp/evolve_escape.txt")
    if escape.exists():
        escape.unlink()
    files = sorted(EXPECTED)
    programs = ",".join(str(ROOT / "tests" / "hostile" / f) for f in files)
    run_dir = tmp_path / "run"
    proc = run_evolve(*SORTING, "proposer=scripted", f"proposer.programs=[{programs}]",
                      f"search.iterations={len(files)}", "evaluator.timeout_s=4",
                      "evaluator.memory_mb=400", "evaluator.workers=2", f"run_dir={run_dir}",
                      "progress=false")
    assert "run folder" in proc.stdout
    got = {op: (status, error, score) for op, status, error, score in rows(
        run_dir, "select operator, status, error, score from programs where proposer='scripted'")}
    assert set(got) == set(files)
    for name, kind in EXPECTED.items():
        assert got[name][0] == kind, (name, got[name])
    assert "os.fork" in got["fork_bomb.py"][1]
    assert "network" in got["open_socket.py"][1]
    assert "outside the working folder" in got["write_outside.py"][1]
    assert "sys.exit" in got["sys_exit.py"][1]
    assert got["good.py"][2] == 0.0
    assert got["patch_scorer.py"][2] < -0.4  # reversed order: about half the pairs inverted
    assert not escape.exists()
    (status,) = rows(run_dir, "select status from runs")[0]
    assert status == "finished"
    assert (run_dir / "best.py").read_text() == (ROOT / "tests/hostile/good.py").read_text()
    assert os.path.exists(run_dir / "run.log") and os.path.exists(run_dir / "config.yaml")
