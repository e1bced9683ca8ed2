"""Random numeric expressions over the names in scope at a site (numba-friendly, guarded)."""

from __future__ import annotations

import ast

import numpy as np

from evolve.proposers.builtin.astnames import BUILTINS, free_names
from evolve.proposers.builtin.scope import BlockFacts, Site

_NICE = (0.1, 0.5, 1.0, 2.0, 3.0, 10.0)
_EPS = "1e-9"


def fmt_number(v: float, as_int: bool = False) -> str:
    """Literal text for a value: 4 significant digits (ints stay ints when asked)."""
    if as_int:
        return str(int(round(v)))
    return repr(float(f"{v:.4g}"))


def parse_expr(text: str) -> ast.expr:
    return ast.parse(text.strip(), mode="eval").body


class ExprGen:
    """Builds expression text for one block: terminals come from the block, constants from rng."""

    def __init__(self, facts: BlockFacts, rng: np.random.Generator, primitives=(),
                 depth: int = 2, const_prob: float = 0.25):
        self.facts = facts
        self.rng = rng
        self.depth = depth
        self.const_prob = const_prob
        self.np = facts.np
        self.fmod = facts.np or facts.math  # module for exp / log / sqrt on scalars
        self.prim_terms: list[tuple[str, set[str]]] = []
        self.prim_funcs: list[str] = []
        for p in primitives:
            try:
                e = parse_expr(p)
            except SyntaxError:
                continue
            root = e
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(e, ast.Attribute) and isinstance(root, ast.Name) and \
                    root.id in (facts.np, facts.math):
                self.prim_funcs.append(p.strip())  # e.g. "np.tanh": a unary function
            elif isinstance(e, ast.Name) and e.id in BUILTINS:
                if e.id not in ("min", "max", "abs"):  # those three are in the grammar already
                    self.prim_funcs.append(e.id)
            else:  # an expression such as "np.mean(p)" or "d[j] - t"
                self.prim_terms.append((ast.unparse(e), free_names(e)))

    # ---- terminals ----------------------------------------------------------------------
    def pick(self, items: list):
        return items[int(self.rng.integers(len(items)))]

    def const(self) -> str:
        if self.rng.random() < 0.5:
            return fmt_number(self.pick(list(_NICE)))
        return fmt_number(10 ** self.rng.uniform(-2, 2))

    def terminals(self, site: Site, arrays: bool) -> list[str]:
        """Expression texts readable at the site (names, array reads, problem primitives)."""
        f = site.func
        avail = site.avail | self.facts.globals | BUILTINS
        out = f.terminal_names(site.avail, ("f", "i"))
        out += [k for k, (_, names) in sorted(f.atoms.items()) if names <= site.avail]
        out += [t for t, names in self.prim_terms if names <= avail]
        if arrays:  # arrays of other shapes do not broadcast: the site's own or the inputs
            own = free_names(site.node) | set(f.args)
            out += [n for n in f.terminal_names(site.avail, ("A",)) if n in own]
        return out

    def parts(self, site: Site, values: list[Site]) -> list[str]:
        """Sub-expressions of the site itself (keeps part of what was there); a scalar site
        takes scalar parts only (`p` inside `np.mean(p)` must not leak out as an array)."""
        inner = {id(n) for n in ast.walk(site.node)} - {id(site.node)}
        arrays = site.kind in ("A", "M")
        return sorted({ast.unparse(s.node) for s in values
                       if id(s.node) in inner and (arrays or s.kind in ("f", "i"))})

    def terminal(self, site: Site, arrays: bool, parts: list[str]) -> str:
        terms = self.terminals(site, arrays)
        if parts and self.rng.random() < 0.3:
            return self.pick(parts)
        if not terms or self.rng.random() < self.const_prob:
            return self.const()
        return self.pick(terms)

    # ---- expressions ----------------------------------------------------------------------
    def expr(self, site: Site, values: list[Site], depth: int | None = None) -> str | None:
        """A random expression of the site's kind (scalar or array), normalized text."""
        arrays = site.kind in ("A", "M")
        if arrays and not self.np:
            return None
        parts = self.parts(site, values)
        depth = self.depth if depth is None else depth
        for _ in range(8):
            e = parse_expr(self._grow(site, arrays, parts, depth))
            if not arrays or self.has_array(e, site):
                return ast.unparse(e)
        return None

    def has_array(self, e: ast.AST, site: Site) -> bool:
        """Whether an expression for an array site still reads an array (not a scalar)."""
        kinds = site.func.kinds
        return any(isinstance(n, ast.Name) and kinds.get(n.id) in ("A", "M") for n in ast.walk(e))

    def _grow(self, site: Site, arrays: bool, parts: list[str], depth: int) -> str:
        if depth <= 0 or self.rng.random() < 0.3:
            return self.terminal(site, arrays, parts)
        a = self._grow(site, arrays, parts, depth - 1)
        r = self.rng.random()
        if r < 0.45:
            b = self._grow(site, arrays, parts, depth - 1)
            return f"({a}) {self.pick(['+', '-', '*'])} ({b})"
        if r < 0.55:
            b = self._grow(site, arrays, parts, depth - 1)
            return self.divide(a, b, arrays)
        if r < 0.75:
            b = self._grow(site, arrays, parts, depth - 1)
            return self.minmax(self.pick(["min", "max"]), a, b, arrays)
        if r < 0.85:
            return f"({self.const()}) * ({a})"
        return self.unary(a, site, arrays, parts)

    def divide(self, a: str, b: str, arrays: bool) -> str:
        """a / b with the divisor kept away from zero (numba raises on float division by 0)."""
        try:
            c = parse_expr(b)
        except SyntaxError:
            c = None
        if isinstance(c, ast.Constant) and isinstance(c.value, (int, float)) and c.value > 0:
            return f"({a}) / {b}"
        return f"({a}) / ({self.abs(b, arrays)} + {_EPS})"

    def nonzero(self, site: Site, text: str) -> str:
        """`text` as it may stand in a divisor site: unchanged when a positive constant."""
        if not site.divisor:
            return text
        try:
            c = parse_expr(text)
        except SyntaxError:
            return text
        if isinstance(c, ast.Constant) and isinstance(c.value, (int, float)) and c.value > 0:
            return text
        return ast.unparse(parse_expr(f"{self.abs(text, site.kind in ('A', 'M'))} + {_EPS}"))

    def abs(self, a: str, arrays: bool) -> str:
        return f"{self.np}.abs({a})" if arrays else f"abs({a})"

    def minmax(self, which: str, a: str, b: str, arrays: bool) -> str:
        if arrays:
            return f"{self.np}.{'minimum' if which == 'min' else 'maximum'}({a}, {b})"
        return f"{which}({a}, {b})"

    def unary(self, a: str, site: Site, arrays: bool, parts: list[str]) -> str:
        ops = ["abs", "neg", "sq"]
        if self.fmod:
            ops += ["exp", "log", "sqrt"]
        if self.prim_funcs:
            ops.append("prim")
        op = self.pick(ops)
        m = self.fmod
        if op == "abs":
            return self.abs(a, arrays)
        if op == "neg":
            return f"-({a})"
        if op == "sq":
            return f"({a}) * ({a})"
        if op == "exp":  # ATC-style decay: exp(-|a| / |b|), bounded in (0, 1]
            b = self.terminal(site, arrays, parts)
            return f"{m}.exp(-{self.abs(a, arrays)} / ({self.abs(b, arrays)} + {_EPS}))"
        if op == "log":
            return f"{m}.log({self.abs(a, arrays)} + 1.0)"
        if op == "sqrt":
            return f"{m}.sqrt({self.abs(a, arrays)})"
        fn = self.pick(self.prim_funcs)
        if "log" in fn or "sqrt" in fn:  # keep to the domain: nan priorities compare false
            a = self.abs(a, arrays)
        return f"{fn}({a})"

    def wrap(self, site: Site, values: list[Site], text: str, x: str | None = None) -> str | None:
        """The site's expression inside a guard or a scale: max(e, x), e * c, e + x, ...
        (`x` random over the names in scope unless given)."""
        arrays = site.kind in ("A", "M")
        if arrays and not self.np:
            return None
        x = self._grow(site, arrays, [], 1) if x is None else x
        e = text
        r = self.rng.random()
        if r < 0.15:  # clip at zero, the commonest guard of all (MDD is EDD's slack clipped)
            out = self.minmax(self.pick(["min", "max"]), e, "0.0", arrays)
        elif r < 0.3:
            out = self.minmax(self.pick(["min", "max"]), e, x, arrays)
        elif r < 0.55:
            out = f"({e}) * {fmt_number(self.rng.uniform(0.5, 2.0))}"
        elif r < 0.8:
            out = f"({e}) {self.pick(['+', '-'])} ({x})"
        elif r < 0.9:
            out = f"({e}) * ({x})"
        else:
            out = self.divide(e, x, arrays)
        return ast.unparse(parse_expr(out))
