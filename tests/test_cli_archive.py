"""`evolve-archive` on a small real archive (programs evaluated for real, recorded via Archive)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from evolve.archive import Archive, Program, sqlite_url
from tests.cli_archive_fixture import as_json, build_run, call

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    folder, ids = build_run(root)
    return root, folder, ids


def test_runs_lists_every_run_and_reports_broken_folders(tmp_path, capsys):
    first, ids = build_run(tmp_path, "2026-01-01_00-00-00")
    build_run(tmp_path, "2026-01-02_00-00-00")
    broken = tmp_path / "runs" / "sorting" / "broken"
    broken.mkdir()
    (broken / "archive.sqlite").write_bytes(b"this is not a database" * 100)
    rows = as_json(capsys, "runs", tmp_path / "runs")
    good = [r for r in rows if "error" not in r]
    assert [r["folder"] for r in good] == sorted(r["folder"] for r in good)
    assert len(good) == 2  # `latest` is a symlink and is not listed twice
    row = next(r for r in good if r["folder"] == str(first))
    assert row["problem"] == "sorting" and row["status"] == "finished"
    assert row["best_id"] == ids["diff"]  # key = x[i] sorts perfectly
    assert row["failures"] == 3 and row["iterations"] == max(ids.values()) - 1
    assert row["cost_usd"] == pytest.approx(0.001 * (2 + 3 + 6))
    assert [r["folder"] for r in rows if "error" in r] == [str(broken)]
    rc, out, _ = call(capsys, "runs", tmp_path / "runs")
    assert rc == 0 and "2026-01-02_00-00-00" in out and "finished" in out


def test_top_orders_by_score_and_skips_duplicates(run, capsys):
    _, folder, ids = run
    rows = as_json(capsys, "top", folder, "-k", "3")
    assert [r["id"] for r in rows] == [ids["diff"], ids["mut"], ids["cross"]]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[0]["metrics"]["inversions"] == 0.0 and rows[0]["parent_id"] == ids["mut"]
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    everything = as_json(capsys, "top", folder, "-k", "50", "--all")
    assert {ids["dup"], ids["migration"]} <= {r["id"] for r in everything}
    assert all(r["status"] == "ok" for r in everything)
    rc, out, _ = call(capsys, "top", folder.parent, "-k", "2")  # runs/sorting -> latest
    assert rc == 0 and "llm_diff" in out and "inversions" in out and "crossover" not in out


def test_show_gives_failure_prompt_and_reply(run, capsys):
    _, folder, ids = run
    d = as_json(capsys, "show", folder, ids["crash"])
    assert d["status"] == "runtime_error" and "ZeroDivisionError" in d["error"]
    assert d["parent_id"] == ids["diff"] and d["edges"] == [{"parent_id": ids["diff"],
                                                             "role": "parent"}]
    assert len(d["calls"]) == 1 and d["calls"][0]["mode"] == "rewrite"
    assert d["calls"][0]["prompt"][1]["role"] == "user" and d["code"] in d["calls"][0]["reply"]
    rc, out, _ = call(capsys, "show", folder, ids["crash"])
    assert rc == 0
    assert "float(x[i]) / (i - i)" in out and "runtime_error" in out
    assert f"Improve [program #{ids['diff']}]" in out  # brackets are text, not rich markup
    d = as_json(capsys, "show", folder, ids["dup"])
    assert d["duplicate_of"] == ids["diff"]


def test_lineage_chain_deltas_and_diffs(run, capsys):
    _, folder, ids = run
    d = as_json(capsys, "lineage", folder, ids["dup"])
    chain = d["chain"]
    assert [s["id"] for s in chain] == [ids["seed"], ids["mut"], ids["diff"], ids["dup"]]
    assert chain[0]["delta"] is None and chain[0]["diff"] is None
    for prev, step in pairwise(chain):
        assert step["delta"] == pytest.approx(step["score"] - prev["score"])
    assert "+        key[i] = x[i]" in chain[2]["diff"]
    assert "-        key[i] = 1.0 * x[i] + 0.1 * (i / n)" in chain[2]["diff"]
    short = as_json(capsys, "lineage", folder, ids["short"])["chain"]
    cross = next(s for s in short if s["id"] == ids["cross"])
    assert cross["mates"] == [ids["diff"]] and short[-1]["status"] == "invalid_output"
    rc, out, _ = call(capsys, "lineage", folder, ids["dup"])
    assert rc == 0 and "# same program" in out


def test_stats_per_proposer_model_operator(run, capsys):
    _, folder, ids = run
    d = as_json(capsys, "stats", folder)
    tot = d["total"]
    assert tot["programs"] == len(ids) and tot["seeds"] == 1 and tot["migrations"] == 1
    assert tot["children"] == len(ids) - 2
    assert tot["failures"] == {"runtime_error": 1, "syntax_error": 1, "invalid_output": 1}
    by = {r["name"]: r for r in d["by_proposer"]}
    assert by["mutation"]["children"] == 2 and by["mutation"]["duplicates"] == 1
    assert by["mutation"]["improvements"] == 1 and by["mutation"]["success_rate"] == 1.0
    assert by["llm_fix"]["failures"] == {"syntax_error": 1} and by["llm_fix"]["success_rate"] == 0
    calls = Archive.open_folder(folder).calls(1)
    model = {r["name"]: r for r in d["by_model"]}["tiny-model"]
    assert model["tokens"] == sum(c.prompt_tokens + c.completion_tokens for c in calls)
    assert model["children"] == 3 and model["llm_calls"] == 3
    ops = {r["name"] for r in d["by_operator"]}
    assert {"scale_const", "block_swap", "swap_args", "constants"} <= ops
    rc, out, _ = call(capsys, "stats", folder)
    assert rc == 0 and "by proposer" in out and "syntax_error 1" in out


def test_plot_writes_png(run, capsys, tmp_path):
    _, folder, ids = run
    d = as_json(capsys, "plot", folder, "-o", tmp_path / "p.png")
    png = (tmp_path / "p.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert d["best_id"] == ids["diff"] and d["failures"]["syntax_error"] == 1


def test_export_is_a_standalone_module(run, capsys, tmp_path, monkeypatch):
    _, folder, ids = run
    monkeypatch.chdir(REPO)  # tests/conf/problem/sorting.yaml names its class by relative path
    out = tmp_path / "best.py"
    d = as_json(capsys, "export", folder, "--best", "-o", out, "--config-dir", "tests/conf")
    assert d["program_id"] == ids["diff"] and d["warnings"] == []
    text = out.read_text()
    assert text.startswith("# Exported by evolve-archive") and f"Program #{ids['diff']}" in text
    # import it with the engine made unimportable, and use the entry
    probe = (
        "import sys, importlib.util, numpy as np\n"
        "sys.modules['evolve'] = None\n"
        f"spec = importlib.util.spec_from_file_location('exported', {str(out)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "x = np.random.default_rng(0).random(50)\n"
        "print(bool(np.all(np.diff(x[m.solve(x)]) >= 0)))\n"
    )
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "True"
    rc, _, err = call(capsys, "export", folder, "--id", ids["broken"], "-o", tmp_path / "b.py",
                      "--config-dir", "tests/conf")
    assert rc == 0 and "syntax_error" in err  # exported on request, with a warning


@pytest.mark.parametrize("argv, needle", [
    (["top", "{root}/nowhere"], "no such run folder"),
    (["top", "{root}"], "not a run folder"),
    (["show", "{folder}", "9999"], "no program with id 9999"),
    (["lineage", "{folder}", "abc"], "not an integer"),
    (["export", "{folder}", "--id", "9999", "-o", "{root}/x.py"], "no program with id 9999"),
    (["runs", "{root}/nowhere"], "no such folder"),
    (["top", "{folder}", "-k", "0"], "argument -k: '0' is not a positive integer"),
    (["top", "{folder}", "-k", "many"], "argument -k: 'many' is not a positive integer"),
    (["export", "{folder}", "-o", "{root}/x.py", "--config-dir", "{root}/noconf"],
     "--config-dir {root}/noconf: no such folder"),
])
def test_unknown_run_or_id_is_one_line_exit_2(run, capsys, argv, needle):
    root, folder, _ = run
    argv = [a.format(root=root, folder=folder) for a in argv]
    rc, out, err = call(capsys, *argv, "--json")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and needle.format(root=root) in err


def test_reads_while_a_writer_holds_the_lock(run, capsys, tmp_path):
    _, folder, ids = run
    copy = tmp_path / "copied"  # also: a folder moved to another path (another machine)
    shutil.copytree(folder, copy)
    writer = sqlite3.connect(copy / "archive.sqlite")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE programs SET score = 99 WHERE id = ?", (ids["seed"],))
    rows = as_json(capsys, "top", copy, "-k", "1")  # uncommitted write: not visible, no block
    assert rows[0]["id"] == ids["diff"]
    writer.commit()
    writer.close()
    assert as_json(capsys, "top", copy, "-k", "1")[0]["id"] == ids["seed"]


def test_archive_url_and_several_runs_in_one_database(run, capsys, tmp_path):
    _, folder, ids = run
    db = tmp_path / "shared.sqlite"
    shutil.copy(folder / "archive.sqlite", db)
    other = tmp_path / "other_run"
    other.mkdir()
    archive = Archive(sqlite_url(db))
    second = archive.create_run("sorting", str(other), {}, seed=1)
    archive.record(Program(run_id=second.id, iteration=0, code="x = 1\n", proposer="seed",
                           status="ok", score=5.0, metrics={}))
    archive.close()
    (other / "archive_url").write_text(sqlite_url(db))
    rows = as_json(capsys, "top", other)
    assert [r["score"] for r in rows] == [5.0]  # the run stored for this folder, not run 1
    moved = tmp_path / "elsewhere" / folder.name  # run 1's folder on another machine
    moved.mkdir(parents=True)
    (moved / "archive_url").write_text(sqlite_url(db) + "\n")
    assert as_json(capsys, "top", moved, "-k", "1")[0]["id"] == ids["diff"]
    unknown = tmp_path / "unknown"
    unknown.mkdir()
    (unknown / "archive_url").write_text(sqlite_url(db))
    assert as_json(capsys, "top", unknown)[0]["score"] == 5.0  # no match: the newest run
    (unknown / "run.json").write_text(json.dumps({"run_id": 1}))  # what `evolve` writes
    assert as_json(capsys, "top", unknown, "-k", "1")[0]["id"] == ids["diff"]


def test_top_status_lists_failures_with_their_first_error_line(run, capsys):
    _, folder, ids = run
    failed = as_json(capsys, "top", folder, "--status", "failed")
    assert [r["id"] for r in failed] == [ids["crash"], ids["broken"], ids["short"]]
    assert [r["outcome"] for r in failed] == ["runtime_error", "syntax_error", "invalid_output"]
    assert all(r["error_line"] and "\n" not in r["error_line"] for r in failed)
    assert "ZeroDivisionError" in failed[0]["error_line"]
    everything = as_json(capsys, "top", folder, "--status", "all", "-k", "50")
    ok = [r for r in everything if r["outcome"] == "ok"]
    assert [r["id"] for r in everything[len(ok):]] == [r["id"] for r in failed]  # ok first
    assert [r["score"] for r in ok] == sorted((r["score"] for r in ok), reverse=True)
    assert ids["dup"] not in {r["id"] for r in everything}  # duplicates only with --all
    assert [r["id"] for r in as_json(capsys, "top", folder, "--status", "failed", "-k", "1")] \
        == [ids["crash"]]
    rc, out, _ = call(capsys, "top", folder, "--status", "failed")
    assert rc == 0 and "runtime_error" in out and "ZeroDivisionError" in out
    rc, _, err = call(capsys, "top", folder, "--status", "broken")
    assert rc == 2 and "argument --status: invalid choice: 'broken'" in err


def test_no_gain_is_neither_a_failure_nor_a_program(tmp_path, capsys):
    folder, ids = build_run(tmp_path)
    archive = Archive(sqlite_url(folder / "archive.sqlite"))
    parent = archive.program(ids["cross"])
    assert parent is not None
    common = dict(run_id=1, island=0, parent_id=parent.id, code=parent.code, proposer="tune",
                  operator="cmaes")
    archive.record(Program(iteration=20, status="no_gain", error="constant tuning found no "
                           "improvement: 64 evaluations", **common))
    # the same outcome as archives written before `no_gain` existed stored it
    archive.record(Program(iteration=21, status="diff_failed", error="constant tuning found no "
                           "improvement: 12 evaluations", **common))
    archive.record(Program(iteration=22, status="diff_failed", error="the grown program fails",
                           **common))  # a real failure of the tuner
    archive.close()
    d = as_json(capsys, "stats", folder)
    assert d["total"]["no_gain"] == 2 and d["total"]["programs"] == len(ids) + 1
    assert d["total"]["failures"] == {"runtime_error": 1, "syntax_error": 1,
                                      "invalid_output": 1, "diff_failed": 1}
    tune = {r["name"]: r for r in d["by_proposer"]}["tune"]
    assert tune["no_gain"] == 2 and tune["children"] == 2  # `short` and the failed growth
    assert tune["failures"] == {"invalid_output": 1, "diff_failed": 1}
    (row,) = as_json(capsys, "runs", folder.parent)
    # runs counts programs without duplicates: 9 rows - the duplicate + the failed growth
    assert row["failures"] == 4 and row["no_gain"] == 2 and row["programs"] == len(ids)
    failed = as_json(capsys, "top", folder, "--status", "failed", "-k", "50")
    assert [r["error_line"] for r in failed][-1] == "the grown program fails"
    gains = as_json(capsys, "top", folder, "--status", "no_gain")
    assert [r["iteration"] for r in gains] == [20, 21] and {r["outcome"] for r in gains} == {
        "no_gain"}
    assert 20 not in {r["iteration"] for r in as_json(capsys, "top", folder, "--status", "all",
                                                      "-k", "50")}
    plotted = as_json(capsys, "plot", folder, "-o", tmp_path / "p.png")
    assert "no_gain" not in plotted["failures"] and plotted["failures"]["diff_failed"] == 1
    rc, out, _ = call(capsys, "stats", folder)
    assert rc == 0 and "2 tuning steps without gain" in out and "no gain" in out
