"""Built-in proposer: AST mutation operators, block safety, determinism."""

from __future__ import annotations

import ast

import pytest

from evolve.program import split_blocks
from evolve.proposers.builtin.proposer import (
    CROSSOVERS,
    DEFAULTS,
    GROW,
    MUTATIONS,
    PLAIN,
    TUNE,
    BuiltinProposer,
)
from evolve.result import evaluate_in_process
from tests.builtin_toys import EDD, MDD, ToySmtt, atc, context, info, propose, view

PROBLEM = ToySmtt({})
SEEDS = {"mdd": MDD, "atc": atc(2.0), "edd": EDD}


def only(*ops: str, **extra) -> BuiltinProposer:
    weights = {k: 0.0 for k in DEFAULTS["operators"]}
    weights.update({op: 1.0 for op in ops})
    return BuiltinProposer({"builtin": {"operators": weights, **extra}}, info(PROBLEM))


def assert_block_only(parent: str, child: str) -> None:
    a, b = split_blocks(parent), split_blocks(child)
    assert (a.prefix, a.suffix) == (b.prefix, b.suffix)
    assert a.block != b.block
    ast.parse(child)


@pytest.mark.parametrize("op", MUTATIONS)
def test_each_operator_changes_only_the_block_and_parses(op):
    made = 0
    for code in SEEDS.values():
        for seed in range(12):
            prop = propose(only(op), context(view(1, code), seed, PROBLEM))
            if prop.code is None:
                assert prop.failure == "diff_failed" and prop.error
                continue
            assert prop.proposer == "mutation"
            assert_block_only(code, prop.code)
            if prop.operator != op:  # the block has no site for `op`: plain-mutation fallback
                assert prop.operator in PLAIN and not only(op).bandit.weights.get(prop.operator)
                continue
            made += 1
            assert prop.diff.startswith("--- parent\n+++ child\n")
            assert "EVOLVE-BLOCK-START" in prop.code and "EVOLVE-BLOCK-END" in prop.code
    assert made >= 8, f"{op} produced only {made} children"


def test_children_mostly_evaluate_and_some_improve_on_edd():
    """Mixed default operators: how many children run, and whether EDD gets better."""
    base = evaluate_in_process(PROBLEM, EDD, "train", jit=False).score
    statuses, better = [], 0
    bp = BuiltinProposer({}, info(PROBLEM))
    for seed in range(30):
        prop = propose(bp, context(view(1, EDD), seed, PROBLEM))
        assert prop.code is not None
        r = evaluate_in_process(PROBLEM, prop.code, "train", jit=False)
        statuses.append(r.status)
        better += r.ok and r.score > base
    assert statuses.count("ok") >= 20, statuses
    assert better >= 3


def test_mdd_children_compile_with_numba():
    bp = BuiltinProposer({}, info(PROBLEM))
    results = []
    for seed in range(6):
        prop = propose(bp, context(view(1, MDD), seed, PROBLEM))
        r = evaluate_in_process(PROBLEM, prop.code, "train", jit=True)
        results.append((prop.operator, r.status, r.compile_fallback))
    ok = [r for r in results if r[1] == "ok"]
    assert len(ok) >= 4, results
    assert all(not fb for _, _, fb in ok), results


def test_same_seed_same_child():
    for code in SEEDS.values():
        for seed in (0, 5, 9):
            a = propose(BuiltinProposer({}, info(PROBLEM)), context(view(1, code), seed, PROBLEM))
            b = propose(BuiltinProposer({}, info(PROBLEM)), context(view(1, code), seed, PROBLEM))
            assert (a.code, a.operator, a.diff) == (b.code, b.operator, b.diff)
    children = {propose(BuiltinProposer({}, info(PROBLEM)),
                        context(view(1, MDD), s, PROBLEM)).code for s in range(8)}
    assert len(children) >= 6  # different seeds explore


def test_index_expressions_are_never_touched():
    """Loop bounds, job indices and the int output array keep their exact text."""
    keep = ["for k in range(n):", "for j in range(n):", "order[k] = best", "done[best] = True",
            "best = j", "np.empty(n, dtype=np.int64)", "return order"]
    bp = BuiltinProposer({}, info(PROBLEM))
    for seed in range(40):
        prop = propose(bp, context(view(1, MDD), seed, PROBLEM))
        for line in keep:
            assert line in prop.code, (line, prop.diff)


def test_indented_block_keeps_its_indentation():
    code = ("import numpy as np\n\n\ndef schedule(p, d):\n    n = p.shape[0]\n"
            "    # EVOLVE-BLOCK-START\n    key = d - 0.5 * p\n    # EVOLVE-BLOCK-END\n"
            "    return np.argsort(key)\n")
    made = 0
    for seed in range(10):
        prop = propose(only("const_perturb", "expr_replace", "expr_wrap"),
                       context(view(1, code), seed, PROBLEM))
        if prop.code:
            made += 1
            assert_block_only(code, prop.code)
            assert split_blocks(prop.code).block.startswith("    key = ")
            assert evaluate_in_process(PROBLEM, prop.code, "train", jit=False).status in (
                "ok", "invalid_output")
    assert made >= 5


def test_statement_operators_keep_loop_bodies_valid():
    dup = propose(only("stmt_duplicate"), context(view(1, MDD), 0, PROBLEM))
    assert dup.code.count("t += p[best]") == 2
    dele = propose(only("stmt_delete"), context(view(1, MDD), 0, PROBLEM))
    assert dele.code.count("best_v = v") + dele.code.count("t += p[best]") == 1


def test_bad_parents_give_diff_failed_not_exceptions():
    broken = "# EVOLVE-BLOCK-START\ndef schedule(p, d):\n    return (\n# EVOLVE-BLOCK-END\n"
    prop = propose(BuiltinProposer({}, info(PROBLEM)), context(view(1, broken), 0, PROBLEM))
    assert prop.code is None and prop.failure == "diff_failed"
    nothing = "import numpy as np\n# EVOLVE-BLOCK-START\npass\n# EVOLVE-BLOCK-END\n"
    prop = propose(BuiltinProposer({}, info(PROBLEM)), context(view(1, nothing), 0, PROBLEM))
    assert prop.code is None and prop.failure == "diff_failed" and prop.error


def test_known_programs_are_not_proposed_again():
    bp = only("cmp_swap")  # MDD has one order comparison: three possible swaps
    swaps = {propose(bp, context(view(1, MDD), s, PROBLEM)).code for s in range(20)}
    assert len(swaps) == 3
    known = sorted(swaps)
    history = [view(1, MDD)] + [view(10 + i, c, proposer="mutation", operator="cmp_swap")
                                for i, c in enumerate(known[:2])]
    children = {propose(bp, context(history[0], s, PROBLEM, history=history)).code
                for s in range(6)}
    assert known[2] in children and not children & set(known[:2])
    history.append(view(20, known[2], proposer="mutation", operator="cmp_swap"))
    prop = propose(bp, context(history[0], 99, PROBLEM, history=history))
    assert prop.code is None and prop.failure == "diff_failed"


def test_unknown_operator_in_config_is_refused():
    with pytest.raises(ValueError, match="nope"):
        BuiltinProposer({"builtin": {"operators": {"nope": 1.0}}}, info(PROBLEM))
    assert set(DEFAULTS["operators"]) == set(MUTATIONS) | set(CROSSOVERS) | {TUNE, GROW}
