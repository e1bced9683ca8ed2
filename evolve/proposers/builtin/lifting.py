"""Lifting a block's numeric literals into a parameter vector (and writing values back)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import numpy as np

from evolve.proposers.builtin.astnames import literal_value
from evolve.proposers.builtin.scope import BlockFacts, Site
from evolve.proposers.builtin.source import BlockSource, Edit, end_position

THETA = "_theta"
_PLACEHOLDER = "__EVOLVE_THETA_{}__"
_PLACEHOLDER_RE = re.compile(r"__EVOLVE_THETA_(\d+)__")
# Literals this small are guards (x + 1e-9), not tunable knobs.
_MIN_ABS = 1e-6


@dataclass
class Lifted:
    """A program whose chosen literals became parameters.

    `template` is the program with placeholders where the literals were (rewritten per vector,
    one numba compile each); `theta_code`, when the block allows it, reads them from an extra
    `_theta` argument threaded through the block's functions, so one compile serves all vectors.
    """

    x0: list[float]
    template: str
    theta_code: str | None
    originals: list[str]  # the literals' source text

    def write(self, values: list[float]) -> str:
        """The program with tuned values; untouched literals keep their exact text."""
        texts = []
        for v, v0, orig in zip(values, self.x0, self.originals):
            v = float(f"{float(v):.6g}")
            if v == v0:
                texts.append(orig)
            else:  # a unary minus where one stood already binds the same way: no parentheses
                texts.append(repr(v) if v >= 0 or orig.lstrip().startswith("-") else f"({v!r})")
        return _PLACEHOLDER_RE.sub(lambda m: texts[int(m.group(1))], self.template)


def tunable(facts: BlockFacts) -> list[Site]:
    """Literals in value context that are not tiny guards."""
    return [s for s in facts.literals if abs(literal_value(s.node)) >= _MIN_ABS]


def lift(src: BlockSource, facts: BlockFacts, entry: str, rng: np.random.Generator,
         max_params: int) -> Lifted | None:
    sites = tunable(facts)
    if not sites:
        return None
    if len(sites) > max_params:  # a random subset keeps CMA-ES small
        keep = sorted(rng.choice(len(sites), size=max_params, replace=False).tolist())
        sites = [sites[i] for i in keep]
    x0 = [literal_value(s.node) for s in sites]
    template = src.apply([Edit(*src.span(s.node), _PLACEHOLDER.format(i))
                          for i, s in enumerate(sites)])
    theta = _theta_code(src, facts, sites, entry) or _nested_theta_code(src, sites, entry, template)
    return Lifted(x0, template, theta, [src.segment(s.node) for s in sites])


def substitute(template: str, values: list[float], digits: int = 6) -> str:
    """The template with each placeholder replaced by its value as a literal."""

    def lit(m: re.Match) -> str:
        v = float(f"{float(values[int(m.group(1))]):.{digits}g}")
        return repr(v) if v >= 0 else f"({v!r})"

    return _PLACEHOLDER_RE.sub(lit, template)


def _theta_code(src: BlockSource, facts: BlockFacts, sites: list[Site], entry: str) -> str | None:
    """Literals read `_theta[i]`; every block function takes `_theta` and passes it on."""
    defs = {f.name: f.node for f in facts.funcs if f.node is not None}
    # literals outside the block's functions (module constants, a block inside the fixed entry)
    # cannot read an argument: those programs are recompiled per vector instead
    if entry not in defs or any(s.func.node is None for s in sites) \
            or THETA in {n.id for n in ast.walk(src.module) if isinstance(n, ast.Name)}:
        return None
    calls = [n for n in ast.walk(src.tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name) and n.func.id in defs]
    called = {id(c.func) for c in calls}
    refs_block = [n for n in ast.walk(src.tree) if isinstance(n, ast.Name) and n.id in defs]
    refs_all = [n for n in ast.walk(src.module) if isinstance(n, ast.Name) and n.id in defs]
    # a block function used as a value (passed, wrapped, called from the fixed part) cannot
    # gain a parameter safely
    if len(refs_all) != len(refs_block) or any(id(n) not in called for n in refs_block):
        return None
    edits = [Edit(*src.span(s.node), f"{THETA}[{i}]") for i, s in enumerate(sites)]
    for fn in defs.values():
        e = _param_insert(src.text, fn)
        if e is None:
            return None
        edits.append(Edit(e[0], e[0], e[1]))
    for c in calls:
        a, b = src.span(c)
        inner = src.text[a : b - 1].rstrip()
        sep = "" if inner.endswith(("(", ",")) else ", "
        edits.append(Edit(b - 1, b - 1, f"{sep}{THETA}={THETA}"))
    return src.apply(edits)


def _nested_theta_code(src: BlockSource, sites: list[Site], entry: str,
                       template: str) -> str | None:
    """A block inside the fixed entry (the smtt seeds): the entry itself gains `_theta`.

    Only the tuning sandbox runs this program, so it may touch the fixed part; the child keeps
    it as it was (only literals are written back)."""
    if any(s.func.node is not None for s in sites) or not src.blocks.prefix:
        return None
    names = {n.id for n in ast.walk(src.module) if isinstance(n, ast.Name)}
    fn = next((n for n in src.module.body if isinstance(n, ast.FunctionDef) and n.name == entry
               and n.lineno < src.block_line <= end_position(n)[0]), None)
    if fn is None or THETA in names or entry in names:  # entry called or passed around: no
        return None
    ins = _param_insert(template, fn)  # the def line precedes the block: same place there
    if ins is None:
        return None
    code = template[: ins[0]] + ins[1] + template[ins[0] :]
    return _PLACEHOLDER_RE.sub(lambda m: f"{THETA}[{m.group(1)}]", code)


def _offset(text: str, lineno: int, col_bytes: int) -> int:
    lines = text.splitlines(keepends=True)
    return sum(len(x) for x in lines[: lineno - 1]) + len(
        lines[lineno - 1].encode()[:col_bytes].decode(errors="ignore"))


def _param_insert(text: str, fn: ast.FunctionDef) -> tuple[int, str] | None:
    """Where and what to insert into `text` (where `fn` sits) to append a `_theta` parameter."""
    args = fn.args
    if args.vararg or args.kwarg or args.kwonlyargs:
        return None
    positional = args.posonlyargs + args.args
    suffix = f"{THETA}=None" if args.defaults else THETA
    if positional:
        last_nodes: list[ast.arg | ast.expr] = [positional[-1], *args.defaults]
        last = max(last_nodes, key=end_position)
        return _offset(text, *end_position(last)), f", {suffix}"
    start = _offset(text, fn.lineno, fn.col_offset)
    m = re.compile(r"def\s+" + re.escape(fn.name) + r"\s*\(").search(text, start)
    return (m.end(), suffix) if m else None
