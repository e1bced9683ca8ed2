"""The baselines reproduce the published mean gaps of Çetinkaya et al. on the shipped test sets."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from evolve.problem import make_problem
from evolve.problems.smtt import rules
from evolve.result import evaluate_in_process

# Mean % gap to the optimum over instances with nonzero optimum (paper Tables 2, 4-6; n=500 with
# the re-aligned optima, see problems/smtt/data/README.md).
PUBLISHED = {
    "smtt_n20_uniform_800": {"edd": 46.5, "eddc": 12.83, "mdd": 1.86, "mddc": 1.70, "psk": 1.77},
    "smtt_n100_200": {"edd": 59.56, "eddc": 28.12, "mdd": 1.81, "mddc": 1.52},
    "smtt_n200_200": {"mdd": 2.07, "mddc": 2.00},
    "smtt_n500_200": {"mdd": 1.87, "mddc": 1.82},
}
CASES = [(s, b, v) for s, row in PUBLISHED.items() for b, v in row.items()]
DATA = Path(__file__).resolve().parents[1] / "problems" / "smtt" / "data"


@pytest.fixture(scope="module")
def problem():
    return make_problem({"name": "smtt", "target": "evolve.problems.smtt:SmttProblem"})


@pytest.fixture(scope="module")
def replay(problem):
    sets = {s.name: s for s in problem.instance_sets("test")}
    assert set(sets) == set(PUBLISHED)
    out = {}
    for name in sorted({b for _, b, _ in CASES}):
        wanted = [sets[s] for s in PUBLISHED if name in PUBLISHED[s]]
        res = evaluate_in_process(problem, problem.baselines()[name], "test", sets=wanted)
        assert res.ok, res.error
        out[name] = {s["name"]: s["metrics"] for s in res.sets}
    return out


@pytest.mark.parametrize("set_name,baseline,published", CASES)
def test_published_mean_gap(replay, set_name, baseline, published):
    got = replay[baseline][set_name]["mean_gap_pct"]
    tol = 0.1 if baseline == "edd" else 0.05  # EDD: the paper's unstable argsort breaks ties
    assert abs(got - published) <= tol, f"{baseline} on {set_name}: {got:.3f} vs {published}"


def test_no_heuristic_beats_an_optimum(replay):
    for baseline, per_set in replay.items():
        for set_name, m in per_set.items():
            assert m["below_ref"] == 0, (baseline, set_name)
            assert m["exact_ref_fraction"] == 1.0


def test_n500_shipped_optima_are_misaligned():
    """Trap: the n=500 optima as published are shifted; MDD 'beats' 63 of them."""
    with gzip.open(DATA / "smtt_n500_200.jsonl.gz", "rt") as f:
        rows = [json.loads(x) for x in f]
    beat_shipped = beat_fixed = 0
    for r in rows:
        p, d = np.array(r["p"], float), np.array(r["d"], float)
        o = rules.mdd(p, d, np.ones(p.size))
        t = np.maximum(np.cumsum(p[o]) - d[o], 0).sum()
        beat_shipped += t < r["opt_as_shipped"]
        beat_fixed += t < r["opt"]
    assert beat_shipped == 63 and beat_fixed == 0
