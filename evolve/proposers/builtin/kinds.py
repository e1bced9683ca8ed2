"""Value kinds of expressions in numba-style heuristic code (scalar / array, int / float / bool).

Kinds: "f" numeric scalar (float or unknown), "i" int scalar, "b" bool scalar, "A" numeric array,
"I" int array (indices), "B" bool array, "M" 2-D array, None unknown. The mutator only builds
expressions of numeric kinds and never lets a float reach an index.
"""

from __future__ import annotations

import ast

SCALARS = ("f", "i")
ARRAYS = ("A", "M")

NP_ELEMENTWISE = {"exp", "log", "sqrt", "abs", "maximum", "minimum", "tanh", "log1p", "expm1",
                  "power", "where", "floor", "ceil", "square", "sign", "fabs", "clip"}
NP_REDUCE = {"sum", "max", "min", "mean", "std", "median", "prod", "amax", "amin", "var",
             "dot", "quantile", "percentile"}
NP_INDEX = {"argsort", "arange", "lexsort", "nonzero", "flatnonzero", "searchsorted"}
NP_ALLOC = {"zeros", "empty", "ones", "full", "zeros_like", "empty_like", "ones_like",
            "full_like", "copy", "cumsum", "sort", "array", "asarray", "ascontiguousarray"}
# numpy calls that only make sense on arrays: a name reaching them is an array.
NP_ARRAY_ARGS = NP_REDUCE | NP_INDEX | {"argmin", "argmax", "copy", "cumsum", "sort",
                                        "zeros_like", "empty_like", "ones_like", "full_like"}
# Calls whose arguments are values even when the call's result is used as an index.
VALUE_ARG_CALLS = {"argsort", "argmin", "argmax", "len", "lexsort", "searchsorted", "isnan",
                   "isinf", "isfinite", "nonzero", "flatnonzero"}
# Calls whose (first / all) arguments are shapes or bounds: index context.
INDEX_ARG_CALLS = {"range": None, "zeros": 1, "empty": 1, "ones": 1, "full": 1, "arange": None}


def call_name(node: ast.Call) -> tuple[str | None, str]:
    """(module alias or None, function name) of a call such as `np.exp(x)` or `max(a, b)`."""
    f = node.func
    if isinstance(f, ast.Name):
        return None, f.id
    if isinstance(f, ast.Attribute):
        base = f.value.id if isinstance(f.value, ast.Name) else None
        return base, f.attr
    return None, ""


