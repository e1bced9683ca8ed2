"""Size gates: an update's effect weighted by a ramp in a size of the input.

One rule rarely suits every input size: a term that pays on large instances can cost on small
ones (MDDC's long-job factor does on n = 20 SMTT instances). A gate keeps the term and weights its
effect by `w`, a ramp in an integer size bound at the update (`n`, `n_left`, ...):

    v *= 1.0 + T    ->  v *= 1.0 + w * T
    v *= e          ->  v *= 1.0 + w * (e - 1.0)
    v += e          ->  v += w * e               (also -=)
    v = f(v)        ->  v = v + w * (f(v) - v)

with w = min(s / c, 1.0) (the term grows in with the size) or max(1.0 - s / c, 0.0) (it fades
out); c is a literal that constant tuning then adjusts.
"""

from __future__ import annotations

import ast
import copy

import numpy as np

from evolve.proposers.builtin.exprgen import fmt_number
from evolve.proposers.builtin.inference import FuncFacts
from evolve.proposers.builtin.scope import BlockFacts
from evolve.proposers.builtin.source import BlockSource, Edit, end_position
from evolve.proposers.builtin.statements import assigned, bodies, is_update

SHAPES = ("up", "down")


def sizes(f: FuncFacts, avail: frozenset[str]) -> list[str]:
    """Integer values bound at a site that can serve as a size (not loop counters, not ids)."""
    return f.terminal_names(avail, ("i",))


def ramp(size: str, c: float, shape: str) -> ast.expr:
    """The weight: min(size / c, 1.0) ("up") or max(1.0 - size / c, 0.0) ("down")."""
    c_text = fmt_number(c, False)
    text = f"min({size} / {c_text}, 1.0)" if shape == "up" else \
        f"max(1.0 - {size} / {c_text}, 0.0)"
    return ast.parse(text, mode="eval").body


def _one(e: ast.expr) -> bool:
    return isinstance(e, ast.Constant) and not isinstance(e.value, bool) and e.value == 1


def gated(st: ast.stmt, weight: ast.expr) -> ast.stmt | None:
    """The update `st` with its effect weighted by `weight`; None when `st` is not an update."""
    w = copy.deepcopy(weight)
    if isinstance(st, ast.AugAssign) and isinstance(st.target, ast.Name):
        e = copy.deepcopy(st.value)
        if isinstance(st.op, ast.Mult):
            if isinstance(e, ast.BinOp) and isinstance(e.op, ast.Add) and _one(e.left):
                term = e.right
            else:
                term = ast.BinOp(e, ast.Sub(), ast.Constant(1.0))
            value: ast.expr = ast.BinOp(ast.Constant(1.0), ast.Add(),
                                        ast.BinOp(w, ast.Mult(), term))
        elif isinstance(st.op, (ast.Add, ast.Sub)):
            value = ast.BinOp(w, ast.Mult(), e)
        else:
            return None
        return ast.fix_missing_locations(ast.AugAssign(ast.Name(st.target.id, ast.Store()),
                                                       st.op, value))
    if isinstance(st, ast.Assign) and len(st.targets) == 1 and \
            isinstance(st.targets[0], ast.Name):
        x = st.targets[0].id
        if not is_update(st):  # a definition (`v = e` not reading v) has no effect to weigh
            return None
        delta = ast.BinOp(copy.deepcopy(st.value), ast.Sub(), ast.Name(x, ast.Load()))
        value = ast.BinOp(ast.Name(x, ast.Load()), ast.Add(), ast.BinOp(w, ast.Mult(), delta))
        return ast.fix_missing_locations(ast.Assign([ast.Name(x, ast.Store())], value))
    return None


def random_gate(st: ast.stmt, names: list[str], rng: np.random.Generator) -> ast.stmt | None:
    """`st` gated by a ramp in one of `names`, with a random shape and c = 10 .. 500."""
    if not names:
        return None
    size = names[int(rng.integers(len(names)))]
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    c = float(np.round(10.0 ** rng.uniform(1.0, 2.7)))
    return gated(st, ramp(size, c, shape))


def gate_sites(src: BlockSource, facts: BlockFacts) -> list[tuple[ast.stmt, list[str]]]:
    """The block's float updates (alone on their lines) with the sizes bound at each."""
    by_node = {id(s.node): s for s in facts.values}
    out = []
    for f in facts.funcs:
        for body in bodies(src, f):
            for st in body:
                x = assigned(st)
                site = by_node.get(id(getattr(st, "value", None)))
                if x is None or site is None or not is_update(st) or f.kinds.get(x) != "f" or \
                        x in f.tainted or not src.alone_on_lines(st):
                    continue
                names = sizes(f, site.avail)
                if names:
                    out.append((st, names))
    return out


def update_gate(src: BlockSource, facts: BlockFacts, rng: np.random.Generator) -> list[Edit] | None:
    """One of the block's updates gated by a random ramp in a size (see the module doc)."""
    options = gate_sites(src, facts)
    if not options:
        return None
    st, names = options[int(rng.integers(len(options)))]
    new = random_gate(st, names, rng)
    if new is None:
        return None
    a, b = src.line_span(st.lineno, end_position(st)[0])
    line = src.text[a:b]
    indent = line[: len(line) - len(line.lstrip())]
    return [Edit(a, b, f"{indent}{ast.unparse(new)}\n")]
