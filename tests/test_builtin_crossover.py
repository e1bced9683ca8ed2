"""Built-in proposer: crossover operators transplant compatible sub-trees and record the mate."""

from __future__ import annotations

import pytest

from evolve.program import split_blocks
from evolve.proposers.builtin.proposer import CROSSOVERS, DEFAULTS, BuiltinProposer
from evolve.result import evaluate_in_process
from tests.builtin_toys import EDD, MDD, ToySmtt, atc, context, info, propose, view

PROBLEM = ToySmtt({})

# An MDD variant whose priority differs in a few places (the mate).
MDD_MATE = MDD.replace("v = max(d[j], t + p[j])", "v = max(d[j] - 0.5 * p[j], t + p[j])") \
    .replace("t = 0.0", "t = 0.0\n    slack = 0.0") \
    .replace("            if v < best_v:", "            w = p[j] / (t + 1.0)\n"
             "            v *= 1.0 + 0.1 * w\n            if v < best_v:")


def only(*ops: str, gate_prob: float = 0.0) -> BuiltinProposer:
    weights = {k: 0.0 for k in DEFAULTS["operators"]}
    weights.update({op: 1.0 for op in ops})
    cfg = {"operators": weights, "gate_prob": gate_prob}
    return BuiltinProposer({"builtin": cfg}, info(PROBLEM))


@pytest.mark.parametrize("op", CROSSOVERS)
def test_crossover_records_the_mate_and_changes_only_the_block(op):
    parent, mate = view(1, MDD), view(7, MDD_MATE, score=-1.0)
    made = 0
    for seed in range(8):
        prop = propose(only(op), context(parent, seed, PROBLEM, inspirations=[mate]))
        if prop.code is None:
            continue
        made += 1
        assert (prop.proposer, prop.operator, prop.mates) == ("crossover", op, [7])
        a, b = split_blocks(MDD), split_blocks(prop.code)
        assert (a.prefix, a.suffix) == (b.prefix, b.suffix) and a.block != b.block
        assert evaluate_in_process(PROBLEM, prop.code, "train", jit=False).status in (
            "ok", "invalid_output")
    assert made >= 4


def test_statement_crossover_takes_the_mates_right_hand_side():
    prop = propose(only("xo_statement"), context(view(1, MDD), 0, PROBLEM,
                                                  inspirations=[view(7, MDD_MATE)]))
    assert "v = max(d[j] - 0.5 * p[j], t + p[j])" in prop.code


def test_function_crossover_copies_the_whole_function_with_comments():
    prop = propose(only("xo_function"), context(view(1, MDD), 0, PROBLEM,
                                                 inspirations=[view(7, MDD_MATE)]))
    assert split_blocks(prop.code).block == split_blocks(MDD_MATE).block


def test_subtree_crossover_only_uses_names_bound_at_the_site():
    """ATC's `slack`/`pbar` live in other functions: never moved into MDD's loop."""
    for seed in range(15):
        prop = propose(only("xo_subtree"), context(view(1, MDD), seed, PROBLEM,
                                                    inspirations=[view(7, atc(2.0))]))
        if prop.code is not None:
            assert "slack" not in prop.code and "pbar" not in prop.code and "pj" not in prop.code
            assert evaluate_in_process(PROBLEM, prop.code, "train", jit=False).status in (
                "ok", "invalid_output")


def test_without_inspirations_crossover_falls_back_to_mutation():
    weights = dict(DEFAULTS["operators"])
    bp = BuiltinProposer({"builtin": {"operators": weights}}, info(PROBLEM))
    kinds = {propose(bp, context(view(1, EDD), s, PROBLEM)).proposer for s in range(10)}
    assert kinds == {"mutation"}


def test_crossover_is_deterministic():
    ctx = lambda: context(view(1, MDD), 3, PROBLEM,  # noqa: E731
                          inspirations=[view(7, MDD_MATE), view(8, atc(1.0))])
    a = propose(only(*CROSSOVERS), ctx())
    b = propose(only(*CROSSOVERS), ctx())
    assert a.code == b.code and a.mates == b.mates and a.code is not None


def test_append_crossover_carries_the_update_with_the_assignments_it_reads():
    prop = propose(only("xo_append"), context(view(1, MDD), 0, PROBLEM,
                                               inspirations=[view(7, MDD_MATE)]))
    lines = [ln.strip() for ln in prop.code.splitlines()]
    i = lines.index("v = max(d[j], t + p[j])")
    assert lines[i + 1: i + 3] == ["w = p[j] / (t + 1.0)", "v *= 1.0 + 0.1 * w"]
    assert prop.mates == [7] and "+++ child (mate: program 7)" in prop.diff


def test_append_crossover_renames_a_helper_the_parent_already_uses():
    """The parent's own `w` (an int here) keeps its meaning: the mate's becomes `w_2`."""
    parent = MDD.replace("    t = 0.0\n", "    t = 0.0\n    w = 3\n")
    prop = propose(only("xo_append"), context(view(1, parent), 0, PROBLEM,
                                               inspirations=[view(7, MDD_MATE)]))
    assert "w_2 = p[j] / (t + 1.0)" in prop.code and "v *= 1.0 + 0.1 * w_2" in prop.code
    assert "    w = 3\n" in prop.code
    assert evaluate_in_process(PROBLEM, prop.code, "train").status == "ok"


def test_append_crossover_needs_every_name_it_reads():
    """An update reading a name neither the parent nor an earlier mate statement binds: none."""
    mate = MDD_MATE.replace("            w = p[j] / (t + 1.0)\n", "")
    assert "w =" not in mate
    prop = propose(only("xo_append"), context(view(1, MDD), 0, PROBLEM,
                                               inspirations=[view(7, mate)]))
    assert prop.code is None or "v *=" not in prop.code
