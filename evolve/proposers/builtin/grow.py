"""Grammar-guided growth: typed building blocks (blocks.py) put into or around value expressions.

The grammar is problem-agnostic: a new scalar term T is a library block, or a template over
blocks and names in scope (a ratio, a clipped value, a saturating value, a min / max, a decay),
and it enters a scalar site e as e + c*T, e * (1 + c*T), max(e, T) / min(e, T) (block_grow), or
replaces a sub-expression of the same kind (block_swap). The constants c are what grow_cmaes
then tunes. Each operator returns text edits or None (not applicable), drawing from `rng` only.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

import numpy as np

from evolve.proposers.builtin.astnames import is_literal
from evolve.proposers.builtin.blocks import BlockLibrary
from evolve.proposers.builtin.exprgen import ExprGen, fmt_number, parse_expr
from evolve.proposers.builtin.kinds import SCALARS
from evolve.proposers.builtin.scope import BlockFacts, Site
from evolve.proposers.builtin.source import BlockSource, Edit

GROWTH_OPS = ("block_grow", "block_swap")
_EPS = "1e-9"
_ATOMS = (ast.Name, ast.Subscript, ast.Attribute)  # reads: swapping one out breaks its meaning


class BlockGrower:
    """Applies block_grow / block_swap to a parsed block with a library of typed blocks."""

    def __init__(self, src: BlockSource, facts: BlockFacts, gen: ExprGen, library: BlockLibrary,
                 rng: np.random.Generator, site_pick: Callable[[list[Site]], Site]):
        self.src, self.facts, self.gen, self.lib, self.rng = src, facts, gen, library, rng
        self.site_pick = site_pick  # the mutator's site choice (loop depth and decision bias)
        self.ops: dict[str, Callable[[], list[Edit] | None]] = {
            "block_grow": self.block_grow, "block_swap": self.block_swap,
        }

    def _sites(self) -> list[Site]:
        """Scalar sites that are not literals (constants are const_perturb's and tuning's)."""
        return [s for s in self.facts.values if s.kind in SCALARS and not is_literal(s.node)
                and self.lib.fitting(s, self.facts)]

    def applicable(self, name: str) -> bool:
        return name in self.ops and bool(self._sites())

    def pick(self, items: list):
        return items[int(self.rng.integers(len(items)))]

    # ---- terms ---------------------------------------------------------------------------
    def operand(self, site: Site, depth: int) -> str:
        """A block that fits the site (mostly), a name / array read in scope there, or (while
        `depth` lasts) a nested term such as p_left / n_left."""
        if depth > 0 and self.rng.random() < 0.2:
            return self.term(site, depth - 1)
        blocks = self.lib.fitting(site, self.facts)
        terms = self.gen.terminals(site, False)
        if blocks and (not terms or self.rng.random() < 0.6):
            return self.pick(blocks).text
        return self.pick(terms) if terms else self.gen.const()

    def term(self, site: Site, depth: int = 1) -> str:
        """A new scalar term: a block, or a template over blocks and names (typed scalar)."""
        a = self.operand(site, depth)
        r = self.rng.random()
        if r < 0.4:
            return a
        b = self.operand(site, depth)
        for _ in range(3):  # max(a, a), a / |a| (a sign): degenerate, draw again
            if b != a:
                break
            b = self.operand(site, depth)
        if r < 0.55:  # a ratio: relative quantities transfer across instance sizes
            return f"({a}) / (abs({b}) + {_EPS})"
        if r < 0.65:
            return f"max({a}, 0.0)"
        if r < 0.75:
            return f"min({a}, 0.0)"
        if r < 0.85:  # saturating (MDDC's m^2 / (1 + m^2) is one)
            return f"({a}) / (1.0 + abs({a}))"
        if r < 0.93 or not self.gen.fmod:
            return f"{self.pick(['max', 'min'])}({a}, {b})"
        m = self.gen.fmod  # ATC-style decay, bounded in (0, 1]
        return f"{m}.exp(-max({a}, 0.0) / (abs({b}) + {_EPS}))"

    def coef(self) -> str:
        c = float(10 ** self.rng.uniform(-2, 0)) * (1.0 if self.rng.random() < 0.5 else -1.0)
        return fmt_number(c)

    # ---- operators -----------------------------------------------------------------------
    def block_grow(self) -> list[Edit] | None:
        """A scalar site e combined with a new term T: e + c*T, e * (1 + c*T), max/min(e, T)."""
        sites = self._sites()
        if not sites:
            return None
        site = self.site_pick(sites)
        e = self.src.segment(site.node)
        t = self.term(site)
        r = self.rng.random()
        if r < 0.4:
            out = f"({e}) + {self.coef()} * ({t})"
        elif r < 0.7:
            out = f"({e}) * (1.0 + {self.coef()} * ({t}))"
        else:
            out = f"{self.pick(['max', 'min'])}({e}, {t})"
        text = ast.unparse(parse_expr(out))
        return [self.src.expr_edit(site.node, self.gen.nonzero(site, text))]

    def block_swap(self) -> list[Edit] | None:
        """A scalar sub-expression replaced by a library block (or a template over blocks)."""
        sites = [s for s in self._sites() if not isinstance(s.node, _ATOMS)]
        if not sites:
            return None
        site = self.site_pick(sites)
        text = ast.unparse(parse_expr(self.term(site)))
        if text == ast.unparse(site.node):
            return None
        return [self.src.expr_edit(site.node, self.gen.nonzero(site, text))]
