"""Mutation sites of an EVOLVE-BLOCK: value expressions, literals, comparisons, loop statements.

Only "value context" expressions become sites: anything flowing into an index (see
inference.py) keeps its exact text.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Generic, TypeVar

from evolve.proposers.builtin.astnames import (
    ORDER_OPS,
    base_name,
    compared,
    free_names,
    is_literal,
    literal_value,
    names_in,
    pairs,
    target_names,
)
from evolve.proposers.builtin.inference import Around, FuncFacts, Inference
from evolve.proposers.builtin.kinds import ARRAYS, SCALARS, VALUE_ARG_CALLS, call_name

__all__ = ["BlockFacts", "FuncFacts", "Site", "analyze", "is_literal", "literal_value"]

NUMERIC = SCALARS + ARRAYS
_SKIP = (ast.Lambda, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp, ast.JoinedStr)


N = TypeVar("N", bound=ast.AST)


@dataclass
class Site(Generic[N]):
    """An expression (or statement) that an operator may change, with the names bound there."""

    node: N
    kind: str | None
    func: FuncFacts
    avail: frozenset[str]
    body: list[ast.stmt] | None = None  # loop statements: the body list holding the statement
    divisor: bool = False  # the right operand of / // %: whatever replaces it must not be 0
    depth: int = 0  # loops around it: the dispatching core of a rule sits deepest
    key: bool = False  # feeds a decision: a compared value, an argsort key, a helper's result


@dataclass
class BlockFacts:
    """Everything the operators need to know about one block."""

    funcs: list[FuncFacts]
    values: list[Site[ast.expr]]  # numeric expressions in value context
    literals: list[Site[ast.expr]]  # numeric literals in value context (constants to tune)
    compares: list[Site[ast.Compare]]  # order comparisons between values
    loop_stmts: list[Site[ast.stmt]]  # statements in loop bodies that may be deleted / duplicated
    globals: set[str]  # module-level names of the whole program (imports, defs, constants)
    np: str | None  # alias under which numpy is imported
    math: str | None

    def func(self, name: str) -> FuncFacts | None:
        return next((f for f in self.funcs if f.name == name), None)


class _Sites(Inference):
    """Walks the block's statements after inference: sites with the names bound at each."""

    def __init__(self, tree: ast.Module, module: ast.Module, around: Around | None = None,
                 known_returns: dict[str, str | None] | None = None, entry: str = ""):
        super().__init__(tree, module, around, known_returns, entry)
        self.values: list[Site[ast.expr]] = []
        self.literals: list[Site[ast.expr]] = []
        self.compares: list[Site[ast.Compare]] = []
        self.loop_stmts: list[Site[ast.stmt]] = []
        for f in self.funcs:
            self._env = self._kind_env(f)
            self._f = f
            outer = around if f.node is None else None  # the block's code nests in `around`
            self._depth = outer.depth if outer is not None else 0
            self._key = False
            self._decisive = compared(self.bodies[f.name]) - f.tainted
            if outer is not None:
                self._decisive |= outer.decisive
            self._body(self.bodies[f.name], frozenset(f.args),
                       outer is not None and outer.depth > 0)

    def facts(self) -> BlockFacts:
        return BlockFacts(self.funcs, self.values, self.literals, self.compares, self.loop_stmts,
                          self.globals | set(self.defs), self.np, self.math)

    # ---- sites ----------------------------------------------------------------------------
    def _body(self, body: list[ast.stmt], avail: frozenset[str], in_loop: bool) -> None:
        bound = set(avail)
        for st in body:
            self._stmt(st, body, frozenset(bound), in_loop)
            if isinstance(st, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = st.targets if isinstance(st, ast.Assign) else [st.target]
                for x in targets:
                    bound.update(target_names(x))

    def _stmt(self, st: ast.stmt, body: list, avail: frozenset[str], in_loop: bool) -> None:
        f, t = self._f, self._f.tainted
        self.at_line.setdefault(st.lineno, (avail, self._depth, self._decisive))
        if isinstance(st, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = st.targets if isinstance(st, ast.Assign) else [st.target]
            for x, v in pairs(st):
                for sub in ast.walk(x):
                    if isinstance(sub, ast.Subscript):
                        self._expr(sub.slice, True, avail)
                if v is not None:
                    self._key = bool(set(target_names(x)) & self._decisive)
                    self._expr(v, base_name(x) in t or bool(set(target_names(x)) & t), avail)
                    self._key = False
            name = targets[0].id if len(targets) == 1 and isinstance(targets[0], ast.Name) else None
            if in_loop and name and name not in t:
                aug = isinstance(st, ast.AugAssign)
                reads_self = aug or (st.value is not None and name in names_in(st.value))
                if aug or name in avail or reads_self:
                    self.loop_stmts.append(Site(st, "dup" if reads_self else "del", f, avail, body,
                                               depth=self._depth))
        elif isinstance(st, ast.Return) and st.value is not None:
            # what a function hands back keeps its type: float values may change, ints / bools /
            # the problem's outputs (the entry's arrays) are computed elsewhere
            parts = st.value.elts if isinstance(st.value, ast.Tuple) else [st.value]
            for v in parts:
                k = self._env.kind(v)
                fixed = k in ("i", "I", "b", "B") or (f.name == self.entry and k in ("A", "M"))
                self._key = f.name != self.entry
                self._expr(v, fixed, avail)
                self._key = False
        elif isinstance(st, ast.Expr):
            self._expr(st.value, False, avail)
        elif isinstance(st, ast.For):
            self._expr(st.iter, True, avail)
            self._depth += 1
            self._body(st.body, avail | set(target_names(st.target)), True)
            self._depth -= 1
            self._body(st.orelse, avail, in_loop)
        elif isinstance(st, ast.While):
            self._expr(st.test, False, avail)
            self._depth += 1
            self._body(st.body, avail, True)
            self._depth -= 1
            self._body(st.orelse, avail, in_loop)
        elif isinstance(st, ast.If):
            self._expr(st.test, False, avail)
            self._body(st.body, avail, in_loop)
            self._body(st.orelse, avail, in_loop)

    def _expr(self, e: ast.expr, idx: bool, avail: frozenset[str],
              divisor: bool = False) -> None:
        if isinstance(e, _SKIP):
            return
        f = self._f
        k = self._env.kind(e)
        if isinstance(e, ast.Subscript) and k == "f" and isinstance(e.ctx, ast.Load):
            key = ast.unparse(e)
            f.atoms.setdefault(key, (e, frozenset(free_names(e) - self.globals)))
        if not idx and k in NUMERIC and not (isinstance(e, ast.Name) and e.id in f.tainted):
            site = Site(e, k, f, avail, divisor=divisor, depth=self._depth, key=self._key)
            self.values.append(site)
            if is_literal(e):
                self.literals.append(site)
                return
        if isinstance(e, ast.Subscript):
            self._expr(e.slice, True, avail)
        elif isinstance(e, ast.Call):
            _mod, name = call_name(e)
            index_args = {id(a) for a in self._index_args(e)}
            value_args = name in VALUE_ARG_CALLS
            outer_key, self._key = self._key, self._key or name in ("argsort", "argmin", "argmax",
                                                               "lexsort")
            for a in e.args:
                self._expr(a, (id(a) in index_args or idx) and not value_args, avail)
            self._key = outer_key
        elif isinstance(e, ast.Compare):
            operands = [e.left, *e.comparators]
            exposed = any(names_in(o, skip_slices=True) & f.tainted for o in operands)
            if not idx and not exposed and all(isinstance(o, ORDER_OPS) for o in e.ops):
                self.compares.append(Site(e, "b", f, avail, depth=self._depth, key=True))
            outer_key, self._key = self._key, True
            for o in operands:
                self._expr(o, idx or exposed, avail)
            self._key = outer_key
        elif isinstance(e, ast.BinOp):
            self._expr(e.left, idx, avail)
            self._expr(e.right, idx, avail, isinstance(e.op, (ast.Div, ast.FloorDiv, ast.Mod)))
        elif isinstance(e, (ast.UnaryOp, ast.BoolOp, ast.IfExp, ast.Tuple, ast.List)):
            for c in ast.iter_child_nodes(e):
                if isinstance(c, ast.expr):
                    self._expr(c, idx, avail)


def analyze(tree: ast.Module, module: ast.Module, block_line: int = 0,
            entry: str = "") -> BlockFacts:
    """Facts of a block `tree` inside the whole program `module` (imports, and the fixed
    function around the block when its first line `block_line` sits inside one); the `entry`
    function's returned arrays are the problem's outputs and stay as they are."""
    mine = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    fixed: list[ast.stmt] = [n for n in module.body
                             if isinstance(n, ast.FunctionDef) and n.name not in mine]
    known = _Sites(ast.Module(fixed, []), module).returns if fixed else {}
    fns = [n for n in ast.walk(module) if isinstance(n, ast.FunctionDef)
           and n.lineno < block_line <= (n.end_lineno or n.lineno)]
    around = None
    if fns and tree.body:
        fn = max(fns, key=lambda n: n.lineno)
        outer = _Sites(ast.Module([fn], []), module, known_returns=known)
        first = block_line + tree.body[0].lineno - 1  # the block's first statement, in `module`
        avail, depth, decisive = outer.at_line.get(first, (frozenset(), 0, set()))
        around = Around(outer.funcs[0], avail, depth, decisive)
    return _Sites(tree, module, around, known, entry).facts()
