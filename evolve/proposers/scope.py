"""Static facts about an EVOLVE-BLOCK: kinds of names, index-tainted names and mutable sites.

"Tainted" names hold indices (loop counters, sizes, job ids, index arrays): a float reaching them
would break numba typing or read out of bounds, so every expression that flows into an index is
off limits ("index context") and only "value context" expressions become mutation sites.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

from evolve.proposers.kinds import (
    ARRAYS,
    INDEX_ARG_CALLS,
    NP_ARRAY_ARGS,
    SCALARS,
    VALUE_ARG_CALLS,
    KindEnv,
    call_name,
    merge,
)

NUMERIC = SCALARS + ARRAYS
BUILTINS = frozenset(dir(builtins))
_SKIP = (ast.Lambda, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp, ast.JoinedStr)
_ORDER_OPS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


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
class Site:
    """An expression (or statement) that an operator may change, with the names bound there."""

    node: ast.AST
    kind: str | None
    func: FuncFacts
    avail: frozenset[str]
    body: list[ast.stmt] | None = None  # loop statements: the body list holding the statement


@dataclass
class BlockFacts:
    """Everything the operators need to know about one block."""

    funcs: list[FuncFacts]
    values: list[Site]  # numeric expressions in value context
    literals: list[Site]  # numeric literals in value context (constants to perturb / tune)
    compares: list[Site]  # order comparisons between values
    loop_stmts: list[Site]  # statements in loop bodies that may be deleted / duplicated
    globals: set[str]  # module-level names of the whole program (imports, defs, constants)
    np: str | None  # alias under which numpy is imported
    math: str | None

    def func(self, name: str) -> FuncFacts | None:
        return next((f for f in self.funcs if f.name == name), None)


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
    return float(e.value)


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


def _target_names(t: ast.AST) -> list[str]:
    if isinstance(t, ast.Name):
        return [t.id]
    if isinstance(t, (ast.Tuple, ast.List)):
        return [n for x in t.elts for n in _target_names(x)]
    return []


def _array_call(n: ast.Call, np_alias: str | None) -> bool:
    """len(x), np.argsort(x), np.sum(x), ...: calls whose first argument is an array."""
    mod, name = call_name(n)
    return (mod is None and name == "len") or (mod is not None and mod == np_alias
                                               and name in NP_ARRAY_ARGS)


def _arith_names(e: ast.AST) -> list[str]:
    """Names combined by arithmetic only (`p / w` -> p, w): they share the expression's shape."""
    if isinstance(e, ast.Name):
        return [e.id]
    if isinstance(e, ast.BinOp):
        return _arith_names(e.left) + _arith_names(e.right)
    if isinstance(e, ast.UnaryOp):
        return _arith_names(e.operand)
    return []


def _pairs(st: ast.stmt) -> list[tuple[ast.expr, ast.expr | None]]:
    """(target, value) pairs of an assignment; `a, b = x, y` splits into (a, x) and (b, y)."""
    targets = st.targets if isinstance(st, ast.Assign) else [st.target]
    v = st.value
    out = []
    for t in targets:
        if isinstance(t, (ast.Tuple, ast.List)) and isinstance(v, (ast.Tuple, ast.List)) and \
                len(t.elts) == len(v.elts) and not any(isinstance(e, ast.Starred) for e in t.elts):
            out += list(zip(t.elts, v.elts))
        else:
            out.append((t, v))
    return out


def _base_name(t: ast.AST) -> str | None:
    while isinstance(t, ast.Subscript):
        t = t.value
    return t.id if isinstance(t, ast.Name) else None


def _own_stmts(body: list[ast.stmt]):
    """Statements of a function body, nested blocks included, nested defs excluded."""
    for st in body:
        yield st
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            yield from _own_stmts(getattr(st, name, []) or [])


def _globals(module: ast.Module) -> tuple[set[str], str | None, str | None]:
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
                names.update(_target_names(t))
    return names, np_alias, math_alias


