"""What a block's names hold: value kinds (scalar / array, int / float) and index taint.

"Tainted" names hold indices (loop counters, sizes, job ids, index arrays): a float reaching them
would break numba typing or read out of bounds, so every expression that flows into an index is
off limits ("index context") to the mutation operators.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from evolve.proposers.builtin.astnames import (
    BUILTINS,
    arith_names,
    array_call,
    base_name,
    free_names,
    module_globals,
    names_in,
    own_stmts,
    pairs,
    target_names,
)
from evolve.proposers.builtin.kinds import INDEX_ARG_CALLS, KindEnv, call_name, merge

# the kind of an element of a container of the given kind (an iterated array, ...)
_ELEMENT_KIND: dict[str | None, str] = {"A": "f", "I": "i", "B": "b", "M": "A"}


@dataclass
class FuncFacts:
    """One function of the block (or the block's module-level code when `node` is None)."""

    node: ast.FunctionDef | None
    name: str
    args: list[str]
    kinds: dict[str, str | None] = field(default_factory=dict)
    tainted: set[str] = field(default_factory=set)
    range_vars: set[str] = field(default_factory=set)
    loop_assigned: set[str] = field(default_factory=set)
    atoms: dict[str, tuple[ast.expr, frozenset[str]]] = field(default_factory=dict)

    def terminal_names(self, avail: frozenset[str], kinds: tuple[str, ...]) -> list[str]:
        """Names readable as numbers at a site: bound before it, not loop counters / job ids."""
        return sorted(n for n in avail if self.kinds.get(n) in kinds and n not in self.range_vars
                      and not (n in self.tainted and n in self.loop_assigned))


@dataclass
class Around:
    """Where a block nested in a fixed function sits: that function's facts and scope there."""

    func: FuncFacts
    avail: frozenset[str]
    depth: int
    decisive: set[str]


class Inference:
    """Kinds and taint of every name in a block's functions (and of its loose statements)."""

    def __init__(self, tree: ast.Module, module: ast.Module, around: Around | None = None,
                 known_returns: dict[str, str | None] | None = None, entry: str = ""):
        self.globals, self.np, self.math = module_globals(module)
        self.entry = entry
        self.at_line: dict[int, tuple[frozenset[str], int, set[str]]] = {}
        self.defs = {st.name: st for st in tree.body if isinstance(st, ast.FunctionDef)}
        self.evidence: dict[str, set[str]] = {}  # arguments whose kind their use reveals
        self.funcs = [self._func(d, d.body, [a.arg for a in d.args.posonlyargs + d.args.args
                                               + d.args.kwonlyargs]) for d in self.defs.values()]
        top = [st for st in tree.body if not isinstance(st, ast.FunctionDef)]
        # statements of a block nested in a fixed function read that function's names
        free = self._free(top)
        # every name bound there (not just those the block reads) may appear in new expressions
        pseudo = self._func(None, top, free + sorted(set(around.avail) - set(free))
                            if around else free)
        if around is not None:
            outer = around.func
            for a in pseudo.args:
                pseudo.kinds[a] = outer.kinds.get(a, pseudo.kinds[a])
                if a in outer.tainted:
                    pseudo.tainted.add(a)
                if a in outer.range_vars:
                    pseudo.range_vars.add(a)
                if a in outer.loop_assigned:
                    pseudo.loop_assigned.add(a)
        self.funcs.append(pseudo)
        self.bodies = {f.name: (f.node.body if f.node else top) for f in self.funcs}
        known = dict(known_returns or {})
        self.returns: dict[str, str | None] = known
        for _ in range(3):  # callee return kinds feed callers, call sites feed callee arguments
            for f in self.funcs:
                self._kinds(f)
            self.returns = {**known, **{f.name: self._return_kind(f) for f in self.funcs if f.node}}
            self._call_site_kinds()
        for _ in range(2):  # callee taint feeds caller taint
            for f in self.funcs:
                self._taint(f)

    # ---- kinds ----------------------------------------------------------------------------
    def _free(self, body: list[ast.stmt]) -> list[str]:
        """Names the statements read but neither bind nor import (bound by the fixed code)."""
        bound = set(self.globals) | set(self.defs) | BUILTINS
        read: dict[str, None] = {}
        for st in body:
            for n in ast.walk(st):
                if isinstance(n, ast.Name):
                    if isinstance(n.ctx, ast.Store):
                        bound.add(n.id)
                    else:
                        read.setdefault(n.id)
        return [n for n in read if n not in bound]

    def _func(self, d: ast.FunctionDef | None, body: list[ast.stmt], args: list[str]) -> FuncFacts:
        """Argument kinds from how the body uses them: subscripted or sized -> array, a bare
        index -> int; otherwise unknown (call sites may tell, see _call_site_kinds)."""
        f = FuncFacts(d, d.name if d else "", args)
        for a in args:
            f.kinds[a] = None
        for n in (x for st in body for x in ast.walk(st)):
            base = None
            if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name):
                base = n.value.id
                if isinstance(n.slice, ast.Name) and n.slice.id in args and \
                        f.kinds[n.slice.id] is None:
                    f.kinds[n.slice.id] = "i"
                if base in args and (isinstance(n.slice, ast.Tuple) or f.kinds[base] == "M"):
                    f.kinds[base] = "M"
                    continue
            elif isinstance(n, ast.Attribute) and n.attr in ("shape", "size") and \
                    isinstance(n.value, ast.Name):
                base = n.value.id
            elif isinstance(n, ast.Call) and n.args and array_call(n, self.np):
                for a in arith_names(n.args[0]):
                    if a in args and f.kinds[a] != "M":
                        f.kinds[a] = "A"
            if base in args and f.kinds[base] != "M":
                f.kinds[base] = "A"
        for a in self._scalar_uses(body):
            if a in args and f.kinds[a] is None:
                f.kinds[a] = "f"
        self.evidence[f.name] = {a for a in args if f.kinds[a] is not None}
        return f

    def _scalar_uses(self, body: list[ast.stmt]) -> set[str]:
        """Names that must be scalars: combined by arithmetic inside math.* / int() / round() /
        two-argument min and max, or compared in a branch condition (an array has no truth)."""
        out: set[str] = set()
        for n in (x for st in body for x in ast.walk(st)):
            if isinstance(n, ast.Call):
                mod, name = call_name(n)
                if (mod is not None and mod == self.math) or (mod is None and (
                        name in ("int", "float", "round") or
                        (name in ("min", "max") and len(n.args) == 2))):
                    for a in n.args:
                        out.update(arith_names(a))
            elif isinstance(n, (ast.If, ast.While, ast.IfExp, ast.BoolOp)):
                tests = n.values if isinstance(n, ast.BoolOp) else [n.test]
                for t in tests:
                    if isinstance(t, ast.Compare):
                        for o in [t.left, *t.comparators]:
                            out.update(arith_names(o))
        return out

    def _call_site_kinds(self) -> None:
        """A block function's argument without evidence takes the kind its callers pass."""
        passed: dict[tuple[str, str], str | None] = {}
        for f in self.funcs:
            env = self._kind_env(f)
            for n in (x for st in self.bodies[f.name] for x in ast.walk(st)):
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and \
                        n.func.id in self.defs:
                    d = self.defs[n.func.id]
                    for arg, p_node in zip(n.args, d.args.posonlyargs + d.args.args):
                        key = (d.name, p_node.arg)
                        k = env.kind(arg)
                        passed[key] = merge(passed[key], k) if key in passed else k
        for (name, param), k in passed.items():
            g = self.func(name)
            if g is None:
                continue
            if param not in self.evidence[name]:
                g.kinds[param] = k
            elif g.kinds.get(param) in ("A", "M") and k in ("I", "i", "B", "b"):
                # used as an array there, int / bool here (a row of an int matrix is "i" to us)
                g.kinds[param] = "I" if k in ("I", "i") else "B"
        # an input that a function the problem calls never reads (EDD ignores p) is most likely
        # an array like its siblings
        for f in self.funcs:
            if f.node is not None and f.name not in {n for n, _ in passed}:
                if any(f.kinds.get(a) == "A" for a in f.args):
                    read = free_names(f.node)
                    for a in f.args:
                        if f.kinds.get(a) is None and a not in read:
                            f.kinds[a] = "A"

    def _kind_env(self, f: FuncFacts) -> KindEnv:
        return KindEnv(f.kinds, self.returns, {self.np} if self.np else set())

    def _kinds(self, f: FuncFacts) -> None:
        env = self._kind_env(f)
        body = self.bodies[f.name]
        for _ in range(2):
            seen: dict[str, str | None] = {}
            for st in own_stmts(body):
                if isinstance(st, ast.Assign):
                    for t, v in pairs(st):
                        if isinstance(t, ast.Name) and v is not None:  # never None in an Assign
                            k = env.kind(v)
                            seen[t.id] = merge(seen[t.id], k) if t.id in seen else k
                elif isinstance(st, ast.AugAssign) and isinstance(st.target, ast.Name):
                    k = env.kind(ast.BinOp(st.target, st.op, st.value))
                    n = st.target.id
                    seen[n] = merge(seen.get(n), k)
                elif isinstance(st, ast.For):
                    self._for_kinds(st, env, seen, f)
            for n, k in seen.items():
                if n not in f.args:
                    f.kinds[n] = k
        for st in own_stmts(body):
            if isinstance(st, (ast.For, ast.While)):
                for inner in own_stmts(st.body):
                    if isinstance(inner, (ast.Assign, ast.AugAssign)):
                        targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
                        for t in targets:
                            f.loop_assigned.update(target_names(t))

    def _for_kinds(self, st: ast.For, env: KindEnv, seen: dict, f: FuncFacts) -> None:
        it = st.iter
        if isinstance(it, ast.Call) and call_name(it) == (None, "range"):
            for n in target_names(st.target):
                seen[n] = "i"
                f.range_vars.add(n)
        elif isinstance(it, ast.Call) and call_name(it) == (None, "enumerate") and it.args and \
                isinstance(st.target, ast.Tuple) and len(st.target.elts) == 2:
            i, x = st.target.elts
            if isinstance(i, ast.Name):
                seen[i.id] = "i"
                f.range_vars.add(i.id)
            if isinstance(x, ast.Name):
                seen[x.id] = _ELEMENT_KIND.get(env.kind(it.args[0]))
        elif isinstance(st.target, ast.Name):
            seen[st.target.id] = _ELEMENT_KIND.get(env.kind(it))

    def _return_kind(self, f: FuncFacts) -> str | None:
        env = self._kind_env(f)
        kinds = [env.kind(st.value) for st in own_stmts(self.bodies[f.name])
                 if isinstance(st, ast.Return) and st.value is not None]
        out = kinds[0] if kinds else None
        for k in kinds[1:]:
            out = merge(out, k)
        return out

    # ---- taint ----------------------------------------------------------------------------
    def _taint(self, f: FuncFacts) -> None:
        t = f.tainted
        t.update(n for n, k in f.kinds.items() if k in ("I", "B"))
        t.update(f.range_vars)
        stmts = list(own_stmts(self.bodies[f.name]))
        exprs = [n for st in stmts for n in ast.walk(st)
                 if isinstance(n, (ast.Subscript, ast.Call))]
        for n in exprs:
            if isinstance(n, ast.Subscript):
                t.update(names_in(n.slice))
            else:
                t.update(x for a in self._index_args(n) for x in names_in(a))
        while True:
            before = len(t)
            for st in stmts:
                if isinstance(st, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                    for x, v in pairs(st):
                        if v is not None and (base_name(x) in t or set(target_names(x)) & t):
                            t.update(names_in(v))
                elif isinstance(st, ast.For) and set(target_names(st.target)) & t:
                    t.update(names_in(st.iter))
            if len(t) == before:
                break

    def _index_args(self, call: ast.Call) -> list[ast.expr]:
        mod, name = call_name(call)
        if name in INDEX_ARG_CALLS and (mod is None) == (name == "range"):
            n = INDEX_ARG_CALLS[name]
            return list(call.args if n is None else call.args[:n])
        callee = self.defs.get(name) if mod is None else None
        if callee is not None:
            cf = self.func(name)
            params = [a.arg for a in callee.args.posonlyargs + callee.args.args]
            return [a for a, p in zip(call.args, params) if cf and p in cf.tainted]
        return []

    def func(self, name: str) -> FuncFacts | None:
        return next((f for f in self.funcs if f.name == name), None)
