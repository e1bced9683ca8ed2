"""Crossover: transplant a compatible sub-tree of a mate's block into the parent's block."""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable

import numpy as np

from evolve.proposers.builtin.astnames import BUILTINS, free_names
from evolve.proposers.builtin.gating import random_gate, sizes
from evolve.proposers.builtin.scope import BlockFacts, Site
from evolve.proposers.builtin.source import BlockSource, Edit, end_position
from evolve.proposers.builtin.statements import assigned, bodies, is_update


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
                 mate_facts: BlockFacts, rng: np.random.Generator, gate_prob: float = 0.0):
        self.src, self.facts = src, facts
        self.mate, self.mate_facts = mate, mate_facts
        self.rng = rng
        self.gate_prob = gate_prob  # xo_append: chance that the update is gated (gating.py)
        self.ops: dict[str, Callable[[], list[Edit] | None]] = {
            "xo_function": self.xo_function,
            "xo_statement": self.xo_statement,
            "xo_subtree": self.xo_subtree,
            "xo_append": self.xo_append,
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

    # ---- appended updates -----------------------------------------------------------------
    def xo_append(self) -> list[Edit] | None:
        """A mate's later update of a value the parent computes (`v *= e`, `v += e`, `v = f(v)`),
        with the mate's assignments it reads, inserted after the parent's last assignment of v
        (how a term of another rule, e.g. a multiplicative factor, joins this one whole); with
        `gate_prob` its effect weighted by a ramp in a size (gating.py), so that it can act on
        large inputs only, or on small ones."""
        mine = {id(s.node): s for s in self.facts.values}
        theirs = {id(s.node): s for s in self.mate_facts.values}
        options = []
        for f in self.facts.funcs:
            g = self.mate_facts.func(f.name)
            if g is None:
                continue
            updates = [(k, u, mbody) for mbody in bodies(self.mate, g)
                       for k, u in enumerate(mbody) if is_update(u)]
            for body in bodies(self.src, f):
                last = {x: i for i, st in enumerate(body) if (x := assigned(st))}
                for x, i in last.items():
                    st = body[i]
                    site = mine.get(id(getattr(st, "value", None)))
                    if site is None or f.kinds.get(x) != "f" or x in f.tainted or \
                            not self.src.alone_on_lines(st):
                        continue
                    bound = site.avail | {x} | self.facts.globals | BUILTINS
                    own = {n: ast.unparse(b.value) for b in body[:i + 1]
                           if isinstance(b, ast.Assign) and (n := assigned(b))}
                    for k, u, mbody in updates:
                        us = theirs.get(id(getattr(u, "value", None)))
                        if assigned(u) != x or us is None or us.kind != "f":
                            continue
                        chain = _helpers(mbody[:k], free_names(us.node), bound, own, theirs, x)
                        if chain is not None:
                            options.append((st, f, site, [*chain, u]))
        if not options:
            return None
        st, f, site, stmts = self.pick(options)
        if self.gate_prob and self.rng.random() < self.gate_prob:  # gated: see gating.py
            stmts[-1] = random_gate(stmts[-1], sizes(f, site.avail), self.rng) or stmts[-1]
        # helpers named like anything in the parent program (the fixed code around the block
        # included) get a new name
        taken = free_names(self.src.module) | set(f.kinds) | self.facts.globals | BUILTINS
        fresh: dict[str, str] = {}
        for h in stmts[:-1]:
            name = assigned(h) or ""
            if name in taken:
                k = 2
                while f"{name}_{k}" in taken:
                    k += 1
                fresh[name] = f"{name}_{k}"
                taken.add(fresh[name])
        a, b = self.src.line_span(st.lineno, end_position(st)[0])
        line = self.src.text[a:b]
        indent = line[: len(line) - len(line.lstrip())]
        text = "".join(f"{indent}{ast.unparse(_renamed(h, fresh))}\n" for h in stmts)
        if not self.src.text[a:b].endswith("\n"):
            text = "\n" + text
        return [Edit(b, b, text)]

    def nonzero(self, site: Site, text: str) -> str:
        """A donor landing in a divisor is kept away from zero (see ExprGen.nonzero)."""
        if not site.divisor:
            return text
        if site.kind in ("A", "M"):
            return f"{self.facts.np}.abs({text}) + 1e-9" if self.facts.np else text
        return f"abs({text}) + 1e-9"


def _helpers(prefix: list[ast.stmt], need: set[str], bound: set[str] | frozenset[str],
             own: dict[str, str], sites: dict[int, Site], keep: str) -> list[ast.stmt] | None:
    """The plain scalar assignments of `prefix` that define the names in `need` (and, in turn,
    the names those read), in order; None when a name is neither defined there nor bound in the
    parent. A mate's definition is taken along unless the parent's own (`own`: name -> value
    text, from the same statement list) is the same text: the update keeps its meaning. The
    updated value itself (`keep`) is always the parent's."""
    picked: dict[int, ast.stmt] = {}
    todo = [(n, len(prefix)) for n in sorted(need)]
    while todo:
        name, before = todo.pop()
        if name == keep:
            continue
        i = next((j for j in range(before - 1, -1, -1) if assigned(prefix[j]) == name), None)
        st = prefix[i] if i is not None else None
        site = sites.get(id(getattr(st, "value", None)))
        if st is None or own.get(name) == ast.unparse(getattr(st, "value", st)):
            if name in bound:
                continue
            return None
        if not isinstance(st, ast.Assign) or is_update(st) or site is None or \
                site.kind not in ("f", "i"):
            return None
        if i is not None and i not in picked:
            picked[i] = st
            todo += [(n, i) for n in sorted(free_names(st.value) - {name})]
    return [picked[i] for i in sorted(picked)]


def _renamed(st: ast.stmt, fresh: dict[str, str]) -> ast.stmt:
    """A copy of the statement with names renamed by `fresh`."""
    if not fresh:
        return st
    out = copy.deepcopy(st)
    for n in ast.walk(out):
        if isinstance(n, ast.Name) and n.id in fresh:
            n.id = fresh[n.id]
    return out


def _first_line(fn: ast.FunctionDef) -> int:
    return min([fn.lineno] + [d.lineno for d in fn.decorator_list])
