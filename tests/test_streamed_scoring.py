"""A per-set feed (episode.EachSet, SMTT's) has each set scored by the worker while the child
computes the next one: the first failing set is the verdict as soon as the next set starts,
and an honest program scores what it scores in-process."""

from __future__ import annotations

import asyncio

from evolve.config import problem_config
from evolve.evaluator import Evaluator
from evolve.problem import make_problem
from evolve.result import evaluate_in_process
from evolve.sandbox import Limits
from tests.engine_util import ROOT

# not a permutation on the first training set (n = 20), then never returns on the next one
BROKEN_THEN_STUCK = '''
import numpy as np


def schedule(p, d):
    n = p.shape[0]
    if n == 20:
        return np.zeros(n, dtype=np.int64)
    k = 0
    while k >= 0:
        k += 1
    return np.arange(n)
'''


def test_a_broken_set_is_the_verdict_while_the_next_one_runs():
    with Evaluator(problem_config("smtt"), Limits(timeout_s=30), workers=1, gate=False) as pool:
        res = asyncio.run(pool.evaluate(BROKEN_THEN_STUCK, split="train"))
        seed = (ROOT / "seeds/smtt/mdd.py").read_text()
        honest = asyncio.run(pool.evaluate(seed, split="train"))
    assert res.status == "invalid_output", (res.status, res.error)  # not the later timeout
    assert "(n=20)" in res.error
    local = evaluate_in_process(make_problem(problem_config("smtt")), seed, "train")
    assert honest.ok and honest.score == local.score
