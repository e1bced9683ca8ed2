"""Built-in proposer: building-block library, grammar-guided growth, novelty before evaluation."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from evolve.program import split_blocks
from evolve.proposers.builtin.astnames import BUILTINS
from evolve.proposers.builtin.blocks import BlockLibrary, seed_codes
from evolve.proposers.builtin.grow import GROWTH_OPS
from evolve.proposers.builtin.kinds import SCALARS
from evolve.proposers.builtin.novelty import canonical
from evolve.proposers.builtin.probe import probe_in_sandbox
from evolve.proposers.builtin.proposer import DEFAULTS, BuiltinProposer, _parse
from evolve.result import evaluate_in_process
from tests.builtin_toys import FakeSandbox, ToySmtt, context, info, propose, view

PROBLEM = ToySmtt({})
SEEDS = Path(__file__).resolve().parents[1] / "seeds" / "smtt"
EDD = (SEEDS / "edd.py").read_text()  # the real SMTT seeds: schedule(p, d), as the toy's
MDD = (SEEDS / "mdd.py").read_text()


def smtt_info():
    """The toy problem under the name `smtt`, so the proposer mines the packaged SMTT seeds."""
    return dataclasses.replace(info(PROBLEM), name="smtt")


def only(*ops: str, **extra) -> BuiltinProposer:
    weights = {k: 0.0 for k in DEFAULTS["operators"]}
    weights.update({op: 1.0 for op in ops})
    return BuiltinProposer({"builtin": {"operators": weights, **extra}}, smtt_info())


def parse(code: str):
    return _parse(code, "schedule")


# ---- the library -------------------------------------------------------------------------
def test_library_is_mined_from_the_problems_seeds_and_typed():
    codes = seed_codes("smtt")
    assert {o for o, _ in codes} >= {"seed:edd", "seed:mdd", "seed:wmdd"}
    lib = BlockLibrary.from_codes(codes, parse)
    texts = {b.text for b in lib.blocks}
    assert {"d_j - t - p_j", "min(slack, 0.0)", "d_j - min(slack, 0.0)"} <= texts
    for b in lib.blocks:  # every block is a scalar expression that parses, with its names
        e = ast.parse(b.text, mode="eval").body
        assert not isinstance(e, (ast.Name, ast.Constant))
        assert b.names == {n.id for n in ast.walk(e) if isinstance(n, ast.Name)}
    assert seed_codes("no_such_problem") == []


def test_blocks_are_offered_only_where_their_names_are_bound():
    lib = BlockLibrary.from_codes(seed_codes("smtt"), parse)
    assert any("w_j" in b.names for b in lib.blocks)  # from the weighted seeds
    src, facts = parse(EDD)
    scalar_sites = [s for s in facts.values if s.kind in SCALARS]
    assert scalar_sites
    for s in scalar_sites:
        fit = lib.fitting(s, facts)
        assert all("w_j" not in b.names for b in fit)  # the unweighted block has no w_j
        assert all(b.names <= s.avail | facts.globals | BUILTINS for b in fit)
    # `slack` is bound only after its own statement: the slack line cannot use slack blocks
    slack_rhs = next(s for s in scalar_sites if src.segment(s.node) == "d_j - t - p_j")
    assert all("slack" not in b.names for b in lib.fitting(slack_rhs, facts))
    assert any("slack" in b.names for s in scalar_sites for b in lib.fitting(s, facts))


# ---- growth operators --------------------------------------------------------------------
@pytest.mark.parametrize("op", GROWTH_OPS)
def test_growth_operators_give_valid_python_in_the_block_only(op):
    made = 0
    for code in (EDD, MDD):
        for seed in range(10):
            prop = propose(only(op), context(view(1, code), seed, PROBLEM))
            if prop.code is None:
                continue
            assert prop.operator == op and prop.proposer == "mutation"
            a, b = split_blocks(code), split_blocks(prop.code)
            assert (a.prefix, a.suffix) == (b.prefix, b.suffix) and a.block != b.block
            ast.parse(prop.code)
            made += 1
    assert made >= 16, made


@pytest.mark.parametrize("op", GROWTH_OPS)
def test_growth_operators_are_deterministic_given_the_seed(op):
    for seed in (0, 3, 7):
        a = propose(only(op), context(view(1, MDD), seed, PROBLEM))
        b = propose(only(op), context(view(1, MDD), seed, PROBLEM))
        assert (a.code, a.operator) == (b.code, b.operator)
    kids = {propose(only(op), context(view(1, MDD), s, PROBLEM)).code for s in range(8)}
    assert len(kids) >= 5


def test_grown_children_run_and_keep_scalars_scalar():
    """Blocks enter scalar sites only: the children compile with numba and give permutations."""
    statuses = []
    for seed in range(6):
        prop = propose(only(*GROWTH_OPS), context(view(1, MDD), seed, PROBLEM))
        r = evaluate_in_process(PROBLEM, prop.code, "train", jit=seed < 2)
        statuses.append((prop.operator, r.status, r.error))
    assert sum(s == "ok" for _, s, _ in statuses) >= 5, statuses


def test_elite_blocks_come_from_the_best_programs_of_the_history():
    better = MDD.replace("v = d_j - min(slack, 0.0)", "v = d_j - min(slack, 0.0) + 0.1 * p_j * p_j")
    hist = [view(1, EDD, score=-10.0), view(2, better, score=-1.0)]
    bp = only("block_swap")
    ctx = context(hist[0], 0, PROBLEM, history=hist)
    assert "0.1 * p_j * p_j" in {b.text for b in bp._library(ctx).blocks}
    none = only("block_swap", elite_blocks=0)
    assert "0.1 * p_j * p_j" not in {b.text for b in none._library(ctx).blocks}
    assert "d_j - min(slack, 0.0)" in {b.text for b in none._library(ctx).blocks}  # seeds
    own = only("block_swap", seed_blocks=False)  # the ablation: no other seed's blocks
    texts = {b.text for b in own._library(ctx).blocks}
    assert "0.1 * p_j * p_j" in texts and "min(slack, 0.0)" in texts  # from program 2 itself
    assert not any("w_j" in t for t in texts)  # wmdd's blocks are not there


# ---- novelty before evaluation -----------------------------------------------------------
def test_canonical_form_merges_algebraic_variants_only():
    base = "def f(a, b):\n    return max(a, b) + 2 * a\n"
    same = ["def f(a, b):\n    # a comment\n    return a * 2.0 + max(b, a)\n",
            "def f(a, b):\n    return (max(a, b) + 2 * a) * 1.0\n",
            "def f(a, b):\n    return max(a, b) + 0 + 2 * a - 0.0\n",
            "def f(a, b):\n    return --max(a, b) + 2 * +a\n"]
    differ = ["def f(a, b):\n    return min(a, b) + 2 * a\n",
              "def f(a, b):\n    return max(a, b) - 2 * a\n",
              "def f(a, b):\n    return max(a, b) + 2.5 * a\n",
              "def f(a, b):\n    return b - a\n"]
    assert all(canonical(s) == canonical(base) for s in same)
    assert len({canonical(d) for d in differ} | {canonical(base)}) == len(differ) + 1
    assert canonical("def f(:\n") == canonical("def f(:\n")  # does not parse: still a hash


def test_novelty_rejects_algebraic_repeats_before_evaluation():
    """With the history holding every algebraic variant of min <-> max swaps of the parent,
    op_swap children never repeat one; without the check some are proposed again."""
    parent = MDD.replace("v = d_j - min(slack, 0.0)", "v = max(d_j, t + p_j)")
    variant = parent.replace("v = max(d_j, t + p_j)", "v = min(p_j + t, d_j) * 1.0")
    hist = [view(1, parent), view(2, variant, proposer="mutation")]
    repeats = {True: 0, False: 0}
    for novelty in (True, False):
        for seed in range(24):
            prop = propose(only("op_swap", novelty=novelty),
                           context(hist[0], seed, PROBLEM, history=hist))
            if prop.code is not None and canonical(prop.code) == canonical(variant):
                repeats[novelty] += 1
    assert repeats[True] == 0 and repeats[False] > 0, repeats


# ---- behaviour probe ---------------------------------------------------------------------
def test_probe_digests_equal_for_rank_preserving_changes_only():
    mdd_plus_t = MDD.replace("v = d_j - min(slack, 0.0)", "v = d_j - min(slack, 0.0) + t")
    edd = EDD
    broken = MDD.replace("v = d_j - min(slack, 0.0)", "v = no_such_name")
    res = probe_in_sandbox(PROBLEM, {"entry": "schedule", "codes": [MDD, mdd_plus_t, edd, broken]})
    a, b, c, d = res["digests"]
    assert a == b and a != c and d is None  # + t shifts every job alike: the same orders


def test_probe_rejects_neutral_children_before_evaluation():
    """With the probe on, no child gives its parent's outputs on the gate set; without it some
    do (MDD's block has many rank-preserving variants: + t, * c, ...)."""
    neutral = {True: 0, False: 0}
    calls = 0
    for probe in (True, False):
        for seed in range(16):
            sandbox = FakeSandbox(PROBLEM)
            prop = propose(only("block_grow", "expr_wrap", probe=probe),
                           context(view(1, MDD), seed, PROBLEM, sandbox=sandbox))
            calls += sandbox.calls if probe else 0
            if prop.code is None:
                continue
            d = probe_in_sandbox(PROBLEM, {"entry": "schedule", "codes": [MDD, prop.code]})
            neutral[probe] += d["digests"][0] == d["digests"][1]
    assert neutral[True] == 0 and neutral[False] > 0, neutral
    assert calls >= 16  # one probe call per proposal at least (the parent's digest is cached)


def test_probe_answers_are_untrusted_and_failures_accept_the_child():
    class Liar(FakeSandbox):
        async def call(self, func, payload):
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("worker died")
            return {"digests": "not a list of digests"}

    for seed in range(3):
        prop = propose(only("block_grow", probe=True),
                       context(view(1, MDD), seed, PROBLEM, sandbox=Liar(PROBLEM)))
        assert prop.code is not None and prop.operator == "block_grow"
