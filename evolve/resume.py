"""`evolve resume=FOLDER`: the saved config of a run, checked like a new one, continued in place."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from evolve.config import ConfigError, compose, config_error
from evolve.trust import CODE_KEYS

GROUP_KEYS = ("problem", "search", "proposer", "llm")


def resume_folder(spec: str) -> Path:
    """The run folder `resume=` names: the folder itself, or the run its `latest` link points
    at (`resume=runs/smtt` continues the newest smtt run, as `evolve-archive runs/smtt` reads)."""
    folder = Path(spec).expanduser()
    latest = folder / "latest"
    if not (folder / "config.yaml").exists() and latest.is_symlink() \
            and (latest / "config.yaml").exists():
        # name the timestamped folder, not `latest`: that link moves when a new run starts
        return folder / os.readlink(latest)
    return folder


def resume_config(folder: Path, overrides: list[str]) -> DictConfig:
    """The run's saved config with plain key=value overrides (no group changes) applied."""
    saved = folder / "config.yaml"
    if not saved.exists():
        raise ConfigError(f"resume={folder}: no config.yaml there (not a run folder)")
    try:
        run_id = json.loads((folder / "run.json").read_text())["run_id"]
        if not isinstance(run_id, int):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"resume={folder}: run.json missing or unreadable "
                          "(not a run folder)") from None
    try:
        cfg = OmegaConf.load(saved)
    except Exception as e:  # noqa: BLE001 - YAML and OmegaConf errors of a damaged file
        raise ConfigError(f"resume={folder}: config.yaml unreadable: "
                          f"{' '.join(str(e).split())[:200]}") from None
    if not isinstance(cfg, DictConfig):  # a YAML list
        raise ConfigError(f"resume={folder}: config.yaml is not a run config (not a mapping)")
    OmegaConf.set_struct(cfg, False)
    _add_new_defaults(cfg)
    for ov in overrides:
        key, _, value = ov.partition("=")
        if key == "resume" or (key.startswith("problem.") and key[8:] in CODE_KEYS):
            continue  # problem.evaluator=PATH and the like: files the user trusts (trust_folder)
        if key in GROUP_KEYS or key.startswith("problem."):
            raise ConfigError(f"{ov}: cannot change the problem or a config group when resuming")
        if key.lstrip("+").startswith(("hydra.", "hydra/")) or key == "run_dir":
            raise ConfigError(f"{ov}: a resumed run continues in its own folder ({folder})")
        if OmegaConf.select(cfg, key.lstrip("+"), default="__missing__") == "__missing__" \
                and not key.startswith("+"):
            raise ConfigError(f"unknown config key '{key}'")
        try:  # the saved sections merged onto the schema are typed: a bad value raises here
            OmegaConf.update(cfg, key.lstrip("+"), _override_value(ov) if value else None,
                             force_add=True)
        except Exception as e:  # noqa: BLE001 - OmegaConf's errors become the one-line message
            raise config_error(e) from None
    cfg.resume = str(folder)
    return cfg


def _override_value(ov: str):
    """The typed value of `key=value` as Hydra parses it (6 -> int, null -> None, [a,b] -> list)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        return OverridesParser.create().parse_override(ov).value()
    except HydraException as e:
        raise ConfigError(f"{ov}: {' '.join(str(e).split())[:200]}") from None


def trust_folder(cfg: DictConfig, folder: Path, dirs: list[str], overrides: list[str]) -> None:
    """A run folder is untrusted input: its problem code is imported only when registered (or
    under a --config-dir the user passed), and its isolation switches are the engine's."""
    from evolve.trust import trusted_problem_cfg

    problem = OmegaConf.to_container(cfg.problem, resolve=True)
    if not isinstance(problem, dict):
        raise ConfigError(f"resume={folder}: config.yaml has no problem section")
    # OmegaConf types the keys as str | bytes | int | Enum | ...; trusted_problem_cfg only looks
    # up named (str) keys, whatever else the saved section holds
    typed = {key[8:]: value for key, _, value in (ov.partition("=") for ov in overrides)
             if key.startswith("problem.") and key[8:] in CODE_KEYS and value}
    cfg.problem = trusted_problem_cfg(cast(dict[str, Any], problem), dirs, source=folder,
                                      given=typed)
    shipped = compose([]).evaluator
    given = {ov.partition("=")[0].lstrip("+") for ov in overrides}
    for key in ("isolate_network", "drop_privileges"):
        if f"evaluator.{key}" not in given:
            cfg.evaluator[key] = shipped[key]


def _add_new_defaults(cfg: DictConfig) -> None:
    """Keys added to the shipped config since a run was saved get their default (YAML is the
    source)."""
    base = compose([])
    for section in ("search", "evaluator", "archive"):
        saved = cfg.get(section)
        cfg[section] = OmegaConf.merge(base[section], saved if saved is not None else {})
    for key, value in base.items():
        if key not in cfg and not isinstance(value, DictConfig):
            cfg[key] = value
