"""Selection by validation through the real commands: `evolve` (subprocess, sandboxed workers)
writes best.py from the validation-best; `evolve-archive top/export` and `evolve-replay` pick it;
an archive older than the validation tables still lists, and a resume upgrades it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from evolve.archive import sqlite_url
from evolve.migrations import alembic_config
from tests.engine_util import ROOT, SORTING, run_evolve
from tests.problems.sorting import SortingProblem
from tests.unit.test_validation import GENERALIST, overfit_program

COMMON = ("search.islands=1", "evaluator.workers=1", "progress=false")


def _cli(module: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def _top(folder: Path, *extra: str) -> tuple[list[dict], str]:
    proc = _cli("evolve.cli.archive", "top", str(folder), "--json", *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), proc.stderr


@pytest.fixture(scope="module")
def scripted_run(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """A real run: iteration 1 a coarse sort (fine everywhere), iteration 2 a program that
    recognises the training instances (perfect there, reversed on anything else)."""
    tmp = tmp_path_factory.mktemp("validation")
    problem = SortingProblem({"instances": 20, "n": 30})
    (tmp / "generalist.py").write_text(GENERALIST)
    (tmp / "overfit.py").write_text(overfit_program(problem))
    folder = tmp / "run"
    run_evolve(*SORTING, *COMMON, "proposer=scripted",
               f"proposer.programs=[{tmp / 'generalist.py'},{tmp / 'overfit.py'}]",
               "search.iterations=2", f"run_dir={folder}")
    rows, _ = _top(folder, "--by", "train")
    return folder, {r["operator"] or r["proposer"]: r["id"] for r in rows}


def test_best_on_train_but_worse_on_validation_is_not_best_py(scripted_run):
    folder, ids = scripted_run
    assert (folder / "best.py").read_text() == GENERALIST
    assert set(ids) == {"seed", "generalist.py", "overfit.py"}


def test_top_by_validation_and_by_train_order(scripted_run):
    folder, ids = scripted_run
    by_val, err = _top(folder)  # the default
    by_train, _ = _top(folder, "--by", "train")
    assert [r["id"] for r in by_val][:1] == [ids["generalist.py"]]
    assert [r["id"] for r in by_train][:1] == [ids["overfit.py"]]
    assert by_train[0]["score"] == 0.0 and by_val[0]["score"] < 0.0
    val = {r["id"]: r["val_score"] for r in by_train}
    assert val[ids["overfit.py"]] < val[ids["generalist.py"]]  # all three entered the top-5
    assert "validation" not in err  # no fallback note: the run has validation scores
    table = _cli("evolve.cli.archive", "top", str(folder))
    assert table.returncode == 0 and "val score" in table.stdout and "by validation" in table.stdout


def test_export_best_and_replay_use_the_validation_best(scripted_run, tmp_path):
    folder, ids = scripted_run
    out = tmp_path / "best_export.py"
    proc = _cli("evolve.cli.archive", "export", str(folder), "--best", "-o", str(out),
                "--config-dir", "tests/conf", "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["program_id"] == ids["generalist.py"] and d["val_score"] is not None
    assert out.read_text().endswith(GENERALIST) and "# Validation: ok" in out.read_text()
    proc = _cli("evolve.cli.replay", str(folder), "--config-dir", "tests/conf", "--json",
                "--split", "validation", "--baselines", "none")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["program"]["id"] == ids["generalist.py"]


def test_per_set_rows_of_train_and_validation(scripted_run):
    folder, ids = scripted_run
    proc = _cli("evolve.cli.archive", "show", str(folder), str(ids["generalist.py"]), "--json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert {(r["split"], r["set_name"]) for r in d["set_scores"]} == {
        ("train", "random_20x30_s1"), ("validation", "random_20x30_s2")}
    assert d["validation"]["score"] == pytest.approx(
        -next(r for r in d["set_scores"] if r["split"] == "validation")["metrics"]["inversions"])


def _downgrade(db: Path, revision: str) -> None:
    from alembic import command

    engine = create_engine(sqlite_url(db))
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), revision)
    engine.dispose()


def test_an_archive_older_than_the_tables_lists_then_upgrades_on_resume(tmp_path):
    folder = tmp_path / "old"
    run_evolve(*SORTING, *COMMON, "search.iterations=3", "search.validate_top_k=0",
               "proposer.builtin.tune.max_evals=4", f"run_dir={folder}")
    db = folder / "archive.sqlite"
    _downgrade(db, "0002_artifacts")  # as an archive written before this version
    assert "validations" not in inspect(create_engine(sqlite_url(db))).get_table_names()

    rows, err = _top(folder)  # a reader: lists by train, says so, changes nothing
    assert rows and rows[0]["val_score"] is None
    assert "no validation scores" in err and len(err.strip().splitlines()) == 1
    assert "validations" not in inspect(create_engine(sqlite_url(db))).get_table_names()
    proc = _cli("evolve.cli.archive", "show", str(folder), str(rows[0]["id"]), "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["set_scores"] == []

    run_evolve(*SORTING[:2], f"resume={folder}", "search.iterations=4",
               "search.validate_top_k=2")
    by_val, err = _top(folder)
    assert "no validation scores" not in err
    by_train, _ = _top(folder, "--by", "train")
    assert all(r["val_score"] is not None for r in by_val)
    assert by_train[0]["id"] in {r["id"] for r in by_val}  # the train best entered the top-2
    shown = _cli("evolve.cli.archive", "show", str(folder), str(by_val[0]["id"]), "--json")
    assert (folder / "best.py").read_text() == json.loads(shown.stdout)["code"]
