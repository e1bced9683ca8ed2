"""Built-in proposer: what the static analysis lets operators touch (values, never indices)."""

from __future__ import annotations

import ast

import numpy as np

from evolve.proposers.builtin.exprgen import ExprGen
from evolve.proposers.builtin.scope import analyze
from evolve.proposers.builtin.source import BlockSource
from tests.builtin_toys import MDD, atc

TUPLES = '''import numpy as np

# EVOLVE-BLOCK-START
def schedule(p, d, w):
    n = p.shape[0]
    done = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    t = 0.0
    for pos in range(n):
        best, best_v = -1, 0.5
        for j in range(n):
            if done[j]:
                continue
            v = max(p[j], d[j] - t) / w[j]
            if best < 0 or v < best_v:
                best, best_v = j, v
        done[best] = True
        order[pos] = best
        t += p[best]
    return order
# EVOLVE-BLOCK-END
'''

NESTED = '''import numpy as np


def solve(x):
    n = x.shape[0]
    key = np.empty(n)
    for i in range(n):
        # EVOLVE-BLOCK-START
        key[i] = 0.1 * x[i] + 1.0 * (i / n)
        # EVOLVE-BLOCK-END
    return np.argsort(key)
'''


def facts_of(code: str):
    src = BlockSource(code)
    return src, analyze(src.tree, src.module, src.block_line)


def texts(sites) -> list[str]:
    return [ast.unparse(s.node) for s in sites]


def test_indices_are_tainted_and_values_are_sites():
    _, f = facts_of(MDD)
    fn = f.func("schedule")
    assert {"n", "k", "j", "best", "order", "done"} <= fn.tainted
    assert "t" not in fn.tainted and "v" not in fn.tainted
    values = texts(f.values)
    assert "max(d[j], t + p[j])" in values and "p[best]" in values
    assert not {"best", "j", "n", "k", "-1"} & set(values)
    assert texts(f.compares) == ["v < best_v"]


def test_tuple_assignments_split_into_index_and_value_parts():
    _, f = facts_of(TUPLES)
    assert texts(f.literals) == ["0.0", "0.5"]  # t = 0.0 and best_v; -1 initialises an index
    assert texts(f.compares) == ["v < best_v"]  # `best < 0` compares an index
    assert f.func("schedule").kinds["best_v"] == "f"


def test_helper_arguments_take_the_kinds_their_callers_pass():
    _, f = facts_of(atc(2.0))
    pri = f.func("priority")
    assert [pri.kinds[a] for a in pri.args] == ["f", "f", "f", "f"]
    assert f.func("schedule").kinds["v"] == "f"


def test_a_block_inside_a_function_uses_the_enclosing_kinds():
    _, f = facts_of(NESTED)
    top = f.func("")
    assert top.kinds["x"] == "A" and {"i", "n"} <= top.tainted
    assert "x[i]" in texts(f.values) and "i" not in texts(f.values)


def test_primitives_are_used_only_where_their_names_are_bound():
    _, f = facts_of(MDD)
    gen = ExprGen(f, np.random.default_rng(0), ("d[j] - t", "pbar * 2.0", "np.tanh"), depth=2)
    site = next(s for s in f.values if ast.unparse(s.node) == "max(d[j], t + p[j])")
    terms = gen.terminals(site, arrays=False)
    assert "d[j] - t" in terms and "pbar * 2.0" not in terms
    assert gen.prim_funcs == ["np.tanh"]
    made = {gen.expr(site, f.values) for _ in range(200)}
    assert any("np.tanh(" in m for m in made) and any("d[j] - t" in m for m in made)
    assert not any("pbar" in m for m in made)
    for m in made:
        ast.parse(m, mode="eval")
