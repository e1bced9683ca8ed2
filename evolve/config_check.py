"""The one checker behind the schema: OmegaConf errors and range rules as one line per mistake.

Types, keys and choices are OmegaConf's job (the dataclasses in evolve/config_schema.py and
problems/*/schema.py). What OmegaConf cannot express sits in field metadata (`ge`, `gt`, `le`,
`nonempty`; on a list they hold for every item) and in an optional `rules(node) -> str` function
of a dataclass (cross-field rules: 'key=value: why' relative to the node, ': why' about the
node as a whole, '' when fine); `walk` checks both, `typed` merges a plain dict onto a schema
and walks it.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from evolve.config import ConfigError


def num(default: Any, *, ge: float | None = None, gt: float | None = None,
        le: float | None = None) -> Any:
    """A field with a range: `ge`/`gt`/`le` bounds (for a list: every item)."""
    bounds = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le)) if v is not None}
    return dataclasses.field(default=default, metadata=bounds)


def items(factory: Callable[[], Any] | None, *, nonempty: bool = False, ge: float | None = None,
          gt: float | None = None, le: float | None = None) -> Any:
    """A list (or None) field: `nonempty`, and bounds for every item."""
    meta = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le)) if v is not None}
    meta["nonempty"] = nonempty
    if factory is None:
        return dataclasses.field(default=None, metadata=meta)
    return dataclasses.field(default_factory=factory, metadata=meta)


# ---- OmegaConf / Hydra exceptions -> one line ---------------------------------------------------
def _unwrap(t: Any) -> Any:
    """`X` of `Optional[X]`."""
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        return args[0] if len(args) == 1 else t
    return t


def expected(t: Any) -> str:
    """What a value of type `t` must look like, for a message."""
    t = _unwrap(t)
    if isinstance(t, type) and issubclass(t, enum.Enum):
        return f"choose one of {', '.join(m.name for m in t)}"
    if t is bool:
        return "expected true or false"
    if t is int:
        return "expected an integer"
    if t is float:
        return "expected a finite number"
    if t is str:
        return "expected a string"
    if typing.get_origin(t) in (list, tuple) or t in (list, tuple):
        return "expected a list"
    return "expected a mapping"


def _field_type(owner: Any, key: Any, ref: Any) -> Any:
    if isinstance(owner, type) and dataclasses.is_dataclass(owner):
        try:
            return typing.get_type_hints(owner).get(str(key), Any)
        except (NameError, TypeError):
            return Any
    args = typing.get_args(ref)  # List[X] -> X, Dict[str, X] -> X
    return args[-1] if args else Any


def _where(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix and key else (prefix or key)


def describe(exc: OmegaConfBaseException, prefix: str = "",
             valid: list[str] | None = None) -> str:
    """One line naming key and value for an OmegaConf error; `prefix` is where the node sits,
    `valid` the keys allowed next to an unknown one (default: the parent node's)."""
    key = str(exc.full_key or exc.key or "")
    parent = exc.parent_node
    if parent is not None and exc.key is not None and valid is None:
        try:  # a merge of nested nodes may have lost the path on the way
            key = parent._get_full_key(exc.key) or key
        except Exception:  # noqa: BLE001 - a detached node: keep what the exception says
            pass
    key = _where(prefix, key)
    if isinstance(exc, (KeyError, AttributeError)):
        if valid is None and isinstance(parent, DictConfig):
            valid = [str(k) for k in parent if k != "hydra"]
        under = key.rsplit(".", 1)[0] if "." in key else "the root"
        return (f"unknown config key '{key}'"
                + (f" (valid keys under {under}: {', '.join(sorted(valid))})" if valid else ""))
    if exc.value is None and "None" in str(exc).split("\n")[0]:
        return f"{key}=null: a value is required"
    t = _field_type(exc.object_type, exc.key, exc.ref_type)
    if t is Any:  # no type to name: OmegaConf's own first line
        return f"{key}={exc.value!r}: {str(exc).splitlines()[0]}"
    return f"{key}={exc.value!r}: {expected(t)}"


def one_line(msg: str) -> str:
    return " ".join(str(msg).split())


# ---- the walker ---------------------------------------------------------------------------------
def _bad_number(value: Any, meta: Mapping[str, Any]) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "expected a finite number"
    if "gt" in meta and not value > meta["gt"]:
        return f"must be > {meta['gt']:g}"
    if "ge" in meta and not value >= meta["ge"]:
        return f"must be >= {meta['ge']:g}"
    if "le" in meta and not value <= meta["le"]:
        return f"must be <= {meta['le']:g}"
    return ""


def _shown(key: str, value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{key}={int(value)}"  # as typed: 0, not the 0.0 OmegaConf made of it
    return f"{key}={value!r}"


def _check_value(key: str, value: Any, t: Any, meta: Mapping[str, Any]) -> str:
    """The first problem of one value (recursing into dataclasses and lists), or ''."""
    if value is None:
        return ""  # a None that the type does not allow is OmegaConf's error
    t = _unwrap(t)
    if isinstance(t, type) and dataclasses.is_dataclass(t):
        return walk(value, t, key)
    if isinstance(value, ListConfig):
        if meta.get("nonempty") and len(value) == 0:
            args = typing.get_args(t)
            item = _unwrap(args[0]) if args else None
            names = (f" of {', '.join(m.name for m in item)}"
                     if isinstance(item, type) and issubclass(item, enum.Enum) else "")
            return f"{key}=[]: name at least one{names}"
        args = typing.get_args(t)
        for i in range(len(value)):
            item = None if OmegaConf.is_missing(value, i) else value[i]
            bad = _check_value(f"{key}[{i}]", item, args[0] if args else Any, meta)
            if bad:
                return bad
        return ""
    if isinstance(value, DictConfig):
        runtime = OmegaConf.get_type(value)  # a field typed Any that holds a dataclass
        if isinstance(runtime, type) and dataclasses.is_dataclass(runtime):
            return walk(value, runtime, key)
        args = typing.get_args(t)
        for k in value:
            bad = _check_value(f"{key}.{k!s}", value[k], args[-1] if args else Any, meta)
            if bad:
                return bad
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        why = _bad_number(value, meta)
        return f"{_shown(key, value)}: {why}" if why else ""
    return ""


def walk(node: DictConfig, cls: type, prefix: str) -> str:
    """The first range or cross-field problem of a typed `node` of dataclass `cls`, or ''."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if OmegaConf.is_missing(node, f.name):
            continue
        bad = _check_value(_where(prefix, f.name), node[f.name], hints[f.name], f.metadata)
        if bad:
            return bad
    rules = getattr(cls, "rules", None)  # cross-field rules: a message relative to the node
    msg = rules(node) if rules is not None else ""
    if msg.startswith(":"):  # about the node as a whole
        return f"{prefix or 'the config'}{msg}"
    return _where(prefix, msg) if msg else ""


def _section_type(hint: Any) -> type | None:
    """The dataclass a field holds (`Split`, `Split | None`), else None."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    inner = args[0] if len(args) == 1 and typing.get_origin(hint) is not list else hint
    return inner if isinstance(inner, type) and dataclasses.is_dataclass(inner) else None


def with_section_defaults(cls: type, values: Any) -> Any:
    """`values` with every section it gives completed by that section class's own defaults.

    Merged onto `cls` as is, a given section's absent keys would take the parent's preset for
    that section (e.g. the SMTT train split's per-size counts, made for its default sizes),
    which can contradict the keys the section does give. A saved config from before a key
    existed must mean what it meant then: a new key's class default is its "off" value."""
    if not isinstance(values, dict) or not dataclasses.is_dataclass(cls):
        return values  # a composed DictConfig is complete already
    hints = typing.get_type_hints(cls)
    out = dict(values)
    for key, value in values.items():
        inner = _section_type(hints.get(str(key)))
        if inner is None or not isinstance(value, dict):
            continue
        own = OmegaConf.to_container(OmegaConf.structured(inner), resolve=False)
        assert isinstance(own, dict)
        out[key] = {**own, **with_section_defaults(inner, value)}
    return out


def typed(cls: type, values: Any, prefix: str,
          error: type[Exception] = ConfigError) -> DictConfig:
    """`values` (a dict or DictConfig) merged onto the schema `cls` and checked; raises `error`
    with one line naming `prefix`.key and the value."""
    values = with_section_defaults(cls, values)
    try:
        node = OmegaConf.merge(OmegaConf.structured(cls), values if values is not None else {})
    except OmegaConfBaseException as e:
        if isinstance(values, Mapping) and e.full_key:
            # items of lists are merged detached, so their errors lose the path: find it
            where = next((p for p in _paths(values) if p == e.full_key
                          or p.endswith(f".{e.full_key}")), str(e.full_key))
            if where != e.full_key:
                e.full_key = where
                raise error(describe(e, prefix, _fields_at(cls, where))) from None
        raise error(describe(e, prefix)) from None
    assert isinstance(node, DictConfig)
    bad = walk(node, cls, prefix)
    if bad:
        raise error(bad)
    return node


def _paths(values: Any, path: str = "") -> list[str]:
    """Every dotted path inside plain `values` (list items as [i])."""
    out = []
    if isinstance(values, Mapping):
        for k, v in values.items():
            out += [_where(path, str(k)), *_paths(v, _where(path, str(k)))]
    elif isinstance(values, (list, tuple)):
        for i, v in enumerate(values):
            out += _paths(v, f"{path}[{i}]")
    return out


def _fields_at(cls: type, dotted: str) -> list[str] | None:
    """The keys the schema allows next to the last part of `dotted`."""
    t: Any = cls
    for part in dotted.replace("[", ".[").split(".")[:-1]:
        if part.startswith("["):
            args = typing.get_args(_unwrap(t))
            t = _unwrap(args[0]) if args else None
        elif isinstance(t, type) and dataclasses.is_dataclass(t):
            t = _unwrap(typing.get_type_hints(t).get(part))
        else:
            return None
    return [f.name for f in dataclasses.fields(t)] if isinstance(t, type) and \
        dataclasses.is_dataclass(t) else None


def required(node: DictConfig, keys: tuple[str, ...]) -> str:
    """'<key>: missing ...' for the first of `keys` without a value, or '' (for `rules`)."""
    for k in keys:
        if OmegaConf.is_missing(node, k):
            return f"{k}: missing (no value in the config)"
    return ""
