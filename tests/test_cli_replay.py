"""`evolve-replay`: a run's best program, RUN:ID and .py files in the sandbox, next to baselines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from evolve.archive import Archive, sqlite_url
from evolve.cli.replay import main
from evolve.result import evaluate_in_process
from tests.cli_archive_fixture import PROBLEM_CFG, build_run, code
from tests.problems.sorting import SortingProblem

REPO = Path(__file__).resolve().parents[1]
TRUST = ("--config-dir", "tests/conf")  # the fixture run's problem is defined outside the package


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("replay"))


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # tests/conf/problem/sorting.yaml names its class by relative path


def call(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_run_folder_replays_the_best_program_next_to_baselines(run, capsys):
    folder, ids = run
    rc, out, err = call(capsys, folder, *TRUST, "--baselines", "all")
    assert rc == 0, err
    test_set = SortingProblem(PROBLEM_CFG).instance_sets("test")[0]
    assert f"{test_set.name} ({test_set.size} instances)" in out
    for row in (f"program #{ids['diff']}", "argsort", "identity", "overall on the test split"):
        assert row in out


def test_program_id_json_matches_an_in_process_evaluation(run, capsys):
    folder, ids = run
    rc, out, err = call(capsys, f"{folder}:{ids['mut']}", *TRUST, "--json", "--split", "validation")
    assert rc == 0, err
    d = json.loads(out)
    assert d["problem"] == "sorting" and d["split"] == "validation"
    assert d["program"]["id"] == ids["mut"] and d["program"]["status"] == "ok"
    problem = SortingProblem(PROBLEM_CFG)
    ref = evaluate_in_process(problem, code("1.0 * x[i] + 0.1 * (i / n)"), "validation", jit=False)
    assert [s["name"] for s in d["sets"]] == [s["name"] for s in ref.sets]
    assert d["sets"][0]["n_instances"] == ref.sets[0]["n_instances"]
    assert (d["sets"][0]["metrics"]["inversions"]
            == pytest.approx(ref.sets[0]["metrics"]["inversions"]))
    assert set(d["baselines"]) == set(problem.default_baselines())
    base = {n: b["sets"][0]["metrics"]["inversions"] for n, b in d["baselines"].items()}
    assert base["argsort"] == 0.0 < d["sets"][0]["metrics"]["inversions"] < base["identity"]


def test_py_file_on_instance_files(tmp_path, capsys):
    rng = np.random.default_rng(7)
    paths = []
    for name, rows in (("small", 3), ("large", 5)):
        path = tmp_path / f"{name}.txt"
        np.savetxt(path, rng.random((rows, 9)))
        paths.append(path)
    prog = tmp_path / "perfect.py"
    prog.write_text(code("x[i]"))
    rc, out, err = call(capsys, prog, "--config-dir", "tests/conf", "--problem", "sorting",
                        "--instances", *paths, "--baselines", "identity", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["split"] is None and d["program"]["path"] == str(prog)
    assert [(s["name"], s["n_instances"]) for s in d["sets"]] == [("small", 3), ("large", 5)]
    assert all(s["metrics"]["inversions"] == 0.0 for s in d["sets"])
    assert list(d["baselines"]) == ["identity"]
    assert [s["name"] for s in d["baselines"]["identity"]["sets"]] == ["small", "large"]


def test_failing_program_prints_kind_and_exits_2(run, capsys):
    folder, ids = run
    rc, out, err = call(capsys, f"{folder}:{ids['crash']}", *TRUST, "--baselines", "none", "--json")
    assert rc == 2 and out == ""
    # one line for the failure, after the progress lines of a replay that ran a few seconds
    *progress, last = err.splitlines()
    assert last.startswith("runtime_error: ") and "ZeroDivisionError" in last
    assert all(line.startswith("evolve-replay: ") for line in progress), err


@pytest.mark.parametrize("argv, needle", [
    (["{tmp}/prog.py"], "--problem is required"),
    (["{tmp}/prog.py", "--problem", "nope"], "valid: "),
    (["{tmp}/prog.py", "--problem", "sorting", "--config-dir", "tests/conf", "--baselines",
      "x,argsort"],
     "unknown x for problem 'sorting' (valid: argsort, identity, all, none)"),
    (["{tmp}/prog.py", "--problem", "sorting", "--config-dir", "tests/conf", "--instances",
      "{tmp}/missing.txt"], "--instances {tmp}/missing.txt: no such file"),
    (["{tmp}/missing.py", "--problem", "sorting"], "no such file"),
    (["{tmp}/not_a_run"], "not a run folder"),
    (["{folder}:9999"], "no program with id 9999"),
    (["{tmp}/nothing_here"], "not a run folder, RUN:ID or .py file"),
    (["{tmp}/prog.py", "--problem", "sorting", "--config-dir", "tests/conf", "--instances",
      "{tmp}/binary.txt"], "--instances {tmp}/binary.txt: not a text file in sorting's format"),
    (["{tmp}/prog.py", "--problem", "sorting", "--config-dir", "tests/conf", "--instances",
      "{tmp}/words.txt"], "--instances {tmp}/words.txt: cannot load (ValueError: "),
    (["{tmp}/prog.py", "--problem", "sorting", "--config-dir", "tests/conf", "--instances",
      "{tmp}/not_a_run"], "--instances {tmp}/not_a_run: cannot load (IsADirectoryError: "),
    (["{tmp}/prog.py", "--problem", "sorting", "--config-dir", "{tmp}/noconf"],
     "--config-dir {tmp}/noconf: no such folder"),
    (["{folder}", "--config-dir", "tests/conf", "--timeout", "0"],
     "argument --timeout: '0' is not a positive number"),
    (["{folder}", "--timeout", "-3"], "argument --timeout: '-3' is not a positive number"),
    (["{folder}", "--timeout", "soon"], "argument --timeout: 'soon' is not a positive number"),
    (["{folder}", "--timeout", "nan"], "argument --timeout: 'nan' is not a positive number"),
    (["{folder}", "--split", "dev"], "argument --split: invalid choice: 'dev'"),
    (["{tmp}/broken_run"], "broken_run/config.yaml: cannot read ("),
    (["{tmp}/odd_run"], "odd_run: its stored 'problem' config is not a mapping"),
])
def test_bad_input_is_one_line_exit_2(run, tmp_path, capsys, argv, needle):
    folder, _ = run
    (tmp_path / "prog.py").write_text(code("x[i]"))
    (tmp_path / "not_a_run").mkdir()
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01" * 8)
    (tmp_path / "words.txt").write_text("one two\nthree four\n")
    broken = tmp_path / "broken_run"
    broken.mkdir()
    shutil.copy(folder / "archive.sqlite", broken / "archive.sqlite")
    (broken / "config.yaml").write_text("problem: [unclosed\n")
    archive = Archive(sqlite_url(broken / "archive.sqlite"))  # an archive without its config
    archive.update_run(1, config={})
    archive.close()
    odd = tmp_path / "odd_run"
    shutil.copytree(broken, odd)
    archive = Archive(sqlite_url(odd / "archive.sqlite"))
    archive.update_run(1, config={"problem": "evil.py:P"})
    archive.close()
    argv = [a.format(tmp=tmp_path, folder=folder) for a in argv]
    rc, out, err = call(capsys, *argv)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and needle.format(tmp=tmp_path) in err
    if "--problem" in argv and "nope" in argv:
        assert "smtt" in err  # the valid names are listed
