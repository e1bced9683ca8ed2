"""Composing and checking the Hydra config; every mistake becomes one line naming key and value.

The schema (types, ranges, choices, defaults) is evolve/config_schema.py plus each problem's
problems/<name>/schema.py; evolve/config_check.py is the one checker. This module is the API the
rest of the engine uses: compose, validate, config_error, load_saved, to_dict, group_choices.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

GROUPS = ("problem", "search", "proposer", "llm")

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """A bad config key, value or choice (one line for the user)."""


def register() -> None:
    """Put the structured schema into Hydra's ConfigStore (call before any Hydra compose)."""
    from evolve.config_schema import register as _register

    _register()


def compose(overrides: list[str], config_dirs: Sequence[str] = ()) -> DictConfig:
    """Compose `evolve/conf/config.yaml` with `overrides`; extra `config_dirs` add choices.
    Types, keys and choices are checked here (by Hydra), ranges by `validate`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    register()
    extra = []
    if config_dirs:
        paths = ",".join(f"file://{Path(d).resolve()}" for d in config_dirs)
        extra = [f"hydra.searchpath=[{paths}]"]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="evolve.conf", version_base=None):
            return hydra_compose("config", overrides=extra + list(overrides))
    except Exception as e:  # noqa: BLE001 - Hydra and OmegaConf raise many types; all become one line
        raise config_error(e) from None


def _omega_cause(exc: BaseException | None):
    from omegaconf.errors import OmegaConfBaseException

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OmegaConfBaseException):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def config_error(exc: BaseException) -> ConfigError:
    """The one-line ConfigError for any Hydra/OmegaConf exception (compose, overrides, merges)."""
    from hydra.errors import MissingConfigException

    from evolve.config_check import describe, one_line

    if isinstance(exc, ConfigError):
        return exc
    text = str(exc)
    if isinstance(exc, MissingConfigException) and "Could not find '" in text:
        bad = text.split("Could not find '")[-1].split("'")[0]
        group = bad.rsplit("/", 1)[0] if "/" in bad else "config"
        choices = ", ".join(sorted(o for o in (exc.options or []) if not o.startswith("_")))
        return ConfigError(f"unknown {group} '{bad.split('/')[-1]}' (valid {group} choices: "
                           f"{choices or 'none'})")
    cause = _omega_cause(exc)
    if cause is not None:
        msg = describe(cause)
        over = re.match(r"Error merging override ([^=\s]+)=(.*)", text.split("\n")[0])
        if over and not msg.startswith(over.group(1).split("[")[0]):
            # OmegaConf lost the path (items of nested lists): name the override instead
            return ConfigError(f"{over.group(1)}={over.group(2)}: "
                               f"{one_line(str(cause).splitlines()[0])}")
        return ConfigError(msg)
    if "Could not override '" in text:
        return ConfigError(f"unknown config key '{text.split(chr(39))[1]}'")
    return ConfigError(one_line(text).split(" See https")[0])


def validate(cfg: DictConfig) -> None:
    """Check every value against the schema (type, key, range, cross-field rules), whatever
    built `cfg` (Hydra, a resumed run's config.yaml); the first problem is one ConfigError."""
    from omegaconf.errors import OmegaConfBaseException

    from evolve.config_check import describe, typed, walk
    from evolve.config_schema import ProblemBase, RootConfig, schema_for

    try:
        data = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    except OmegaConfBaseException as e:  # ??? values, broken ${interpolations}
        raise ConfigError(f"{e.full_key}: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError("the config is not a mapping")
    problem = data.pop("problem", None)
    typed(RootConfig, data, "")
    from evolve.archive import check_archive_url  # the URL is saved: it must hold no password

    check_archive_url((data.get("archive") or {}).get("url"))
    if not isinstance(problem, dict):
        raise ConfigError(f"problem={problem!r}: expected a problem section (problem=<name>)")
    node_type = OmegaConf.get_type(cfg, "problem") if "problem" in cfg else None
    schema = node_type if dataclasses.is_dataclass(node_type) else schema_for(problem)
    if schema is not ProblemBase:
        typed(schema, problem, "problem")
        return
    node = OmegaConf.structured(ProblemBase)  # a user's problem: its own keys are its own
    OmegaConf.set_struct(node, False)
    try:
        node = OmegaConf.merge(node, problem)
    except OmegaConfBaseException as e:
        raise ConfigError(describe(e, "problem")) from None
    bad = walk(typing.cast(DictConfig, node), ProblemBase, "problem")
    if bad:
        raise ConfigError(bad)


# Keys renamed since runs were saved: old dotted key -> new dotted key (resume maps them).
RENAMED: dict[str, str] = {}


def _prune(data: dict, cls: type, where: str) -> dict:
    """`data` without keys that `cls` no longer declares (recursively), each one logged."""
    hints = typing.get_type_hints(cls)
    out = {}
    for key, value in data.items():
        if key not in hints:
            log.warning("saved config: %s%s is no longer a config key (ignored)", where, key)
            continue
        t = hints[key]
        args = [a for a in typing.get_args(t) if a is not type(None)]
        inner = args[0] if len(args) == 1 and typing.get_origin(t) is not list else t
        if dataclasses.is_dataclass(inner) and isinstance(value, dict):
            value = _prune(value, typing.cast(type, inner), f"{where}{key}.")
        out[key] = value
    return out


def load_saved(saved: Mapping[str, Any]) -> DictConfig:
    """A saved run config (plain, maybe older: keys missing, renamed or gone) on today's schema:
    missing keys get today's defaults, renamed ones move (RENAMED), gone ones are dropped with a
    warning. The problem section is typed by its shipped schema when its `target` has one."""
    from omegaconf.errors import OmegaConfBaseException

    from evolve.config_check import with_section_defaults
    from evolve.config_schema import ProblemBase, RootConfig, schema_for

    data = OmegaConf.to_container(OmegaConf.create(dict(saved)), resolve=False)
    assert isinstance(data, dict)
    for old, new in RENAMED.items():
        value = OmegaConf.select(OmegaConf.create(data), old, default=_ABSENT)
        if value is not _ABSENT:
            _pop(data, old)
            _put(data, new, value)
    problem = data.pop("problem", None) or {}
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(RootConfig),
                              with_section_defaults(RootConfig, _prune(data, RootConfig, "")))
        schema = schema_for(problem)
        if schema is ProblemBase:
            cfg.problem = problem
        else:
            cfg.problem = OmegaConf.merge(
                OmegaConf.structured(schema),
                with_section_defaults(schema, _prune(problem, schema, "problem.")))
    except OmegaConfBaseException as e:
        raise config_error(e) from None
    assert isinstance(cfg, DictConfig)
    return cfg


_ABSENT = object()


def _pop(data: dict, dotted: str) -> None:
    *path, last = dotted.split(".")
    for k in path:
        data = data.get(k) or {}
    data.pop(last, None)


def _put(data: dict, dotted: str, value: Any) -> None:
    *path, last = dotted.split(".")
    for k in path:
        data = data.setdefault(k, {})
    data[last] = value


def to_dict(node: Any) -> dict:
    """A plain dict of a config section (choices as their names)."""
    if node is None:
        return {}
    out = OmegaConf.to_container(node, resolve=True, enum_to_str=True)
    if not isinstance(out, dict):  # a list where a config section (a mapping) belongs
        raise ConfigError(f"expected a config mapping, got {type(out).__name__}")
    return out


def problem_config(name: str, config_dirs: Sequence[str] = ()) -> dict:
    """The composed section of `problem=<name>` as a plain dict (what make_problem takes)."""
    return to_dict(compose([f"problem={name}"], config_dirs).problem)


def group_choices(config_dirs: Sequence[str] = ()) -> dict[str, list[str]]:
    """Available options per config group (for --help)."""
    from importlib import resources

    out: dict[str, list[str]] = {}
    roots = [Path(str(resources.files("evolve.conf")))] + [Path(d) for d in config_dirs]
    for g in GROUPS:
        names = set()
        for r in roots:
            names |= {p.stem for p in (r / g).glob("*.yaml") if not p.stem.startswith("_")}
        out[g] = sorted(names)
    return out
