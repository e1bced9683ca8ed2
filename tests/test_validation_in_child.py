"""A training evaluation that may enter the top-k brings its validation along, run by the same
child (worker.evaluate_task `then`): the result must be exactly what a separate validation in a
fresh child gives, generators included; below the threshold, after a compile fallback or when
that part fails, nothing comes along and the training result is untouched."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evolve.config import problem_config
from evolve.evaluator import Evaluator
from evolve.sandbox import Limits

REPO = Path(__file__).resolve().parents[1]
EDD = (REPO / "seeds" / "smtt" / "edd.py").read_text()
BLOCK_LINE = "            v = slack + t + p_j  # = d_j: earliest due date first"
# numba's generator breaks near-ties: the validation must start from a fresh child's state
NOISY = EDD.replace(BLOCK_LINE, "            v = d_j + p_j * np.random.random()")
PYTHON_ONLY = EDD.replace(BLOCK_LINE, "            v = float(str(d_j))")  # numba cannot

pytestmark = pytest.mark.xdist_group("validation_in_child")


@pytest.fixture(scope="module")
def ev():
    assert BLOCK_LINE in EDD
    with Evaluator(problem_config("smtt"), Limits(timeout_s=120, memory_mb=4096),
                   workers=1) as evaluator:
        yield evaluator


def _scores(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "runtime_s"}  # measured, informational


def _same(a: dict, b) -> None:
    assert a["status"] == b.status == "ok" and a["stage"] == b.stage == "full"
    assert a["score"] == b.score and _scores(a["metrics"]) == _scores(b.metrics)
    strip = [{k: v for k, v in s.items() if k != "runtime_s"} for s in a["sets"]]
    assert strip == [{k: v for k, v in s.items() if k != "runtime_s"} for s in b.sets]


@pytest.mark.parametrize("code", [EDD, NOISY], ids=["deterministic", "random"])
def test_the_validation_brought_along_equals_a_fresh_childs(ev, code):
    res = asyncio.run(ev.evaluate(code, then=("validation", -1e300)))
    fresh_train = asyncio.run(ev.evaluate(code))
    fresh = asyncio.run(ev.evaluate(code, split="validation"))
    assert res.ok and res.then is not None
    assert res.score == fresh_train.score
    assert _scores(res.metrics) == _scores(fresh_train.metrics)
    _same(res.then, fresh)
    assert len(res.then["sets"]) == len(fresh.sets) >= 2


def test_below_the_threshold_nothing_comes_along(ev):
    res = asyncio.run(ev.evaluate(EDD, then=("validation", 0.0)))  # scores are negative gaps
    assert res.ok and res.then is None


def test_a_compile_fallback_brings_nothing(ev):
    res = asyncio.run(ev.evaluate(PYTHON_ONLY, then=("validation", -1e300)))
    assert res.ok and res.compile_fallback and res.then is None


def _validation_only_total() -> float:
    """The total processing time of a validation instance no training instance has."""
    from evolve.problem import make_problem
    from evolve.session import ENGINE_PROBLEM_KEYS

    cfg = problem_config("smtt")
    problem = make_problem({k: v for k, v in cfg.items()
                            if k not in ENGINE_PROBLEM_KEYS and k != "preload"})

    def totals(split: str) -> set[float]:
        out = set()
        for s in problem.instance_sets(split):
            inst = s.data
            out |= {float(inst.p[inst.offsets[i]:inst.offsets[i + 1]].sum())
                    for i in range(inst.m)}
        return out

    return min(totals("validation") - totals("train"))


def test_a_failure_on_validation_keeps_the_training_result(ev):
    """The candidate raises on one validation instance only: the training result stands, and
    the validation is left to a fresh child (where it fails as it should)."""
    total = _validation_only_total()
    code = EDD.replace(BLOCK_LINE, f"{BLOCK_LINE}\n            if pos == 0 and p_left == {total!r}:"
                                   "\n                raise ValueError('validation only')")
    plain = asyncio.run(ev.evaluate(code))
    res = asyncio.run(ev.evaluate(code, then=("validation", -1e300)))
    assert plain.ok and res.ok and res.then is None
    assert res.score == plain.score and _scores(res.metrics) == _scores(plain.metrics)
    fresh = asyncio.run(ev.evaluate(code, split="validation"))
    assert fresh.status == "runtime_error" and "validation only" in fresh.error