def merge(a: str | None, b: str | None) -> str | None:
    """Kind of a variable assigned values of kinds a and b (numba unifies int and float)."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    if {a, b} == {"i", "f"}:
        return "f"
    if {a, b} <= {"A", "I"}:
        return "A"
    return None


# Position of the dtype argument of numpy allocations.
_DTYPE_POS = {"zeros": 1, "empty": 1, "ones": 1, "full": 2, "zeros_like": 1, "empty_like": 1,
              "ones_like": 1, "full_like": 2, "array": 1, "asarray": 1}


def _dtype_kind(call: ast.Call, like: str | None = None) -> str:
    """Array kind from a dtype argument of an allocation (int / bool / float); `*_like`
    allocations without a dtype take the kind of their model array."""
    dt = None
    for kw in call.keywords:
        if kw.arg == "dtype":
            dt = kw.value
    pos = _DTYPE_POS.get(call_name(call)[1])
    if dt is None and pos is not None and len(call.args) > pos:
        dt = call.args[pos]
    if dt is None and like in ("I", "B"):
        return like
    text = ast.unparse(dt) if dt is not None else ""
    if "bool" in text:
        return "B"
    if "int" in text:
        return "I"
    return "A"


class KindEnv:
    """Infers expression kinds from a name -> kind map and the block's function return kinds."""

    def __init__(self, names: dict[str, str | None], returns: dict[str, str | None],
                 np_aliases: set[str]):
        self.names = names
        self.returns = returns
        self.np = np_aliases | {"math"}

    def kind(self, e: ast.AST) -> str | None:
        if isinstance(e, ast.Constant):
            v = e.value
            if isinstance(v, bool):
                return "b"
            if isinstance(v, int):
                return "i"
            return "f" if isinstance(v, float) else None
        if isinstance(e, ast.Name):
            return self.names.get(e.id)
        if isinstance(e, ast.Attribute):
            if e.attr in ("inf", "pi", "e", "nan") and isinstance(e.value, ast.Name):
                return "f"
            return "i" if e.attr in ("size", "ndim") else None
        if isinstance(e, ast.Subscript):
            return self._subscript(e)
        if isinstance(e, ast.BinOp):
            a, b = self.kind(e.left), self.kind(e.right)
            if "b" in (a, b) or "B" in (a, b):
                return None
            if a in ("A", "M") or b in ("A", "M"):  # arithmetic with an array is an array
                return "M" if "M" in (a, b) else "A"
            if a is None or b is None:
                return None
            if a in ("A", "I", "M") or b in ("A", "I", "M"):
                if a in ("I", "i") and b in ("I", "i") and not isinstance(e.op, ast.Div):
                    return "I"
                return "M" if "M" in (a, b) else "A"
            if a == "i" and b == "i" and not isinstance(e.op, ast.Div):
                return "i"
            return "f"
        if isinstance(e, ast.UnaryOp):
            if isinstance(e.op, ast.Not):
                return "b"
            return self.kind(e.operand)
        if isinstance(e, (ast.Compare, ast.BoolOp)):
            return "b"
        if isinstance(e, ast.IfExp):
            return merge(self.kind(e.body), self.kind(e.orelse))
        if isinstance(e, ast.Call):
            return self._call(e)
        return None

    def _subscript(self, e: ast.Subscript) -> str | None:
        if isinstance(e.value, ast.Attribute) and e.value.attr == "shape":
            return "i"
        base = self.kind(e.value)
        sl = e.slice
        sliced = isinstance(sl, ast.Slice) or (
            isinstance(sl, ast.Tuple) and any(isinstance(x, ast.Slice) for x in sl.elts))
        if base == "M":
            return "A" if sliced or not isinstance(sl, ast.Tuple) else "f"
        if base in ("A", "I", "B"):
            k = self.kind(sl)
            if sliced or k in ("A", "I", "B"):
                return base
            if k == "i":
                return {"A": "f", "I": "i", "B": "b"}[base]
        return None  # e.g. indexed by something of unknown kind: may be a gather (an array)

    def _call(self, e: ast.Call) -> str | None:
        mod, name = call_name(e)
        args = [self.kind(a) for a in e.args]
        arrayish = any(k in ("A", "I", "M") for k in args)
        if mod is None:
            if name in self.returns:
                return self.returns[name]
            if name == "abs":
                return args[0] if args else None
            if name in ("min", "max"):
                if len(args) < 2 or arrayish:
                    return "f" if len(args) == 1 else None
                return "i" if all(k == "i" for k in args) else "f"
            if name in ("float",):
                return "f"
            if name in ("int", "len", "round"):
                return "i"
            if name == "bool":
                return "b"
            return None
        if mod not in self.np:
            if name == "copy" and isinstance(e.func, ast.Attribute):
                return self.kind(e.func.value)
            return None
        if name in NP_ELEMENTWISE:
            return ("M" if "M" in args else "A") if arrayish else "f"
        if name in NP_REDUCE:
            return "A" if any(kw.arg == "axis" for kw in e.keywords) else "f"
        if name in ("argmin", "argmax"):
            return "i"
        if name in NP_INDEX:
            return "I"
        if name in NP_ALLOC:
            if name in ("copy", "cumsum", "sort", "asarray", "ascontiguousarray", "array") \
                    and not e.keywords and len(e.args) == 1:
                return args[0] if args and args[0] in ("A", "I", "B", "M") else "A"
            k = _dtype_kind(e, args[0] if name.endswith("_like") and args else None)
            if k == "A" and e.args and isinstance(e.args[0], ast.Tuple):
                return "M"
            return k
        if name in ("float64", "float32", "double"):
            return "f"
        if name in ("int64", "int32", "intp"):
            return "i"
        if name in ("isnan", "isinf", "isfinite"):
            return "B" if arrayish else "b"
        if name in ("inf", "pi", "e"):
            return "f"
        return None