class _Analyzer:
    """Walks one block: kinds, taint, then sites with the names bound at each statement."""

    def __init__(self, tree: ast.Module, module: ast.Module, outer: FuncFacts | None = None,
                 known_returns: dict[str, str | None] | None = None):
        self.globals, self.np, self.math = _globals(module)
        self.defs = {st.name: st for st in tree.body if isinstance(st, ast.FunctionDef)}
        self.evidence: dict[str, set[str]] = {}  # arguments whose kind their use reveals
        self.funcs = [self._func(d, d.body, [a.arg for a in d.args.posonlyargs + d.args.args
                                               + d.args.kwonlyargs]) for d in self.defs.values()]
        top = [st for st in tree.body if not isinstance(st, ast.FunctionDef)]
        # statements of a block nested in a fixed function read that function's names
        pseudo = self._func(None, top, self._free(top))
        if outer is not None:
            for a in pseudo.args:
                pseudo.kinds[a] = outer.kinds.get(a, pseudo.kinds[a])
                if a in outer.tainted:
                    pseudo.tainted.add(a)
                if a in outer.range_vars:
                    pseudo.range_vars.add(a)
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
        self.values: list[Site] = []
        self.literals: list[Site] = []
        self.compares: list[Site] = []
        self.loop_stmts: list[Site] = []
        for f in self.funcs:
            self._env = self._kind_env(f)
            self._f = f
            self._body(self.bodies[f.name], frozenset(f.args), False)

    def facts(self) -> BlockFacts:
        return BlockFacts(self.funcs, self.values, self.literals, self.compares, self.loop_stmts,
                          self.globals | set(self.defs), self.np, self.math)

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
            elif isinstance(n, ast.Call) and n.args and _array_call(n, self.np):
                for a in _arith_names(n.args[0]):
                    if a in args and f.kinds[a] != "M":
                        f.kinds[a] = "A"
            if base in args and f.kinds[base] != "M":
                f.kinds[base] = "A"
        self.evidence[f.name] = {a for a in args if f.kinds[a] is not None}
        return f

    def _call_site_kinds(self) -> None:
        """A block function's argument without evidence takes the kind its callers pass."""
        passed: dict[tuple[str, str], str | None] = {}
        for f in self.funcs:
            env = self._kind_env(f)
            for n in (x for st in self.bodies[f.name] for x in ast.walk(st)):
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and \
                        n.func.id in self.defs:
                    d = self.defs[n.func.id]
                    for a, param in zip(n.args, d.args.posonlyargs + d.args.args):
                        key = (d.name, param.arg)
                        k = env.kind(a)
                        passed[key] = merge(passed[key], k) if key in passed else k
        for (name, param), k in passed.items():
            g = self.func(name)
            if g is not None and param not in self.evidence[name]:
                g.kinds[param] = k
        # an unused input of a function the problem calls (EDD ignores p) is most likely an
        # array like its siblings; arrays only ever reach array sites, where scalars broadcast
        for f in self.funcs:
            if f.node is not None and f.name not in {n for n, _ in passed}:
                if any(f.kinds.get(a) == "A" for a in f.args):
                    for a in f.args:
                        if f.kinds.get(a) is None:
                            f.kinds[a] = "A"

    def _kind_env(self, f: FuncFacts) -> KindEnv:
        return KindEnv(f.kinds, self.returns, {self.np} if self.np else set())

    def _kinds(self, f: FuncFacts) -> None:
        env = self._kind_env(f)
        body = self.bodies[f.name]
        for _ in range(2):
            seen: dict[str, str | None] = {}
            for st in _own_stmts(body):
                if isinstance(st, ast.Assign):
                    for t, v in _pairs(st):
                        if isinstance(t, ast.Name):
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
        for st in _own_stmts(body):
            if isinstance(st, (ast.For, ast.While)):
                for inner in _own_stmts(st.body):
                    if isinstance(inner, (ast.Assign, ast.AugAssign)):
                        targets = inner.targets if isinstance(inner, ast.Assign) else [inner.target]
                        for t in targets:
                            f.loop_assigned.update(_target_names(t))

    def _for_kinds(self, st: ast.For, env: KindEnv, seen: dict, f: FuncFacts) -> None:
        it = st.iter
        if isinstance(it, ast.Call) and call_name(it) == (None, "range"):
            for n in _target_names(st.target):
                seen[n] = "i"
                f.range_vars.add(n)
        elif isinstance(it, ast.Call) and call_name(it) == (None, "enumerate") and it.args and \
                isinstance(st.target, ast.Tuple) and len(st.target.elts) == 2:
            i, x = st.target.elts
            if isinstance(i, ast.Name):
                seen[i.id] = "i"
                f.range_vars.add(i.id)
            if isinstance(x, ast.Name):
                seen[x.id] = {"A": "f", "I": "i", "B": "b", "M": "A"}.get(env.kind(it.args[0]))
        elif isinstance(st.target, ast.Name):
            seen[st.target.id] = {"A": "f", "I": "i", "B": "b", "M": "A"}.get(env.kind(it))

    def _return_kind(self, f: FuncFacts) -> str | None:
        env = self._kind_env(f)
        kinds = [env.kind(st.value) for st in _own_stmts(self.bodies[f.name])
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
        stmts = list(_own_stmts(self.bodies[f.name]))
        exprs = [n for st in stmts for n in ast.walk(st) if isinstance(n, (ast.Subscript, ast.Call))]
        for n in exprs:
            if isinstance(n, ast.Subscript):
                t.update(names_in(n.slice))
            else:
                t.update(x for a in self._index_args(n) for x in names_in(a))
        while True:
            before = len(t)
            for st in stmts:
                if isinstance(st, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                    for x, v in _pairs(st):
                        if v is not None and (_base_name(x) in t or set(_target_names(x)) & t):
                            t.update(names_in(v))
                elif isinstance(st, ast.For) and set(_target_names(st.target)) & t:
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

    # ---- sites ----------------------------------------------------------------------------
    def _body(self, body: list[ast.stmt], avail: frozenset[str], in_loop: bool) -> None:
        bound = set(avail)
        for st in body:
            self._stmt(st, body, frozenset(bound), in_loop)
            if isinstance(st, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = st.targets if isinstance(st, ast.Assign) else [st.target]
                for x in targets:
                    bound.update(_target_names(x))

    def _stmt(self, st: ast.stmt, body: list, avail: frozenset[str], in_loop: bool) -> None:
        f, t = self._f, self._f.tainted
        if isinstance(st, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = st.targets if isinstance(st, ast.Assign) else [st.target]
            for x, v in _pairs(st):
                for sub in ast.walk(x):
                    if isinstance(sub, ast.Subscript):
                        self._expr(sub.slice, True, avail)
                if v is not None:
                    self._expr(v, _base_name(x) in t or bool(set(_target_names(x)) & t), avail)
            name = targets[0].id if len(targets) == 1 and isinstance(targets[0], ast.Name) else None
            if in_loop and name and name not in t:
                aug = isinstance(st, ast.AugAssign)
                reads_self = aug or (st.value is not None and name in names_in(st.value))
                if aug or name in avail or reads_self:
                    self.loop_stmts.append(Site(st, "dup" if reads_self else "del", f, avail, body))
        elif isinstance(st, ast.Return) and st.value is not None:
            self._expr(st.value, self._env.kind(st.value) in ("i", "I", "b", "B"), avail)
        elif isinstance(st, ast.Expr):
            self._expr(st.value, False, avail)
        elif isinstance(st, ast.For):
            self._expr(st.iter, True, avail)
            self._body(st.body, avail | set(_target_names(st.target)), True)
            self._body(st.orelse, avail, in_loop)
        elif isinstance(st, ast.While):
            self._expr(st.test, False, avail)
            self._body(st.body, avail, True)
            self._body(st.orelse, avail, in_loop)
        elif isinstance(st, ast.If):
            self._expr(st.test, False, avail)
            self._body(st.body, avail, in_loop)
            self._body(st.orelse, avail, in_loop)

    def _expr(self, e: ast.AST, idx: bool, avail: frozenset[str]) -> None:  # noqa: C901
        if isinstance(e, _SKIP):
            return
        f = self._f
        k = self._env.kind(e)
        if isinstance(e, ast.Subscript) and k == "f" and isinstance(e.ctx, ast.Load):
            key = ast.unparse(e)
            f.atoms.setdefault(key, (e, frozenset(free_names(e) - self.globals)))
        if not idx and k in NUMERIC and not (isinstance(e, ast.Name) and e.id in f.tainted):
            site = Site(e, k, f, avail)
            self.values.append(site)
            if is_literal(e):
                self.literals.append(site)
                return
        if isinstance(e, ast.Subscript):
            self._expr(e.slice, True, avail)
        elif isinstance(e, ast.Call):
            mod, name = call_name(e)
            index_args = {id(a) for a in self._index_args(e)}
            value_args = name in VALUE_ARG_CALLS
            for a in e.args:
                self._expr(a, (id(a) in index_args or idx) and not value_args, avail)
        elif isinstance(e, ast.Compare):
            operands = [e.left, *e.comparators]
            exposed = any(names_in(o, skip_slices=True) & f.tainted for o in operands)
            if not idx and not exposed and all(isinstance(o, _ORDER_OPS) for o in e.ops):
                self.compares.append(Site(e, "b", f, avail))
            for o in operands:
                self._expr(o, idx or exposed, avail)
        elif isinstance(e, (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.IfExp, ast.Tuple, ast.List)):
            for c in ast.iter_child_nodes(e):
                if isinstance(c, ast.expr):
                    self._expr(c, idx, avail)


def analyze(tree: ast.Module, module: ast.Module, block_line: int = 0) -> BlockFacts:
    """Facts of a block `tree` inside the whole program `module` (imports, and the fixed
    function around the block when its first line `block_line` sits inside one)."""
    mine = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    fixed = [n for n in module.body if isinstance(n, ast.FunctionDef) and n.name not in mine]
    known = _Analyzer(ast.Module(fixed, []), module).returns if fixed else {}
    around = [n for n in ast.walk(module) if isinstance(n, ast.FunctionDef)
              and n.lineno < block_line <= n.end_lineno]
    outer = None
    if around:
        fn = max(around, key=lambda n: n.lineno)
        outer = _Analyzer(ast.Module([fn], []), module, known_returns=known).funcs[0]
    return _Analyzer(tree, module, outer, known).facts()
