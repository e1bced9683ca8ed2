"""Problem panels per instance set: each shipped problem's panel shows the per-set scores the
archive stores (`set_scores`), on the Program and Run pages of a real `evolve-archive serve`,
and hostile or non-numeric stored values never break a page."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from evolve.archive import Archive, Program, sqlite_url
from evolve.archive_sets import set_records
from tests.browser import served

SMTT = ("evolve.problems.smtt:SmttProblem",
        [("n20", {"score": -1.5, "mean_gap_pct": 1.5, "ratio_gap_pct": 1.25, "max_gap_pct": 9.5,
                  "zero_ref_misses": 0.0}),
         ("n500", {"score": -4.25, "mean_gap_pct": 4.25, "ratio_gap_pct": 3.5,
                   "max_gap_pct": 17.75, "zero_ref_misses": "<b>2</b>"})],
        ["gap by instance set", "n20", "n500", "4.25", "17.75"])
SPOT = ("evolve.problems.spot:SpotSingleProblem",
        [("trace_a", {"cost/low_slack": 12.5, "bound/low_slack": 10.0, "cost/high": 7.0,
                      "bound/high": 7.0})],
        ["cost per scenario and instance set", "trace_a", "low_slack", "12.5", "25"])
MOE = ("evolve.problems.moe_placement:MoePlacementProblem",
       [("window_a", {"balancedness_gpu": 0.8125, "balancedness_node": 0.9375,
                      "balancedness_slot": 0.75, "oracle_gpu": 0.875,
                      "bound_hierarchical": 0.96875})],
       ["balancedness per instance set", "window_a", "0.8125", "0.9688"])


def _run(folder: Path, target: str, sets: list[tuple[str, dict]]) -> int:
    folder.mkdir(parents=True)
    a = Archive(sqlite_url(folder / "archive.sqlite"))
    run = a.create_run(target.split(":")[1], str(folder),
                       {"problem": {"target": target}, "search": {"iterations": 1}}, seed=0)
    p = Program(run_id=run.id, iteration=0, code="def f():\n    return 1\n", proposer="seed",
                status="ok", score=-1.0, metrics={"score": -1.0})
    p.pending_sets = set_records([{"name": n, "metrics": m} for n, m in sets], "train")
    pid = a.record(p).id
    a.update_run(run.id, status="finished")
    a.close()
    return pid


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=120) as r:  # hang guard only
        assert r.status == 200
        return r.read().decode()


@pytest.mark.parametrize("case", [SMTT, SPOT, MOE], ids=["smtt", "spot", "moe"])
def test_panel_per_set_on_program_and_run_pages(tmp_path, case):
    target, sets, want = case
    pid = _run(tmp_path / "run", target, sets)
    with served(tmp_path / "run") as url:
        for page in (f"/run/1/program/{pid}", "/run/1"):
            body = _get(url + page)
            for text in want:
                assert text in body, (page, text)
            assert "<b>" not in body


def test_no_set_rows_no_per_set_table(tmp_path):
    """An archive from before per-set scores (or a program without them) shows the summary
    panel only."""
    pid = _run(tmp_path / "run", SMTT[0], [])
    with served(tmp_path / "run") as url:
        body = _get(url + f"/run/1/program/{pid}")
    assert "gap by instance set" not in body
