"""A crafted run folder cannot make the CLIs import its code, weaken the sandbox or open a
database unseen: only registered problems (built-in, or under a --config-dir) are imported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from evolve.archive import Archive, Program, sqlite_url
from evolve.cli import archive as archive_cli
from evolve.cli import replay as replay_cli
from evolve.trust import (
    UntrustedInput,
    UntrustedTarget,
    folder_archive_url,
    trusted_limits,
    trusted_problem_cfg,
)
from tests.cli_archive_fixture import build_run, code

REPO = Path(__file__).resolve().parents[1]
EVIL = """from pathlib import Path
Path(__file__).with_name("MARKER").write_text("imported")  # a shell, in real life
from tests.problems.sorting import SortingProblem as P
"""


def craft(root: Path, name: str = "sorting", relative: bool = False) -> Path:
    """A run folder whose config names evil.py (next to it) as the problem class."""
    folder = root / "runs" / name / "crafted"
    folder.mkdir(parents=True)
    (folder / "evil.py").write_text(EVIL)
    target = "evil.py:P" if relative else f"{folder / 'evil.py'}:P"
    config = {"problem": {"name": name, "target": target, "instances": 4, "n": 6},
              "evaluator": {"timeout_s": 30}}
    OmegaConf.save(OmegaConf.create(config), folder / "config.yaml")
    archive = Archive(sqlite_url(folder / "archive.sqlite"))
    run = archive.create_run(name, str(folder), config, seed=0)
    archive.record(Program(run_id=run.id, iteration=0, code=code("x[i]"), proposer="seed",
                           status="ok", score=0.0, metrics={"inversions": 0.0}))
    archive.close()
    return folder


def call(capsys, main, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # tests/conf/problem/sorting.yaml names its class by relative path


@pytest.mark.parametrize("name, relative", [("sorting", False), ("smtt", False), ("sorting", True)])
@pytest.mark.parametrize("argv", [
    (replay_cli.main, "{folder}"),
    (replay_cli.main, "{folder}:1", "--baselines", "none"),
    (replay_cli.main, "{folder}", "--config-dir", f"{REPO}/tests/conf"),  # one without evil.py
    (archive_cli.main, "export", "{folder}", "--best", "-o", "{tmp}/out.py"),
    (archive_cli.main, "export", "{folder}", "--id", "1", "-o", "{tmp}/out.py", "--json"),
])
def test_crafted_folder_is_refused_without_importing(tmp_path, capsys, monkeypatch, name,
                                                     relative, argv):
    folder = craft(tmp_path, name, relative)
    if relative:
        monkeypatch.chdir(folder)  # where a relative target would be looked up
    main, *args = argv
    rc, out, err = call(capsys, main, *(a.format(folder=folder, tmp=tmp_path) for a in args))
    assert not (folder / "MARKER").exists()
    assert rc == 2 and out == "" and err.count("\n") == 1
    target = "evil.py:P" if relative else f"{folder / 'evil.py'}:P"
    assert (f"run folder {folder} names problem target {target!r}, which is not a registered "
            f"problem; pass --config-dir <dir with its config> to trust it") in err
    assert not (tmp_path / "out.py").exists()  # export wrote nothing


@pytest.mark.parametrize("argv", [("top", "{folder}"), ("show", "{folder}", "1"),
                                  ("lineage", "{folder}", "1"), ("stats", "{folder}"),
                                  ("runs", "{root}")])
def test_inspecting_a_crafted_folder_imports_nothing(tmp_path, capsys, argv):
    """Reading the archive needs no problem code, so a suspicious folder can still be looked at
    (decision: these commands succeed rather than refuse)."""
    folder = craft(tmp_path)
    rc, out, err = call(capsys, archive_cli.main,
                        *(a.format(folder=folder, root=tmp_path) for a in argv), "--json")
    assert rc == 0, err
    assert json.loads(out)
    assert not (folder / "MARKER").exists()


def test_naming_the_problem_replaces_the_folders_target(tmp_path, capsys):
    folder = craft(tmp_path)
    rc, out, err = call(capsys, replay_cli.main, folder, "--problem", "sorting",
                        "--config-dir", "tests/conf", "--baselines", "none", "--json")
    assert rc == 0, err
    assert json.loads(out)["sets"][0]["metrics"]["inversions"] == 0.0
    assert not (folder / "MARKER").exists()


def test_config_dir_trusts_exactly_the_problems_it_configures(tmp_path, capsys):
    outside, _ = build_run(tmp_path)  # the sorting problem: defined outside the package
    rc, _, err = call(capsys, replay_cli.main, outside, "--baselines", "none")
    assert rc == 2 and "which is not a registered problem" in err
    rc, out, err = call(capsys, replay_cli.main, outside, "--config-dir", "tests/conf",
                        "--baselines", "none", "--json")
    assert rc == 0, err
    assert json.loads(out)["program"]["status"] == "ok"
    # a config dir that does configure evil.py: the user asked for it, so it is imported
    folder = craft(tmp_path / "b")
    conf = tmp_path / "conf" / "problem"
    conf.mkdir(parents=True)
    (conf / "evil.yaml").write_text(f"name: evil\ntarget: {folder / 'evil.py'}:P\n")
    rc, out, err = call(capsys, replay_cli.main, folder, "--config-dir", conf.parent,
                        "--baselines", "none", "--json")
    assert rc == 0, err
    assert (folder / "MARKER").exists()


def test_trusted_problem_cfg_keeps_values_and_pins_the_registered_target():
    stock = trusted_problem_cfg({"name": "smtt", "target": "evolve.problems.smtt:SmttProblem",
                                 "gate_instances": 3}, [], source="r")
    assert stock == {"name": "smtt", "target": "evolve.problems.smtt:SmttProblem",
                     "gate_instances": 3}
    outside = trusted_problem_cfg({"name": "sorting", "n": 5,
                                   "target": "tests/problems/sorting.py:SortingProblem"},
                                  ["tests/conf"])
    assert outside == {"name": "sorting", "n": 5,
                       "target": f"{REPO / 'tests/problems/sorting.py'}:SortingProblem"}
    for bad in ({"name": "smtt", "target": "os:system"}, {"name": "smtt"},
                {"name": "sorting", "target": "tests/problems/sorting.py:SortingProblem"}):
        with pytest.raises(UntrustedTarget, match="not a registered problem"):
            trusted_problem_cfg(bad, [], source="r")


def test_a_folder_sets_limits_never_isolation():
    cfg = {"timeout_s": 5, "memory_mb": 512, "isolate_network": False, "drop_privileges": False,
           "hide": [], "workers": 9}
    assert trusted_limits(cfg) == {"timeout_s": 5.0, "memory_mb": 512}
    for key, value in (("memory_mb", -1), ("timeout_s", "nan"), ("max_output_kb", True)):
        with pytest.raises(UntrustedInput, match=f"evaluator.{key}="):
            trusted_limits({key: value}, source="r")


def test_replay_refuses_a_folders_bad_limit(tmp_path, capsys):
    folder, _ = build_run(tmp_path)
    cfg = OmegaConf.load(folder / "config.yaml")
    cfg.evaluator.memory_mb = -5
    OmegaConf.save(cfg, folder / "config.yaml")
    Archive(sqlite_url(folder / "archive.sqlite")).update_run(
        1, config=OmegaConf.to_container(cfg))
    rc, _out, err = call(capsys, replay_cli.main, folder, "--config-dir", "tests/conf")
    assert rc == 2 and err.count("\n") == 1 and "evaluator.memory_mb=-5" in err


def test_archive_url_is_named_and_cannot_create_files(tmp_path, capsys):
    folder, ids = build_run(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "archive_url").write_text(sqlite_url(folder / "archive.sqlite"))
    rc, out, err = call(capsys, archive_cli.main, "top", other, "--json")
    assert rc == 0 and json.loads(out)[0]["id"] == ids["diff"]
    assert f"note: {other}/archive_url: reading the archive at sqlite:///" in err
    missing = tmp_path / "nowhere" / "made.sqlite"
    (other / "archive_url").write_text(sqlite_url(missing))
    rc, out, err = call(capsys, archive_cli.main, "top", other)
    assert rc == 2 and "does not exist" in err and not missing.exists()
    (other / "archive_url").write_text("postgresql://me:hunter2@127.0.0.1:1/db")
    rc, out, err = call(capsys, archive_cli.main, "top", other)
    assert rc == 2 and "hunter2" not in err and "postgresql://me:***@127.0.0.1:1/db" in err
    (other / "archive_url").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(UntrustedInput, match="archive_url: cannot read"):
        folder_archive_url(other)


@pytest.mark.parametrize("name", ["sorting", "smtt"])
def test_resuming_a_crafted_folder_imports_nothing(tmp_path, capsys, name):
    """`evolve resume=` reads the folder's config too: the same rule, before any import."""
    from evolve import app

    folder = craft(tmp_path, name)
    (folder / "run.json").write_text(json.dumps({"run_id": 1, "url": "x"}))
    cfg = OmegaConf.load(folder / "config.yaml")
    cfg.evaluator.isolate_network = False  # a folder cannot switch isolation off either
    OmegaConf.save(cfg, folder / "config.yaml")
    rc, _out, err = call(capsys, app.main, f"resume={folder}")
    assert rc == 2 and "not a registered problem" in err and err.count("\n") == 1
    assert not (folder / "MARKER").exists()
    rc, _out, err = call(capsys, app.main, "--config-dir", f"{REPO}/tests/conf", f"resume={folder}",
                        "--show")
    assert rc == 2 and not (folder / "MARKER").exists()  # tests/conf does not configure evil.py
