"""The spot panel's baseline columns: the shipped table (data/panel_baselines.json) matches a
fresh trusted computation, rows match the archive's set scores by split, set and scenario, and
anything the file does not hold (or holds for another config) shows blank, never an error."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from evolve.archive import Archive, Program, sqlite_url
from evolve.archive_sets import set_records
from evolve.problems.spot import panel as P
from evolve.problems.spot import panel_baselines as PB
from tests.browser import served


@pytest.fixture(scope="module")
def shipped():
    return json.loads(P.BASELINES_FILE.read_text())


def test_shipped_file_matches_a_fresh_computation(shipped):
    """Every split of spot_multi and one spot_single env per split (the rest costs minutes)."""
    fresh = {"problems": {
        "spot_multi": PB.compute("spot_multi"),
        "spot_single": PB.compute("spot_single", set_names=["us-west-2a_k80_8", "gate"])}}
    assert set(fresh["problems"]["spot_single"]["splits"]) == set(PB.SPLITS)
    assert all(fresh["problems"]["spot_single"]["splits"][s] for s in PB.SPLITS)
    assert PB.differences(shipped, fresh) == []
    assert shipped["command"] == PB.COMMAND


def test_differences_name_each_stale_value(shipped):
    scen, ref = _row(shipped, "spot_multi", "test", "2_zones_same_region")
    fresh = {"problems": {"spot_multi": {"splits": {"test": {"2_zones_same_region": {
        scen: {"greedy": 1.0, "n": ref["n"]}}}}}}}
    assert PB.differences(shipped, fresh) == [
        f"/problems/spot_multi/splits/test/2_zones_same_region/{scen}/greedy: "
        f"shipped {ref['greedy']!r}, computed 1.0"]
    assert PB.differences(shipped, {"problems": {"spot_nope": {"x": 1.0}}}) == [
        "/problems/spot_nope: missing in the shipped file"]


def test_file_holds_the_published_test_means(shipped):
    """The README's parity table: UP 101.683 (single, per job), UP-global 78.470 (multi, mean
    of scenario means), greedy 119.035 / 81.763."""
    single = [r for s in shipped["problems"]["spot_single"]["splits"]["test"].values()
              for r in s.values()]
    n = sum(r["n"] for r in single)
    assert sum(r["uniform_progress"] * r["n"] for r in single) / n == pytest.approx(101.683,
                                                                                    abs=1e-3)
    assert sum(r["greedy"] * r["n"] for r in single) / n == pytest.approx(119.035, abs=1e-3)
    multi = [r for s in shipped["problems"]["spot_multi"]["splits"]["test"].values()
             for r in s.values()]
    assert len(multi) == 6
    assert sum(r["uniform_progress"] for r in multi) / 6 == pytest.approx(78.470, abs=1e-3)
    assert sum(r["greedy"] for r in multi) / 6 == pytest.approx(81.763, abs=1e-3)


def _row(shipped, problem, split, set_name):
    scen, ref = next(iter(shipped["problems"][problem]["splits"][split][set_name].items()))
    return scen, ref


def test_panel_columns_match_by_split_set_and_scenario(shipped):
    scen, ref = _row(shipped, "spot_multi", "validation", "3_regions_diverse")
    cost = ref["uniform_progress"] * 0.9
    good = {"cost/" + scen: cost, "bound/" + scen: ref["optimum"], "count/" + scen: ref["n"]}
    sets = [{"split": "validation", "set": "3_regions_diverse", "metrics": good},
            {"split": "train", "set": "3_regions_diverse", "metrics": good},  # other n, bound
            {"split": "validation", "set": "nowhere", "metrics": {"cost/x": 1.0}},
            {"split": "validation", "set": "3_regions_diverse",
             "metrics": {"cost/" + scen: cost, "count/" + scen: ref["n"] + 1}},
            {"split": "test", "set": "3_regions_diverse", "metrics": {"cost/" + scen: "<b>"}}]
    t = P.panel({"cost/" + scen: cost}, sets, "spot_multi")
    per_set, summary = t[0], t[1]
    assert per_set["columns"][-3:] == ["greedy", "UP", "vs UP, %"]
    rows = per_set["rows"]
    assert rows[0][3:] == [cost, ref["optimum"], pytest.approx(100 * (cost / ref["optimum"] - 1)),
                           ref["greedy"], ref["uniform_progress"], pytest.approx(-10.0)]
    assert rows[1][-3:] == [None, None, None]  # the train rows hold other jobs
    assert rows[2][-3:] == [None, None, None]  # a set the file does not know
    assert rows[3][-3:] == [None, None, None]  # another job count: another config
    _, test = _row(shipped, "spot_multi", "test", "3_regions_diverse")
    assert rows[4][3] is None and rows[4][-3:] == [test["greedy"], test["uniform_progress"], None]
    # the train summary finds the scenario's set in the train split
    train = shipped["problems"]["spot_multi"]["splits"]["train"]["3_regions_diverse"][scen]
    assert summary["rows"][0][-3:-1] == [train["greedy"], train["uniform_progress"]]
    assert P.panel({"cost/" + scen: 1.0}, sets, "no_such_problem")[0]["rows"][0][-3:] == \
        [None, None, None]


def test_missing_or_broken_file_gives_blanks(tmp_path, monkeypatch):
    for content in (None, "{not json", "[1, 2]", '{"problems": {"spot_multi": 3}}'):
        path = tmp_path / "panel_baselines.json"
        if content is not None:
            path.write_text(content)
        monkeypatch.setattr(P, "BASELINES_FILE", path)
        P._table.cache_clear()
        try:
            t = P.panel({"cost/a": 2.0, "mean_cost": 2.0},
                        [{"split": "test", "set": "a", "metrics": {"cost/a": 2.0}}], "spot_multi")
        finally:
            P._table.cache_clear()
        assert t[0]["rows"] == [["test", "a", "a", 2.0, None, None, None, None, None]]


def test_panel_module_imports_no_numba():
    """The web server imports the panel: it must stay json-only (no numba, no compile)."""
    code = ("import sys; import evolve.problems.spot.panel as p; "
            "p.panel({'cost/2_zones_same_region': 70.0}, [], 'spot_multi'); "
            "print('numba' in sys.modules, 'evolve.problems.spot.panel_baselines' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)  # hang guard only
    assert out.stdout.split() == ["False", "False"]


def test_program_page_shows_the_baselines(tmp_path, shipped):
    """A real `evolve-archive serve` on an archive whose program has a spot_multi test set."""
    scen, ref = _row(shipped, "spot_multi", "test", "2_regions_east_west")
    folder = tmp_path / "run"
    folder.mkdir()
    a = Archive(sqlite_url(folder / "archive.sqlite"))
    target = "evolve.problems.spot:SpotMultiProblem"
    run = a.create_run("SpotMultiProblem", str(folder),
                       {"problem": {"target": target}, "search": {"iterations": 1}}, seed=0)
    cost = 50.0
    p = Program(run_id=run.id, iteration=0, code="def f():\n    return 1\n", proposer="seed",
                status="ok", score=-cost, metrics={"score": -cost, "mean_cost": cost})
    p.pending_sets = set_records([{"name": "2_regions_east_west", "metrics": {
        "cost/" + scen: cost, "bound/" + scen: ref["optimum"], "count/" + scen: ref["n"]}}],
        "test")
    pid = a.record(p).id
    a.update_run(run.id, status="finished")
    a.close()
    with served(folder) as url, urllib.request.urlopen(f"{url}/run/1/program/{pid}",
                                                        timeout=120) as r:  # hang guard only
        body = r.read().decode()
    up = ref["uniform_progress"]
    for text in ("vs UP, %", "2_regions_east_west", f"{up:.4g}", f"{ref['greedy']:.4g}",
                 f"{100 * (cost - up) / up:.4g}"):
        assert text in body, text


def test_check_command_in_a_real_process():
    """`python -m evolve.problems.spot.panel_baselines --check` (spot_multi only: seconds)."""
    out = subprocess.run([sys.executable, "-m", "evolve.problems.spot.panel_baselines", "--check",
                          "--problem", "spot_multi"], capture_output=True, text=True,
                         timeout=600, check=False)  # hang guard only
    assert out.returncode == 0, out.stderr
    assert "up to date" in out.stdout
