"""Composing and checking the Hydra config; every mistake becomes one line naming key and value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from omegaconf import DictConfig, ListConfig, OmegaConf

GROUPS = ("problem", "search", "proposer", "llm")


class ConfigError(Exception):
    """A bad config key, value or choice (one line for the user)."""


def _one_line(msg: str) -> str:
    return " ".join(msg.split())


def compose(overrides: list[str], config_dirs: Sequence[str] = ()) -> DictConfig:
    """Compose `evolve/conf/config.yaml` with `overrides`; extra `config_dirs` add choices."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException, MissingConfigException

    extra = []
    if config_dirs:
        paths = ",".join(f"file://{Path(d).resolve()}" for d in config_dirs)
        extra = [f"hydra.searchpath=[{paths}]"]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module="evolve.conf", version_base=None):
            return hydra_compose("config", overrides=extra + list(overrides))
    except MissingConfigException as e:
        text = str(e)
        group = (text.split("Could not find '")[-1].split("/")[0] if "Could not find" in text
                 else "?")
        bad = text.split("Could not find '")[-1].split("'")[0] if "Could not find" in text else "?"
        choices = ", ".join(sorted(o for o in (e.options or []) if not o.startswith("_"))) or "none"
        raise ConfigError(f"unknown {group} '{bad.split('/')[-1]}' (valid {group} choices: "
                          f"{choices})") from None
    except HydraException as e:
        text = str(e)
        if "Could not override" in text:
            key = text.split("'")[1]
            raise ConfigError(f"unknown config key '{key}' "
                              f"({_valid_keys_hint(key, config_dirs)})") from None
        raise ConfigError(_one_line(text).split(" See https")[0]) from None


def _valid_keys_hint(key: str, config_dirs) -> str:
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    try:
        base = compose([], config_dirs)
        node = OmegaConf.select(base, parent) if parent else base
        if isinstance(node, DictConfig):
            return (f"valid keys under {parent or 'the root'}: "
                    f"{', '.join(sorted(map(str, node.keys())))}")
    except ConfigError:
        pass
    return "see `evolve --show`"


@dataclass(frozen=True)
class Rule:
    """How one config value is checked: kind, bounds, choices, whether null is allowed."""

    kind: type  # int, float, bool, str or list
    low: float | None = None
    low_open: bool = False  # True: value > low; False: value >= low
    high: float | None = None
    choices: tuple[str, ...] | None = None  # for str, or for each item of a list
    nullable: bool = False
    required: bool = True  # the shipped YAML must define it (the one source of defaults)


def _num(kind: type, low=None, high=None, *, gt: bool = False, null: bool = False,
         required: bool = True) -> Rule:
    return Rule(kind, low, gt, high, nullable=null, required=required)


def _choice(*names: str, required: bool = True) -> Rule:
    return Rule(str, choices=names, required=required)


_BOOL, _OPT_STR = Rule(bool), Rule(str, nullable=True)
_INT_POS, _INT_NONNEG, _PROB = _num(int, 0, gt=True), _num(int, 0), _num(float, 0, 1)


class _Optional(TypedDict):
    required: bool


_OPT: _Optional = {"required": False}  # keys of optional sections (the builtin proposer, problems)

