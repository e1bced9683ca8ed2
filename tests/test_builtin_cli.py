"""Built-in proposer from the CLI: growth operators, novelty and the probe in a real run."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.engine_util import rows, run_evolve


def test_a_real_smtt_run_with_blocks_and_the_probe(tmp_path: Path):
    run = tmp_path / "run"
    run_evolve("problem=smtt", "problem.seed_program=mdd", "search.iterations=12",
               "search.seed=1", "proposer.builtin.probe=true", "proposer.builtin.elite_blocks=2",
               "proposer.builtin.operators.block_grow=3.0", f"run_dir={run}", timeout=600)
    cfg = yaml.safe_load((run / "config.yaml").read_text())["proposer"]["builtin"]
    assert cfg["probe"] is True and cfg["novelty"] is True and cfg["elite_blocks"] == 2
    ops = [op for (op,) in rows(run, "SELECT operator FROM programs WHERE iteration > 0")]
    assert len(ops) >= 12 and "block_grow" in ops, ops
    bad = rows(run, "SELECT count(*) FROM programs WHERE status NOT IN ('ok', 'no_gain')")
    assert bad[0][0] <= 2  # a grown child may fail; the run goes on


def test_a_bad_value_is_one_line_and_exit_2(tmp_path: Path):
    proc = run_evolve("problem=smtt", "proposer.builtin.elite_blocks=-1",
                      f"run_dir={tmp_path / 'run'}", check=False, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "elite_blocks" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
