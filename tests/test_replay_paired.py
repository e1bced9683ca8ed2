"""`evolve-replay`'s paired comparison through the real path: per-instance values computed by the
sandbox worker for the program and in process for the baselines, paired by instance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from evolve.cli.replay import main
from evolve.config import problem_config
from evolve.problem import make_problem
from evolve.problems.smtt import shifted
from evolve.result import evaluate_in_process

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """40 fresh instances of the published n = 20 generator (negative due dates included)."""
    out = tmp_path_factory.mktemp("fresh")
    assert shifted.main(["--out", str(out), "--dists", "published_n20", "--sizes", "14",
                         "--per-class", "2", "--seed", "4"]) == 0
    (path,) = out.glob("smtt_sample_published_n20_40.jsonl.gz")
    return path


def test_the_pairs_match_the_per_instance_gaps_computed_here(sample, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    rc = main(["seeds/smtt/mdd.py", "--problem", "smtt", "--instances", str(sample),
               "--baselines", "mdd,mddc,edd", "--json", "--progress", "never"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    d = json.loads(out)
    assert all("per_instance" not in s for s in d["sets"])  # the document stays lean
    paired = d["paired"]
    assert paired["metric"] == "mean_gap_pct" and paired["lower_is_better"] is True
    same = paired["baselines"]["mdd"]["sets"][0]  # the MDD seed against the MDD baseline
    assert same["mean"] == 0.0 and same["better"] == same["worse"] == 0
    assert same["ties"] == same["n"] == 40 - d["sets"][0]["metrics"]["zero_ref_instances"]
    problem = make_problem(problem_config("smtt"))
    sets = problem.load_instances([str(sample)])
    gaps = {}
    for name in ("mdd", "mddc", "edd"):
        res = evaluate_in_process(problem, problem.baselines()[name], "instances", sets=sets,
                                  per_instance=True)
        gaps[name] = np.array([np.nan if v is None else v for v in res.sets[0]["per_instance"]])
        assert np.nanmean(gaps[name]) == pytest.approx(res.sets[0]["metrics"]["mean_gap_pct"])
    for name in ("mddc", "edd"):
        got = paired["baselines"][name]["sets"][0]
        ok = np.isfinite(gaps["mdd"]) & np.isfinite(gaps[name])
        diff = gaps["mdd"][ok] - gaps[name][ok]
        ci = stats.ttest_rel(gaps["mdd"][ok], gaps[name][ok]).confidence_interval(0.95)
        assert got["n"] == int(ok.sum()) and got["mean"] == pytest.approx(float(diff.mean()))
        assert (got["low"], got["high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
        assert got["better"] == int(np.sum(diff < -1e-9))
        assert paired["baselines"][name]["over_sets"]["mean"] == pytest.approx(got["mean"])
    assert paired["baselines"]["edd"]["sets"][0]["high"] < 0  # MDD beats EDD, significantly


def test_tables_show_the_difference_column(sample, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    rc = main(["seeds/smtt/mddc.py", "--problem", "smtt", "--instances", str(sample),
               "--baselines", "mdd", "--progress", "never"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "mean_gap_pct [95% CI]" in " ".join(out.split()) and "better/worse/tie" in out


def test_spot_pairs_job_costs():
    problem = make_problem({**problem_config("spot_single"), "report_optimum": False})
    res = evaluate_in_process(problem, problem.baselines()["greedy"], "validation",
                              per_instance=True)
    assert res.ok, res.error
    for s in res.sets:
        assert len(s["per_instance"]) == s["n_instances"]
        assert np.mean(s["per_instance"]) == pytest.approx(s["metrics"]["mean_cost"])
