"""Built-in proposer: the operator bandit learns from the archive history it is shown."""

from __future__ import annotations

import numpy as np

from evolve.proposers.builtin.bandit import OperatorBandit
from evolve.proposers.builtin.proposer import BuiltinProposer
from tests.builtin_toys import MDD, ToySmtt, context, info, propose, view


def history(outcomes: dict[str, tuple[int, int]]) -> list:
    """Children per operator: (wins, losses), interleaved like a real run."""
    out, pid = [], 100
    rows = [(op, True) for op, (w, _) in outcomes.items() for _ in range(w)]
    rows += [(op, False) for op, (_, n) in outcomes.items() for _ in range(n)]
    for i in np.random.default_rng(len(rows)).permutation(len(rows)):
        op, won = rows[i]
        kind = "crossover" if op.startswith("xo_") else "mutation"
        out.append(view(pid, "", proposer=kind, operator=op, improved=won))
        pid += 1
    return out


def test_share_follows_success_and_never_drops_to_zero():
    bandit = OperatorBandit({"a": 1.0, "b": 1.0, "c": 1.0}, window=500, prior_n=4, floor=0.1)
    p0 = bandit.probabilities([], ["a", "b", "c"])
    assert np.allclose(p0, 1 / 3)
    h = history({"a": (12, 8), "b": (0, 40), "c": (2, 18)})
    p = bandit.probabilities(h, ["a", "b", "c"])
    assert p[0] > 0.6 and p[0] > p[2] > p[1] > 0
    assert p[1] >= 0.1 / 3 * 0.99  # the floor keeps a failing operator alive


def test_only_recent_builtin_children_count():
    bandit = OperatorBandit({"a": 1.0, "b": 1.0}, window=40, prior_n=2, floor=0.0)
    old = history({"a": (30, 0), "b": (0, 30)})
    recent = history({"a": (0, 20), "b": (10, 10)})
    p = bandit.probabilities(old + recent, ["a", "b"])
    assert p[1] > p[0]
    llm = [view(900 + i, "", proposer="llm_diff", operator="a", improved=True) for i in range(50)]
    assert np.allclose(bandit.probabilities(recent + llm, ["a", "b"]), p)


def test_proposer_follows_the_history_and_is_reproducible():
    problem = ToySmtt({})
    h = history({"cmp_swap": (15, 5), "const_perturb": (0, 30), "expr_replace": (0, 30),
                 "expr_wrap": (0, 30), "op_swap": (0, 30)})
    parent = view(1, MDD)
    ops = [propose(BuiltinProposer({}, info(problem)),
                   context(parent, s, problem, history=[parent, *h])).operator for s in range(30)]
    assert ops.count("cmp_swap") >= 10, ops  # 11 of 30 here; prior share 0.3 / 9.3
    assert max(ops, key=ops.count) == "cmp_swap", ops
    again = [propose(BuiltinProposer({}, info(problem)),
                     context(parent, s, problem, history=[parent, *h])).operator for s in range(30)]
    assert ops == again
