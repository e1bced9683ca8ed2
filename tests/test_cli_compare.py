"""`evolve-archive compare` on real runs: four `evolve` processes on the toy sorting problem
(two values of search.exploration x two seeds), held-out metrics evaluated in the sandbox."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

import pytest

from tests.cli_archive_fixture import as_json as archive_json
from tests.cli_archive_fixture import call as archive_call
from tests.engine_util import ROOT, SORTING, evolve_cmd, rows

ITERATIONS = 4
CONF = ["--config-dir", str(ROOT / "tests" / "conf")]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """runs/<exploration>/seed<k>: run folders two levels below the folder given to compare."""
    root = tmp_path_factory.mktemp("compare") / "sweep"
    procs = []
    for explore in ("0.0", "1.0"):
        for seed in (0, 1):
            folder = root / f"explore{explore}" / f"seed{seed}"
            cmd = evolve_cmd(*SORTING, "proposer=builtin", f"search.iterations={ITERATIONS}",
                             f"search.seed={seed}", f"search.exploration={explore}",
                             "evaluator.workers=1", f"run_dir={folder}", "progress=false")
            procs.append(subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
    for p in procs:
        out, _ = p.communicate(timeout=900)
        assert p.returncode == 0, out
    return root


def call(capsys, *argv):
    return archive_call(capsys, *argv, command=("compare",))


def as_json(capsys, *argv):
    return archive_json(capsys, *argv, command=("compare",))


def _metric(d, name):
    return next(m for m in d["metrics"] if m["name"] == name)


def _check_stats(d):
    for m in d["metrics"]:
        for g in m["groups"]:
            if g["n"] >= 2:
                assert g["ci_low"] <= g["mean"] <= g["ci_high"], m["name"]
                assert g["min"] <= g["mean"] <= g["max"]
        p = m["test"]["p"]
        assert p is None or 0.0 <= p <= 1.0


def test_groups_by_the_differing_key_with_cis_and_p_values(sweep, capsys):
    d = as_json(capsys, sweep, "--split", "none")
    assert d["problem"] == "sorting" and d["split"] is None
    assert d["group_keys"] == ["search.exploration"]  # the seed and run_dir differ too: ignored
    assert [(g["name"], g["n"]) for g in d["groups"]] == [("search.exploration=0.0", 2),
                                                         ("search.exploration=1.0", 2)]
    assert len(d["runs"]) == 4
    for r in d["runs"]:  # each run's best, as its archive holds it
        (best,) = rows(sweep / r["group"].replace("search.exploration=", "explore")
                       / f"seed{r['seed']}",
                       "SELECT max(score) FROM programs WHERE status = 'ok'")[0]
        assert r["best_score"] == pytest.approx(best)
        assert r["reached"] is not None  # the default threshold: the lowest final best
    assert d["threshold"] == min(r["best_score"] for r in d["runs"])
    assert d["threshold_source"].startswith("lowest final best")
    best = _metric(d, "best train score")
    assert best["test"]["test"] == "mann-whitney-u"
    assert sorted(v for g in best["groups"] for v in g["values"]) == sorted(
        r["best_score"] for r in d["runs"])
    steps = [m for m in d["metrics"] if m["kind"] == "threshold"]
    assert [m["name"].split(" to ")[0] for m in steps] == ["iterations", "evaluations"]
    assert all(g["missing"] == 0 for m in steps for g in m["groups"])
    assert not any(m["kind"] == "heldout" for m in d["metrics"])
    _check_stats(d)
    assert as_json(capsys, sweep, "--split", "none") == d  # seeded bootstrap: same numbers

    # an unreachable threshold: every run counts as never reaching it
    d = as_json(capsys, sweep, "--split", "none", "--threshold", "1")
    its = _metric(d, "iterations to 1")
    assert [(g["n"], g["missing"]) for g in its["groups"]] == [(0, 2), (0, 2)]
    assert its["test"]["p"] is None and all(r["reached"] is None for r in d["runs"])
    # --by forces the grouping, here by the seed that is ignored otherwise
    d = as_json(capsys, sweep, "--split", "none", "--by", "search.seed")
    assert [(g["name"], g["n"]) for g in d["groups"]] == [("search.seed=0", 2),
                                                         ("search.seed=1", 2)]
    rc, out, _ = call(capsys, sweep, "--split", "none", "--threshold", "1")
    assert rc == 0 and "never reached" in out and "Mann-Whitney U" in out
    assert "search.exploration" in out and "summary" in out


def test_heldout_metrics_are_evaluated_once_and_cached(sweep, capsys, tmp_path):
    # copies: one with the heldout table dropped, like an archive written before it existed
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(sweep / "explore0.0" / "seed0", a)
    shutil.copytree(sweep / "explore1.0" / "seed0", b)
    con = sqlite3.connect(a / "archive.sqlite")
    con.execute("DROP TABLE heldout")
    con.commit()
    con.close()
    schema = "SELECT name, sql FROM sqlite_master WHERE name NOT LIKE '%heldout%' ORDER BY name"
    before = rows(a, schema)
    first = as_json(capsys, a, b, *CONF)
    assert [r["heldout"]["source"] for r in first["runs"]] == ["evaluated", "evaluated"]
    assert rows(a, schema) == before  # only the new table was added
    for folder, r in zip((a, b), first["runs"]):
        assert r["heldout"]["status"] == "ok" and r["heldout"]["program_id"] == r["best_id"]
        assert rows(folder, "SELECT count(*), max(created_at) FROM heldout")[0][0] == 1
    stamps = [rows(f, "SELECT created_at FROM heldout") for f in (a, b)]
    names = {m["name"] for m in first["metrics"] if m["kind"] == "heldout"}
    assert {"test score", "test inversions"} <= names
    per_set = [m for m in first["metrics"] if m.get("set")]
    assert per_set and all(m["split"] == "test" for m in per_set)
    _check_stats(first)

    rc, out, err = call(capsys, a, b, *CONF)  # the second time: nothing is evaluated
    assert rc == 0 and "evaluating" not in err
    assert "test inversions" in out and "p = " in out
    second = as_json(capsys, a, b, *CONF)
    assert [r["heldout"]["source"] for r in second["runs"]] == ["cached", "cached"]
    assert [rows(f, "SELECT created_at FROM heldout") for f in (a, b)] == stamps
    assert second["metrics"] == first["metrics"]


def test_plot_and_archive_urls(sweep, capsys, tmp_path):
    db = sweep / "explore1.0" / "seed1" / "archive.sqlite"
    png = tmp_path / "cmp.png"
    d = as_json(capsys, sweep / "explore0.0", f"sqlite:///{db}", "--split", "none",
                "--plot", png)
    assert len(d["runs"]) == 3 and d["runs"][-1]["label"].endswith("#1")
    assert d["plot"]["path"] == str(png) and len(d["plot"]["groups"]) == 2
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    # the same run named twice (folder and URL) counts once
    d = as_json(capsys, sweep, f"sqlite:///{db}", "--split", "none")
    assert len(d["runs"]) == 4


@pytest.mark.parametrize("argv, needle", [
    (["{tmp}/nowhere"], "{tmp}/nowhere: no such file or folder"),
    (["{tmp}/empty"], "{tmp}/empty: no run folders there"),
    (["{tmp}/mixed"], "runs of different problems cannot be compared"),
    (["{sweep}", "--by", "search.nosuch"], "--by search.nosuch: no run has this config key"),
    (["{sweep}", "--threshold", "nan"], "argument --threshold: 'nan' is not a finite number"),
    (["{sweep}/explore0.0"], "which is not a registered problem"),  # no --config-dir: untrusted
    (["sqlite:///{tmp}/none.sqlite"], "no such SQLite file"),
])
def test_bad_input_is_one_line_exit_2(sweep, tmp_path, capsys, argv, needle):
    (tmp_path / "empty").mkdir()
    mixed = tmp_path / "mixed"
    shutil.copytree(sweep / "explore0.0", mixed / "sorting")
    shutil.copytree(sweep / "explore1.0" / "seed0", mixed / "other")
    con = sqlite3.connect(mixed / "other" / "archive.sqlite")
    con.execute("UPDATE runs SET problem = 'other'")
    con.commit()
    con.close()
    args = [a.format(tmp=tmp_path, sweep=sweep) for a in argv]
    rc, out, err = call(capsys, *args)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1, err
    assert needle.format(tmp=tmp_path, sweep=sweep) in err


def test_the_installed_command(sweep, tmp_path):
    """`evolve-archive compare` as a user runs it: a new process, exit status 2 on bad input."""
    exe = [sys.executable, "-m", "evolve.cli.archive", "compare"]
    res = subprocess.run([*exe, str(tmp_path / "nowhere")], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 2 and res.stdout == "" and res.stderr.count("\n") == 1
    res = subprocess.run([*exe, str(sweep), "--split", "none", "--json"], capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert [g["n"] for g in json.loads(res.stdout)["groups"]] == [2, 2]
