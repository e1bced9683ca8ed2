"""Compiled numba functions of trusted seeds, reused by candidates that did not change them.

A candidate module usually edits one function of its seed; numba would still recompile every
`@njit` helper (about 4 s for moe_placement). Trusted code (the worker's seed warm-up, before it
forks candidates' children) loads its seed inside `recording()`: the module's numba dispatchers
are kept here, keyed by `function_key` (source of the definition, decorator options and, through
the globals it reads, the keys of its callees and the values of its constants). A candidate
loaded later gets, in its own namespace, the recorded dispatcher for every function whose key is
unchanged, before anything compiles; a changed function (or one whose callee changed) compiles
as usual.

Trust: only code inside `recording()` writes here, and only trusted code enters it. Candidates
run in children forked from the worker: what a child compiles, or does to an inherited
dispatcher, stays in the child's memory and never reaches the worker or another child.
"""

from __future__ import annotations

import ast
import hashlib
import sys
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

_RECORDED: dict[str, Any] = {}  # function key -> numba dispatcher of a trusted module
_STATE = {"recording": False}
_CONSTANTS = (bool, int, float, complex, str, bytes, type(None))


@contextmanager
def recording() -> Iterator[None]:
    """Functions of modules loaded inside are offered to later candidates (trusted code only)."""
    before = _STATE["recording"]
    _STATE["recording"] = True
    try:
        yield
    finally:
        _STATE["recording"] = before


def recorded() -> int:
    """How many compiled functions are on offer."""
    return len(_RECORDED)


def forget() -> None:
    """Drop every recorded function (tests)."""
    _RECORDED.clear()


def adopt(code: str, namespace: dict[str, Any]) -> list[str]:
    """Reuse the module's numba functions already on offer and, inside `recording()`, offer the
    others; -> names reused."""
    defs = _definitions(code)
    if defs is None:
        return []
    keys = {}
    for name, value in list(namespace.items()):
        if _is_dispatcher(value) and name in defs:
            key = function_key(name, namespace, defs, {})
            if key is not None:
                keys[name] = key
    reused = []
    for name, key in keys.items():
        hit = _RECORDED.get(key)
        if hit is not None:  # recording too: a second trusted copy of a seed compiles nothing
            namespace[name] = hit
            reused.append(name)
        elif _STATE["recording"]:
            _RECORDED[key] = namespace[name]
    return reused


@lru_cache(maxsize=4)
def _definitions(code: str) -> dict[str, ast.FunctionDef] | None:
    """The module's top-level function definitions by name (None: it does not parse); read once
    per module text for `adopt` and `entry`."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def entry(code: str, name: str, namespace: dict[str, Any], dispatcher: Any) -> Any:
    """The dispatcher to call for the entry `name`, a plain function the engine compiled as
    `dispatcher`: the trusted seed's when its key is unchanged (the seed's own evaluation and its
    copies compile nothing), else `dispatcher`, offered to later candidates inside
    `recording()`."""
    defs = _definitions(code)
    if defs is None:
        return dispatcher
    plain = namespace.get(name)
    namespace[name] = dispatcher  # keyed as if the module had decorated it
    try:
        key = function_key(name, namespace, defs, {})
    finally:
        namespace[name] = plain
    if key is None:
        return dispatcher
    key = "entry:" + key
    hit = _RECORDED.get(key)
    if hit is not None:
        return hit
    if _STATE["recording"]:
        _RECORDED[key] = dispatcher
    return dispatcher


def _is_dispatcher(value: Any) -> bool:
    dispatcher = sys.modules.get("numba.core.dispatcher")
    return dispatcher is not None and isinstance(value, dispatcher.Dispatcher)


def function_key(name: str, namespace: Mapping[str, Any], defs: Mapping[str, ast.FunctionDef],
                 seen: dict[str, str | None]) -> str | None:
    """Key of the numba function `name` of a module, None when it cannot be keyed safely."""
    if name in seen:  # recursion (or a cycle): the name stands for itself
        return seen[name] or f"cycle:{name}"
    seen[name] = None
    value: Any = namespace.get(name)
    node = defs.get(name)
    if not _is_dispatcher(value) or node is None:
        return None
    fn = value.py_func
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    if (fn.__globals__ is not namespace or fn.__closure__ or fn.__kwdefaults__
            or fn.__code__.co_firstlineno != first or fn.__name__ != name):
        return None  # not the definition we read, or state outside the source
    parts = [type(value).__qualname__, repr(sorted(value.targetoptions.items())),
             ast.unparse(node), repr(fn.__defaults__)]
    for ref in sorted(_global_names(fn.__code__)):
        if ref not in namespace:
            continue  # a builtin, or an attribute name
        part = _value_key(ref, namespace, defs, seen)
        if part is None:
            return None
        parts.append(f"{ref}={part}")
    key = hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    seen[name] = key
    return key


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _value_key(ref: str, namespace: Mapping[str, Any], defs: Mapping[str, ast.FunctionDef],
               seen: dict[str, str | None]) -> str | None:
    """What a global read by a numba function contributes to its key (None: not keyable)."""
    value: Any = namespace[ref]
    if _is_dispatcher(value):
        return function_key(ref, namespace, defs, seen)
    if isinstance(value, types.ModuleType):
        return f"module:{value.__name__}" if sys.modules.get(value.__name__) is value else None
    if _constant(value):
        return f"const:{type(value).__name__}:{value!r}"
    owner = sys.modules.get(str(getattr(value, "__module__", None) or ""))
    qual = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if owner is not None and isinstance(qual, str) and "." not in qual \
            and getattr(owner, qual, None) is value:
        return f"ref:{owner.__name__}.{qual}"  # an imported library function or class
    numpy = sys.modules.get("numpy")
    name = str(getattr(value, "__name__", ""))
    if numpy is not None and isinstance(value, numpy.ufunc) and getattr(numpy, name, None) is value:
        return f"ufunc:{name}"
    return None


def _constant(value: Any) -> bool:
    if type(value) in _CONSTANTS:
        return True
    return type(value) is tuple and all(_constant(v) for v in value)
