"""Statement lists of a block and what a statement assigns (for operators that add statements)."""

from __future__ import annotations

import ast

from evolve.proposers.builtin.astnames import free_names
from evolve.proposers.builtin.inference import FuncFacts
from evolve.proposers.builtin.source import BlockSource


def bodies(src: BlockSource, f: FuncFacts) -> list[list[ast.stmt]]:
    """Every statement list of a function of the block (of the block's own code for None):
    its body and the bodies of the loops and branches in it, outermost first."""
    top = f.node.body if f.node is not None else \
        [s for s in src.tree.body if not isinstance(s, ast.FunctionDef)]
    out, todo = [], [top]
    while todo:
        body = todo.pop(0)
        out.append(body)
        for st in body:
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for name in ("body", "orelse", "finalbody"):
                inner = getattr(st, name, None)
                if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                    todo.append(inner)
    return out


def assigned(st: ast.stmt) -> str | None:
    """The one plain name a statement assigns (`x = e`, `x op= e`), else None."""
    if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
        return st.targets[0].id
    if isinstance(st, ast.AugAssign) and isinstance(st.target, ast.Name):
        return st.target.id
    return None


def is_update(st: ast.stmt) -> bool:
    """`x op= e`, or `x = e` that reads x: the statement changes x rather than defining it."""
    name = assigned(st)
    return isinstance(st, ast.AugAssign) or (name is not None and
                                             name in free_names(getattr(st, "value", st)))
