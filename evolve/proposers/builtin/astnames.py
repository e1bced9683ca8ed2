"""Name-level helpers over Python ASTs: literals, the names an expression reads, targets."""

from __future__ import annotations

import ast
import builtins
from typing import Any, cast

from evolve.proposers.builtin.kinds import NP_ARRAY_ARGS, VALUE_ARG_CALLS, call_name

BUILTINS = frozenset(dir(builtins))
ORDER_OPS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def is_literal(e: ast.AST) -> bool:
    """A numeric literal: `2.5`, `3` or `-0.5` (booleans excluded)."""
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd)):
        e = e.operand
    return isinstance(e, ast.Constant) and isinstance(e.value, (int, float)) \
        and not isinstance(e.value, bool)


def literal_value(e: ast.AST) -> float:
    if isinstance(e, ast.UnaryOp):
        v = literal_value(e.operand)
        return -v if isinstance(e.op, ast.USub) else v
    return float(cast(Any, e).value)  # a numeric ast.Constant by construction


def names_in(e: ast.AST, skip_slices: bool = False) -> set[str]:
    """Names an expression reads, not counting sizes (`x.shape`, `len(x)`) or argsort inputs."""
    out: set[str] = set()

    def rec(n: ast.AST) -> None:
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Attribute):
            if n.attr not in ("shape", "size", "ndim"):
                rec(n.value)
        elif isinstance(n, ast.Call):
            if call_name(n)[1] in VALUE_ARG_CALLS:
                return
            for a in n.args:
                rec(a)
        elif isinstance(n, ast.Subscript):
            rec(n.value)
            if not skip_slices:
                rec(n.slice)
        else:
            for c in ast.iter_child_nodes(n):
                rec(c)

    rec(e)
    return out


def free_names(e: ast.AST) -> set[str]:
    """Every name an expression reads (for "is it defined here" checks)."""
    return {n.id for n in ast.walk(e) if isinstance(n, ast.Name)}


def target_names(t: ast.AST) -> list[str]:
    if isinstance(t, ast.Name):
        return [t.id]
    if isinstance(t, (ast.Tuple, ast.List)):
        return [n for x in t.elts for n in target_names(x)]
    return []


def array_call(n: ast.Call, np_alias: str | None) -> bool:
    """len(x), np.argsort(x), np.sum(x), ...: calls whose first argument is an array."""
    mod, name = call_name(n)
    return (mod is None and name == "len") or (mod is not None and mod == np_alias
                                               and name in NP_ARRAY_ARGS)


def arith_names(e: ast.AST) -> list[str]:
    """Names combined by arithmetic only (`p / w` -> p, w): they share the expression's shape."""
    if isinstance(e, ast.Name):
        return [e.id]
    if isinstance(e, ast.BinOp):
        return arith_names(e.left) + arith_names(e.right)
    if isinstance(e, ast.UnaryOp):
        return arith_names(e.operand)
    return []


def compared(body: list[ast.stmt]) -> set[str]:
    """Names read by order comparisons: the values a rule decides on."""
    return {n for st in body for c in ast.walk(st) if isinstance(c, ast.Compare)
            and all(isinstance(o, ORDER_OPS) for o in c.ops) for n in free_names(c)}


def pairs(st: ast.Assign | ast.AnnAssign | ast.AugAssign
          ) -> list[tuple[ast.expr, ast.expr | None]]:
    """(target, value) pairs of an assignment; `a, b = x, y` splits into (a, x) and (b, y)."""
    targets = st.targets if isinstance(st, ast.Assign) else [st.target]
    v = st.value
    out: list[tuple[ast.expr, ast.expr | None]] = []
    for t in targets:
        if isinstance(t, (ast.Tuple, ast.List)) and isinstance(v, (ast.Tuple, ast.List)) and \
                len(t.elts) == len(v.elts) and not any(isinstance(e, ast.Starred) for e in t.elts):
            out += list(zip(t.elts, v.elts))
        else:
            out.append((t, v))
    return out


def base_name(t: ast.AST) -> str | None:
    while isinstance(t, ast.Subscript):
        t = t.value
    return t.id if isinstance(t, ast.Name) else None


def own_stmts(body: list[ast.stmt]):
    """Statements of a function body, nested blocks included, nested defs excluded."""
    for st in body:
        yield st
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            yield from own_stmts(getattr(st, name, []) or [])


def module_globals(module: ast.Module) -> tuple[set[str], str | None, str | None]:
    names: set[str] = set()
    np_alias = math_alias = None
    for st in module.body:
        if isinstance(st, (ast.Import, ast.ImportFrom)):
            for a in st.names:
                bound = a.asname or a.name.split(".")[0]
                names.add(bound)
                if isinstance(st, ast.Import) and a.name == "numpy":
                    np_alias = bound
                if isinstance(st, ast.Import) and a.name == "math":
                    math_alias = bound
        elif isinstance(st, (ast.FunctionDef, ast.ClassDef)):
            names.add(st.name)
        elif isinstance(st, (ast.Assign, ast.AnnAssign)):
            for t in st.targets if isinstance(st, ast.Assign) else [st.target]:
                names.update(target_names(t))
    return names, np_alias, math_alias
