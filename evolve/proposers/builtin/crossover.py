"""Crossover: transplant a compatible sub-tree of a mate's block into the parent's block."""

from __future__ import annotations

import ast
from collections.abc import Callable

import numpy as np

from evolve.proposers.builtin.astnames import BUILTINS, free_names
from evolve.proposers.builtin.scope import BlockFacts, Site
from evolve.proposers.builtin.source import BlockSource, Edit


def _scalarish(kind: str | None) -> str:
    return "array" if kind in ("A", "M") else "scalar"


def _role(stmt: ast.stmt) -> str | None:
    """What a statement computes, comparable across programs: `x =`, `x +=`, `return`."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        return f"{ast.unparse(stmt.targets[0])} ="
    if isinstance(stmt, ast.AugAssign):
        return f"{ast.unparse(stmt.target)} {type(stmt.op).__name__}="
    if isinstance(stmt, ast.Return):
        return "return"
    return None


def _roles(src: BlockSource, facts: BlockFacts) -> dict[tuple[str, str], list[Site]]:
    """(function, role) -> value sites that are a whole statement's right-hand side."""
    by_node = {id(s.node): s for s in facts.values}
    out: dict[tuple[str, str], list[Site]] = {}
    for f in facts.funcs:
        body = f.node.body if f.node else [s for s in src.tree.body
                                           if not isinstance(s, ast.FunctionDef)]
        for st in (n for b in body for n in ast.walk(b) if isinstance(n, ast.stmt)):
            role = _role(st)
            value = getattr(st, "value", None)
            if role and value is not None and id(value) in by_node:
                out.setdefault((f.name, role), []).append(by_node[id(value)])
    return out


class Crossover:
    """Applies one named crossover operator (parent <- mate), drawing from `rng` only."""

    def __init__(self, src: BlockSource, facts: BlockFacts, mate: BlockSource,
                 mate_facts: BlockFacts, rng: np.random.Generator):
        self.src, self.facts = src, facts
        self.mate, self.mate_facts = mate, mate_facts
        self.rng = rng
        self.ops: dict[str, Callable[[], list[Edit] | None]] = {
            "xo_function": self.xo_function,
            "xo_statement": self.xo_statement,
            "xo_subtree": self.xo_subtree,
        }

    def pick(self, items: list):
        return items[int(self.rng.integers(len(items)))]

    def _fits(self, donor: ast.AST, site: Site) -> bool:
        """The donor only reads names bound at the site (or globals / builtins of the parent)."""
        return free_names(donor) <= site.avail | self.facts.globals | BUILTINS

    # ---- whole functions ------------------------------------------------------------------
    def xo_function(self) -> list[Edit] | None:
        """A function replaced by the mate's same-named one (same parameters, names resolvable)."""
        pairs = []
        for f in self.facts.funcs:
            g = self.mate_facts.func(f.name)
            if f.node is None or g is None or g.node is None:
                continue
            if ast.dump(f.node.args) != ast.dump(g.node.args):
                continue
            if ast.dump(f.node) == ast.dump(g.node):
                continue
            local = set(g.args) | {n.id for n in ast.walk(g.node)
                                   if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            if free_names(g.node) - local <= self.facts.globals | BUILTINS:
                pairs.append((f.node, g.node))
        if not pairs:
            return None
        mine, theirs = self.pick(pairs)
        a, b = self.src.line_span(_first_line(mine), mine.end_lineno)
        ma, mb = self.mate.line_span(_first_line(theirs), theirs.end_lineno)
        text = self.mate.text[ma:mb]
        if not text.endswith("\n"):
            text += "\n"
        return [Edit(a, b, text)]

    # ---- matched statements ---------------------------------------------------------------
    def xo_statement(self) -> list[Edit] | None:
        """The right-hand side of a statement with the same role (`x =`, `return`) in the mate."""
        mine = _roles(self.src, self.facts)
        theirs = _roles(self.mate, self.mate_facts)
        pairs = []
        for key in sorted(set(mine) & set(theirs)):
            for s in mine[key]:
                for t in theirs[key]:
                    if _scalarish(s.kind) == _scalarish(t.kind) and self._fits(t.node, s) and \
                            ast.dump(s.node) != ast.dump(t.node):
                        pairs.append((s, t))
        if not pairs:
            return None
        s, t = self.pick(pairs)
        return [self.src.expr_edit(s.node, ast.unparse(t.node))]

    # ---- any compatible sub-tree ----------------------------------------------------------
    def xo_subtree(self) -> list[Edit] | None:
        """A value expression replaced by a mate's expression of the same kind that fits here."""
        if not self.facts.values or not self.mate_facts.values:
            return None
        site = self.pick(self.facts.values)
        donors = [t for t in self.mate_facts.values
                  if _scalarish(t.kind) == _scalarish(site.kind) and self._fits(t.node, site)
                  and ast.dump(t.node) != ast.dump(site.node)]
        same_func = [t for t in donors if t.func.name == site.func.name]
        if same_func and self.rng.random() < 0.7:
            donors = same_func
        if not donors:
            return None
        donor = ast.unparse(self.pick(donors).node)
        return [self.src.expr_edit(site.node, self.nonzero(site, donor))]

    def nonzero(self, site: Site, text: str) -> str:
        """A donor landing in a divisor is kept away from zero (see ExprGen.nonzero)."""
        if not site.divisor:
            return text
        if site.kind in ("A", "M"):
            return f"{self.facts.np}.abs({text}) + 1e-9" if self.facts.np else text
        return f"abs({text}) + 1e-9"


def _first_line(fn: ast.FunctionDef) -> int:
    return min([fn.lineno] + [d.lineno for d in fn.decorator_list])
