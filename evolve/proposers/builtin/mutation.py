"""AST mutation operators on the EVOLVE-BLOCK; each returns text edits or None (not applicable)."""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable
from typing import TypeVar, cast

import numpy as np

from evolve.proposers.builtin.astnames import literal_value
from evolve.proposers.builtin.exprgen import ExprGen, fmt_number
from evolve.proposers.builtin.gating import gate_sites, update_gate
from evolve.proposers.builtin.scope import BlockFacts, Site
from evolve.proposers.builtin.source import BlockSource, Edit, end_position

_ARITH = (ast.Add, ast.Sub, ast.Mult, ast.Div)
_ORDER = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_SWAP_CALLS = {"min": "max", "max": "min", "minimum": "maximum", "maximum": "minimum"}
_STATS = ("mean", "max", "min", "sum", "std")

N = TypeVar("N", bound=ast.AST)


class Mutator:
    """Applies one named mutation operator to a parsed block, drawing from `rng` only."""

    def __init__(self, src: BlockSource, facts: BlockFacts, gen: ExprGen,
                 rng: np.random.Generator, rel_step: float = 0.3, abs_step: float = 1.0,
                 depth_bias: float = 2.0, key_bias: float = 3.0):
        self.src = src
        self.facts = facts
        self.gen = gen
        self.rng = rng
        self.rel_step = rel_step
        self.abs_step = abs_step
        self.depth_bias = depth_bias
        self.key_bias = key_bias
        self.ops: dict[str, Callable[[], list[Edit] | None]] = {
            "const_perturb": self.const_perturb,
            "op_swap": self.op_swap,
            "cmp_swap": self.cmp_swap,
            "expr_replace": self.expr_replace,
            "expr_wrap": self.expr_wrap,
            "stmt_delete": self.stmt_delete,
            "stmt_duplicate": self.stmt_duplicate,
            "feature_add": self.feature_add,
            "update_gate": lambda: update_gate(self.src, self.facts, self.rng),
        }

    def applicable(self, name: str) -> bool:
        """Whether the block has any site for the operator (so the bandit can skip it)."""
        f = self.facts
        return {
            "const_perturb": bool(f.literals),
            "op_swap": any(self._swappable(s.node) for s in f.values),
            "cmp_swap": bool(f.compares),
            "expr_replace": bool(f.values),
            "expr_wrap": bool(f.values),
            "stmt_delete": bool(f.loop_stmts),
            "stmt_duplicate": any(s.kind == "dup" for s in f.loop_stmts),
            "feature_add": bool(self._feature_sites()),
            "update_gate": bool(gate_sites(self.src, self.facts)),
        }.get(name, False)

    def pick(self, items: list):
        return items[int(self.rng.integers(len(items)))]

    def site(self, sites: list[Site[N]]) -> Site[N]:
        """A site, favouring those inside loops (`depth_bias` per loop level) and those that
        feed a decision (x `key_bias`)."""
        w = np.array([(1.0 + self.depth_bias * s.depth) * (self.key_bias if s.key else 1.0)
                      for s in sites])
        return sites[int(self.rng.choice(len(sites), p=w / w.sum()))]

    # ---- constants ------------------------------------------------------------------------
    def const_perturb(self) -> list[Edit] | None:
        """Relative (x exp(N(0, rel))) or absolute (+ N(0, abs)) step on one numeric literal."""
        if not self.facts.literals:
            return None
        site = self.site(self.facts.literals)
        v = literal_value(site.node)
        orig = self.src.segment(site.node)
        as_int = "." not in orig and "e" not in orig.lower() and abs(v) >= 2
        if v != 0 and self.rng.random() < 0.7:
            new = v * float(np.exp(self.rng.normal(0.0, self.rel_step)))
        else:
            new = v + float(self.rng.normal(0.0, self.abs_step))
        text = fmt_number(new, as_int)
        if float(text) == v:
            text = fmt_number(new, False)
        if float(text) == v:
            return None
        return [self.src.expr_edit(site.node, text)]

    # ---- operators ------------------------------------------------------------------------
    def _swappable(self, node: ast.AST) -> bool:
        if isinstance(node, ast.BinOp):
            return isinstance(node.op, _ARITH)
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else \
                getattr(node.func, "id", "")
            return name in _SWAP_CALLS and len(node.args) == 2
        return False

    def op_swap(self) -> list[Edit] | None:
        """+ - * / exchanged (a new division is guarded), or min <-> max."""
        sites = [s for s in self.facts.values if self._swappable(s.node)]
        if not sites:
            return None
        site = self.site(sites)
        node = site.node
        if isinstance(node, ast.Call):
            f = node.func
            # _swappable: the callee is an attribute or has an `id`, i.e. is an ast.Name
            name = f.attr if isinstance(f, ast.Attribute) else cast(ast.Name, f).id
            new_name = _SWAP_CALLS[name]
            a, b = self.src.span(f)
            text = self.src.text[a:b]
            return [Edit(a, b, text[: len(text) - len(name)] + new_name)]
        node = cast(ast.BinOp, node)  # _swappable: a call (handled above) or an arithmetic BinOp
        choices = [op for op in _ARITH if not isinstance(node.op, op)]
        new_op = self.pick(choices)()
        right = copy.deepcopy(node.right)
        if isinstance(new_op, ast.Div):
            arrays = site.kind in ("A", "M")
            guarded = self.gen.divide("x", ast.unparse(right), arrays)
            # gen.divide returns the division "x / <guarded right>"
            right = cast(ast.BinOp, ast.parse(guarded, mode="eval").body).right
        new = ast.unparse(ast.BinOp(copy.deepcopy(node.left), new_op, right))
        return [self.src.expr_edit(node, self.gen.nonzero(site, new))]

    def cmp_swap(self) -> list[Edit] | None:
        """One of < <= > >= exchanged for another."""
        if not self.facts.compares:
            return None
        node = self.site(self.facts.compares).node
        new = copy.deepcopy(node)
        i = int(self.rng.integers(len(new.ops)))
        new.ops[i] = self.pick([op for op in _ORDER if not isinstance(node.ops[i], op)])()
        return [self.src.expr_edit(node, new)]

    # ---- expressions ----------------------------------------------------------------------
    def expr_replace(self) -> list[Edit] | None:
        """A value expression replaced by a random one over the names in scope there."""
        if not self.facts.values:
            return None
        site = self.site(self.facts.values)
        text = self.gen.expr(site, self.facts.values)
        if text is None or text == ast.unparse(site.node):
            return None
        return [self.src.expr_edit(site.node, self.gen.nonzero(site, text))]

    def expr_wrap(self) -> list[Edit] | None:
        """A value expression wrapped: max(e, x), min(e, x), e * c, e + x, e * x, e / x."""
        if not self.facts.values:
            return None
        site = self.site(self.facts.values)
        text = self.gen.wrap(site, self.facts.values, self.src.segment(site.node))
        if text is None:
            return None
        return [self.src.expr_edit(site.node, self.gen.nonzero(site, text))]

    # ---- statements -----------------------------------------------------------------------
    def stmt_delete(self) -> list[Edit] | None:
        """A value assignment in a loop body removed (its target stays bound from before)."""
        sites = [s for s in self.facts.loop_stmts if self.src.alone_on_lines(s.node)]
        if not sites:
            return None
        site = self.site(sites)
        st = site.node
        a, b = self.src.line_span(st.lineno, end_position(st)[0])
        if len(cast(list[ast.stmt], site.body)) == 1:  # loop_stmts sites always have their body
            indent = self.src.text[a : self.src.span(st)[0]]
            return [Edit(a, b, f"{indent}pass\n")]
        return [Edit(a, b, "")]

    def stmt_duplicate(self) -> list[Edit] | None:
        """An accumulating statement in a loop body repeated (x += e twice, x = f(x) twice)."""
        sites = [s for s in self.facts.loop_stmts if s.kind == "dup"
                 and self.src.alone_on_lines(s.node)]
        if not sites:
            return None
        st = self.site(sites).node
        a, b = self.src.line_span(st.lineno, end_position(st)[0])
        lines = self.src.text[a:b]
        if not lines.endswith("\n"):
            lines = "\n" + lines
        return [Edit(b, b, lines)]

    # ---- new features ---------------------------------------------------------------------
    def _feature_sites(self) -> list[Site]:
        if not self.facts.np:
            return []
        return [s for s in self.facts.values if s.kind == "f" and s.func.node is not None
                and any(s.func.kinds.get(a) == "A" for a in s.func.args)]

    def feature_add(self) -> list[Edit] | None:
        """A new input feature (mean / max / min / sum / std of an input array), computed once
        at the top of the function and used at a value site as expr_wrap would."""
        sites = self._feature_sites()
        if not sites:
            return None
        site = self.site(sites)
        f = site.func
        arr = self.pick([a for a in f.args if f.kinds.get(a) == "A"])
        name = f"{self.pick(list(_STATS))}_{arr}"
        edits = []
        if name not in f.kinds:
            if name in self.facts.globals:
                return None
            body = cast(ast.FunctionDef, f.node).body  # _feature_sites: f.node is not None
            doc = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str)
            if doc and len(body) < 2:
                return None
            anchor = body[1] if doc else body[0]
            a, _ = self.src.line_span(anchor.lineno, anchor.lineno)
            indent = self.src.text[a : self.src.span(anchor)[0]]
            if indent.strip():  # the statement shares the `def` line
                return None
            stat = name.split("_", 1)[0]
            edits.append(Edit(a, a, f"{indent}{name} = {self.facts.np}.{stat}({arr})\n"))
        x = name if self.rng.random() < 0.5 else f"{self.gen.const()} * {name}"
        text = self.gen.wrap(site, self.facts.values, self.src.segment(site.node), x)
        if text is None:
            return None
        return edits + [self.src.expr_edit(site.node, self.gen.nonzero(site, text))]