# The schema: every config value the engine reads, checked before anything is written.
# `*` matches any one key (operator weights). Problem-specific keys are the problem's own.
SCHEMA: dict[str, Rule] = {
    "resume": _OPT_STR, "run_dir": _OPT_STR, "progress": _BOOL,
    "log_level": _choice("DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"),
    "search.iterations": _INT_NONNEG, "search.seed": _INT_NONNEG,
    "search.islands": _INT_POS, "search.migration_interval": _INT_NONNEG,
    "search.migration_count": _INT_NONNEG, "search.max_seconds": _num(float, 0, gt=True, null=True),
    "search.target_score": _num(float, null=True), "search.concurrency": _INT_POS,
    "search.parent_selection": _choice("power_law", "weighted", "tournament", "uniform"),
    "search.power_law_alpha": _num(float, 0), "search.weighted_sharpness": _num(float, 0, gt=True),
    "search.tournament_k": _INT_POS, "search.fix_probability": _PROB, "search.exploration": _PROB,
    "search.num_top_inspirations": _INT_NONNEG, "search.num_diverse_inspirations": _INT_NONNEG,
    "search.map_elites.features": Rule(list, choices=("code_length", "behaviour", "score")),
    "search.map_elites.bins": _INT_POS,
    "evaluator.workers": _INT_POS, "evaluator.timeout_s": _num(float, 0, gt=True),
    "evaluator.memory_mb": _INT_POS, "evaluator.max_output_kb": _INT_POS,
    "evaluator.isolate_network": _BOOL, "evaluator.drop_privileges": _BOOL, "evaluator.gate": _BOOL,
    "archive.url": _OPT_STR,
    "llm.max_cost_usd": _num(float, 0, gt=True, null=True),
    "problem.name": Rule(str), "problem.target": Rule(str, required=False),
    "problem.seed_program": Rule(str, required=False),
    "problem.preload": Rule(list, required=False),
    "proposer.kind": _choice("auto", "builtin", "llm", "mixed", "scripted"),
    "proposer.builtin_fraction": _PROB, "proposer.programs": Rule(list, **_OPT),
    "proposer.builtin.operators.*": _num(float, 0, **_OPT),
    "proposer.builtin.bandit.window": _num(int, 0, gt=True, **_OPT),
    "proposer.builtin.bandit.prior_n": _num(float, 0, **_OPT),
    "proposer.builtin.bandit.floor": _num(float, 0, 1, **_OPT),
    "proposer.builtin.expr_depth": _num(int, 0, gt=True, **_OPT),
    "proposer.builtin.const_prob": _num(float, 0, 1, **_OPT),
    "proposer.builtin.rel_step": _num(float, 0, **_OPT),
    "proposer.builtin.abs_step": _num(float, 0, **_OPT),
    "proposer.builtin.depth_bias": _num(float, 0, **_OPT),
    "proposer.builtin.key_bias": _num(float, 0, **_OPT),
    "proposer.builtin.max_attempts": _num(int, 0, gt=True, **_OPT),
    "proposer.builtin.tune.max_params": _num(int, 0, gt=True, **_OPT),
    "proposer.builtin.tune.max_evals": _num(int, 0, gt=True, **_OPT),
    "proposer.builtin.tune.sigma0": _num(float, 0, gt=True, **_OPT),
    "proposer.builtin.tune.sets": _choice("train", "gate", **_OPT),
    "proposer.builtin.tune.max_sets": _num(int, 0, gt=True, null=True, **_OPT),
}


def _expand(cfg: DictConfig, key: str) -> list[str]:
    """`key` itself, or one key per child where it ends in `.*`."""
    if not key.endswith(".*"):
        return [key]
    node = OmegaConf.select(cfg, key[:-2], default=None)
    return [f"{key[:-2]}.{k!s}" for k in node] if isinstance(node, DictConfig) else []


def _check(key: str, value: Any, rule: Rule) -> None:
    """Raise ConfigError naming `key=value` when `value` breaks `rule`."""
    shown = f"{key}={value!r}"
    if value is None:
        if not rule.nullable:
            raise ConfigError(f"{key}=null: a value is required")
        return
    if rule.kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{shown}: expected true or false")
        return
    if rule.kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{shown}: expected a string")
        if rule.choices and value not in rule.choices:
            raise ConfigError(f"{shown}: choose one of {', '.join(rule.choices)}")
        return
    if rule.kind is list:
        if isinstance(value, str) or not isinstance(value, (list, tuple, ListConfig)):
            raise ConfigError(f"{shown}: expected a list")
        choices = rule.choices or ()
        bad = [v for v in value if choices and v not in choices]
        if bad:
            raise ConfigError(f"{shown}: unknown {bad[0]!r} "
                              f"(choose from {', '.join(choices)})")
        if choices and not len(value):
            raise ConfigError(f"{key}=[]: name at least one of {', '.join(choices)}")
        return
    integer = rule.kind is int
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or \
            (integer and float(value) != int(value)) or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{shown}: expected a{'n integer' if integer else ' finite number'}")
    if rule.low is not None and (value <= rule.low if rule.low_open else value < rule.low):
        raise ConfigError(f"{shown}: must be {'>' if rule.low_open else '>='} {rule.low:g}")
    if rule.high is not None and value > rule.high:
        raise ConfigError(f"{shown}: must be <= {rule.high:g}")


def validate(cfg: DictConfig) -> None:
    """Check every value in SCHEMA (kind, range, choice); the first problem is one ConfigError."""
    for pattern, rule in SCHEMA.items():
        for key in _expand(cfg, pattern):
            try:
                value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=True)
            except Exception as e:  # noqa: BLE001 - ??? values, broken ${interpolations}
                raise ConfigError(f"{key}: {_one_line(str(e)).split(' full_key:')[0]}") from None
            if value is _ABSENT:
                if rule.required and not pattern.endswith(".*"):
                    raise ConfigError(f"{key}: missing (no default in the config)")
                continue
            _check(key, value, rule)


_ABSENT = object()


def to_dict(node: Any) -> dict:
    if node is None:
        return {}
    out = OmegaConf.to_container(node, resolve=True)
    if not isinstance(out, dict):  # a list where a config section (a mapping) belongs
        raise ConfigError(f"expected a config mapping, got {type(out).__name__}")
    return out


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
