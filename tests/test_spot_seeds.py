"""The Uniform Progress seeds: each is its baseline written as a candidate (one `decide` inside
an EVOLVE-BLOCK), numba-compiled, with exactly the baseline's results on the train split."""

import pytest

from evolve.config import problem_config
from evolve.problem import make_problem
from evolve.program import split_blocks
from evolve.result import evaluate_in_process


@pytest.mark.parametrize(("problem", "seed", "baseline"), [
    ("spot_single", "up", "uniform_progress"),
    ("spot_multi", "up_global", "uniform_progress"),  # MULTI's "uniform_progress" is UP-global
])
def test_up_seed_reproduces_its_baseline(problem, seed, baseline):
    cfg = dict(problem_config(problem), seed_program=seed)
    p = make_problem(cfg)
    code = p.seed_path(cfg["seed_program"]).read_text()
    assert "def decide(" in split_blocks(code).block
    got = evaluate_in_process(p, code, "train")
    assert got.ok, got.error
    assert not got.compile_fallback
    ref = evaluate_in_process(p, p.baselines()[baseline], "train")
    assert got.score == ref.score
    assert got.metrics["deadline_misses"] == 0
    assert [s["metrics"] for s in got.sets] == [s["metrics"] for s in ref.sets]
