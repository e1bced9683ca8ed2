"""Composing and checking the Hydra config; every mistake becomes one line naming key and value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

GROUPS = ("problem", "search", "proposer", "llm")


class ConfigError(Exception):
    """A bad config key, value or choice (one line for the user)."""


def _one_line(msg: str) -> str:
    return " ".join(msg.split())


def compose(overrides: list[str], config_dirs: list[str] = ()) -> DictConfig:
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
        group = text.split("Could not find '")[-1].split("/")[0] if "Could not find" in text else "?"
        bad = text.split("Could not find '")[-1].split("'")[0] if "Could not find" in text else "?"
        choices = ", ".join(sorted(o for o in (e.options or []) if not o.startswith("_"))) or "none"
        raise ConfigError(f"unknown {group} '{bad.split('/')[-1]}' (valid {group} choices: "
                          f"{choices})") from None
    except HydraException as e:
        text = str(e)
        if "Could not override" in text:
            key = text.split("'")[1]
            raise ConfigError(f"unknown config key '{key}' ({_valid_keys_hint(key, config_dirs)})") from None
        raise ConfigError(_one_line(text).split(" See https")[0]) from None


def _valid_keys_hint(key: str, config_dirs) -> str:
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    try:
        base = compose([], config_dirs)
        node = OmegaConf.select(base, parent) if parent else base
        if isinstance(node, DictConfig):
            return f"valid keys under {parent or 'the root'}: {', '.join(sorted(map(str, node.keys())))}"
    except ConfigError:
        pass
    return "see `evolve --show`"


_TYPES: dict[str, type] = {
    "search.iterations": int, "search.seed": int, "search.islands": int, "search.concurrency": int,
    "search.migration_interval": int, "search.migration_count": int, "search.max_seconds": float,
    "search.target_score": float, "search.exploration": float, "search.power_law_alpha": float,
    "evaluator.workers": int, "evaluator.timeout_s": float, "evaluator.memory_mb": int,
    "evaluator.max_output_kb": int, "llm.max_cost_usd": float,
}
_POSITIVE = {"search.islands", "search.concurrency", "evaluator.workers", "evaluator.timeout_s"}


def validate(cfg: DictConfig) -> None:
    """Type-check the numeric knobs users override most."""
    for key, typ in _TYPES.items():
        value = OmegaConf.select(cfg, key, default=None)
        if value is None:
            continue
        try:
            cast = typ(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}={value!r}: expected a{'n integer' if typ is int else ' number'}") from None
        if typ is int and isinstance(value, float) and value != int(value):
            raise ConfigError(f"{key}={value!r}: expected an integer")
        if key in _POSITIVE and cast <= 0:
            raise ConfigError(f"{key}={value!r}: must be positive")
        if key == "search.iterations" and cast < 0:
            raise ConfigError(f"{key}={value!r}: must be >= 0")
    if not 0.0 <= float(OmegaConf.select(cfg, "search.exploration", default=0.0)) <= 1.0:
        raise ConfigError(f"search.exploration={cfg.search.exploration!r}: must be within [0, 1]")


def to_dict(node: Any) -> dict:
    return OmegaConf.to_container(node, resolve=True) if node is not None else {}


def group_choices(config_dirs: list[str] = ()) -> dict[str, list[str]]:
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
