"""`evolve` on Hydra's own command line: help, --cfg, completion, run folders, one-line errors.

Real processes: the `evolve` module (and the installed `evolve` script for completion), real Hydra;
the error cases and Hydra's print-and-exit flags run app.main in process, some of them also as
processes (an interpreter start-up costs more CPU than the check).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evolve import app
from tests.engine_util import ROOT, SORTING, rows, run_evolve

TINY = [*SORTING, "proposer=builtin", "search.iterations=2", "evaluator.workers=1",
        "progress=false"]
SCRIPT = Path(sys.executable).parent / "evolve"  # the installed entry point


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("evolve: error: ") and "Traceback" not in proc.stdout
    return lines[0]


@pytest.mark.parametrize("order", ["help_first", "config_dir_first"])
def test_help_lists_groups_with_the_users_config_dir_in_any_order(order):
    conf = str(ROOT / "tests" / "conf")
    args = ["--help", "--config-dir", conf] if order == "help_first" else \
        ["--config-dir", conf, "--help"]
    out = run_evolve(*args, timeout=120).stdout
    problems = next(line for line in out.splitlines() if line.startswith("problem: "))
    assert "sorting" in problems and "smtt" in problems
    assert "proposer: " in out and "-m" in out and "hydra.run.dir" in out


def _printed(capsys, *argv: str) -> str:
    """app.main in process (real Hydra): what a print-and-exit flag writes on stdout."""
    capsys.readouterr()
    rc = app.main(list(argv))
    out, err = capsys.readouterr()
    assert rc == 0, err
    return out


def test_cfg_job_show_and_package(capsys):
    # one real process (--show, the flag `evolve` adds to Hydra's); the rest of Hydra's
    # print-and-exit flags in process, where they take no interpreter start-up each
    shown = run_evolve(*SORTING, "--show", "search.iterations=7", timeout=120).stdout
    assert "iterations: 7" in shown and "name: sorting" in shown
    assert "${" not in shown  # --show is --cfg job --resolve
    out = _printed(capsys, *SORTING, "search.iterations=7", "--cfg", "job")
    assert "iterations: 7" in out and "name: sorting" in out and "hydra:" not in out
    search = _printed(capsys, "--cfg", "job", "-p", "search")
    assert "iterations:" in search and "problem:" not in search
    hydra = _printed(capsys, "--cfg", "hydra")
    assert "chdir: false" in hydra and "runs/multirun/" in hydra


def test_info_and_hydra_help(capsys):
    # --info writes through Hydra's logger, which an earlier in-process run has configured: a
    # real process, where it is the first thing Hydra does
    assert "Defaults List" in run_evolve("--info", "defaults", timeout=120).stdout
    assert "Hydra (" in _printed(capsys, "--hydra-help")


def test_shell_completion_installs_and_completes_problem_names():
    assert SCRIPT.exists(), "install the package (make install)"
    install = subprocess.run([str(SCRIPT), "-sc", "install=bash"], capture_output=True,
                             text=True, timeout=120, cwd=ROOT)
    assert install.returncode == 0, install.stderr
    assert "complete -o nospace -o default -F hydra_bash_completion evolve" in install.stdout
    env = dict(os.environ, COMP_LINE="evolve problem=", COMP_POINT="15")
    query = subprocess.run([str(SCRIPT), "-sc", "query=bash"], capture_output=True, text=True,
                           timeout=120, cwd=ROOT, env=env)
    assert query.returncode == 0, query.stderr
    assert {"problem=smtt", "problem=spot_single"} <= set(query.stdout.split())


@pytest.mark.parametrize("args, needle", [
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["search.seed=0,1"], "To sweep over it, add --multirun"),
    (["-m", "hydra/launcher=nope"], "unknown hydra/launcher 'nope' (valid hydra/launcher "
                                    "choices: basic, joblib, ray"),
    (["-m", "search.seed=0,1,2,3,-4"], "job #4 (search.seed=-4): search.seed=-4: must be >= 0"),
    (["-m", "problem.seed_program=keyed,nope", "search.seed=0,1"],
     "job #2 (problem.seed_program=nope search.seed=0): problem.seed_program='nope'"),
    (["-m", "search.iteratons=1,2"], "unknown config key 'search.iteratons'"),
    (["-m", "resume=runs/smtt"], "cannot be combined with --multirun"),
])
def test_errors_are_one_line_and_a_bad_sweep_job_starts_nothing(tmp_path, args, needle, capsys):
    # app.main in process (real Hydra, real launcher plugins): the message, exit 2 and that nothing
    # starts; test_an_error_from_a_real_process_is_its_only_output runs two of them as processes.
    sweep = tmp_path / "sweep"
    rc = app.main([*TINY, *args, f"hydra.sweep.dir={sweep}", f"hydra.run.dir={tmp_path / 'r'}"])
    out, err = capsys.readouterr()
    assert needle in _one_error_line(subprocess.CompletedProcess([], rc, out, err))
    assert list(tmp_path.iterdir()) == []  # no sweep folder, no job folder, no run folder


@pytest.mark.parametrize("args, needle", [
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["-m", "search.seed=0,1,2,3,-4"], "job #4 (search.seed=-4): search.seed=-4: must be >= 0"),
])
def test_an_error_from_a_real_process_is_its_only_output(tmp_path, args, needle):
    sweep = tmp_path / "sweep"
    proc = run_evolve(*TINY, *args, f"hydra.sweep.dir={sweep}", f"hydra.run.dir={tmp_path / 'r'}",
                      check=False, timeout=120)
    assert needle in _one_error_line(proc)
    assert list(tmp_path.iterdir()) == []


def test_default_run_folder_then_resume_by_latest_and_refusal(tmp_path):
    """Without hydra.run.dir the run goes to runs/<problem.name>/<timestamp> under the user's
    folder (the engine keeps reading relative paths from there: hydra.job.chdir is false); a used
    folder is refused, and resume=<problem folder> continues the run `latest` points at.
    (One run for both: this was two tests with a run each.)"""
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    proc = subprocess.run([sys.executable, "-m", "evolve.app", *TINY], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    runs = [p for p in (tmp_path / "runs" / "sorting").iterdir() if p.name != "latest"]
    assert len(runs) == 1 and len(runs[0].name) == len("2026-11-30_10-00-00")
    folder = runs[0]
    assert f"run folder: runs/sorting/{folder.name}" in proc.stdout
    assert {"archive.sqlite", "config.yaml", "run.json", "run.log", ".hydra"} <= \
        {p.name for p in folder.iterdir()}
    assert not (folder / "evolve.log").exists()  # no Hydra job log beside run.log
    assert (folder.parent / "latest").resolve() == folder.resolve()
    assert rows(folder, "select status from runs") == [("finished",)]
    # a used folder is refused before Hydra writes into it (both spellings)
    for key in ("hydra.run.dir", "run_dir"):
        line = _one_error_line(run_evolve(*TINY, f"{key}={folder}", check=False, timeout=120))
        assert line.startswith(f"evolve: error: {key}={folder}: a run folder; use resume=")
    # resume=<problem folder> continues the run `latest` points at, in its own folder
    run_evolve(*SORTING[:2], f"resume={folder.parent}", "search.iterations=4", "progress=false",
               timeout=300)
    assert rows(folder, "select max(iteration) from programs") == [(4,)]
    assert sorted(p.name for p in folder.parent.iterdir()) == sorted([folder.name, "latest"])
    line = _one_error_line(run_evolve(*SORTING[:2], f"resume={folder}", "hydra.run.dir=x",
                                      check=False, timeout=120))
    assert "continues in its own folder" in line
