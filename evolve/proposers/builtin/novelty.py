"""Novelty before evaluation: a child equal to a known program up to algebra is never sent.

`canonical(code)` rewrites the program's AST into a normal form (comments, docstrings and layout
gone as in program.normalize, and also: operands of + and * and the arguments of min / max sorted,
int and float literals of equal value merged, x * 1, x + 0, x - 0, x / 1, --x and +x dropped) and
hashes it. `NoveltyFilter` keeps the forms of the parent and of every program in the history (the
deterministic view, so a resumed run rejects alike). Parsing only: nothing here runs a program.
"""

from __future__ import annotations

import ast
import hashlib

from evolve.program import code_hash
from evolve.proposers.base import ProgramView

_COMMUTATIVE = (ast.Add, ast.Mult)
_SORTABLE_CALLS = {"min", "max", "minimum", "maximum"}


def _num(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return float(node.value)
    return None


class _Canon(ast.NodeTransformer):
    """Bottom-up rewrite to the normal form (children first, so sorting sees normal children)."""

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        v = _num(node)
        if v is not None and v.is_integer() and abs(v) < 2**53:
            return ast.Constant(float(v))  # 2 and 2.0 give the same numbers in a value context
        return node

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.UAdd):
            return node.operand
        if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.UnaryOp) \
                and isinstance(node.operand.op, ast.USub):
            return node.operand.operand
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        left, right = _num(node.left), _num(node.right)
        if (isinstance(node.op, ast.Mult) and right == 1.0) or \
                (isinstance(node.op, (ast.Add, ast.Sub)) and right == 0.0) or \
                (isinstance(node.op, ast.Div) and right == 1.0):
            return node.left
        if (isinstance(node.op, ast.Mult) and left == 1.0) or \
                (isinstance(node.op, ast.Add) and left == 0.0):
            return node.right
        if isinstance(node.op, _COMMUTATIVE):
            a, b = sorted((node.left, node.right), key=ast.dump)
            node.left, node.right = a, b
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        if name in _SORTABLE_CALLS and len(node.args) == 2 and not node.keywords:
            node.args = sorted(node.args, key=ast.dump)
        return node


def _drop_docstrings(tree: ast.AST) -> None:
    """As program.normalize does (without its unparse: this runs once per proposal)."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            v = body[0].value
            if isinstance(v, ast.Constant) and isinstance(v.value, str):
                node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]


def canonical(code: str) -> str:
    """Hash of the program's normal form; falls back to code_hash when it does not parse."""
    try:
        tree = ast.parse(code)
        _drop_docstrings(tree)
        text = ast.dump(_Canon().visit(tree), annotate_fields=False)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return code_hash(code)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class NoveltyFilter:
    """Normal forms of the programs a proposal must not repeat (parent and history)."""

    def __init__(self) -> None:
        self._forms: dict[int, str] = {}  # program id -> normal form (programs never change)

    def known(self, parent: ProgramView, history: list[ProgramView]) -> set[str]:
        for p in [parent, *history]:
            if p.id not in self._forms:
                self._forms[p.id] = canonical(p.code)
        return {self._forms[p.id] for p in [parent, *history]}
