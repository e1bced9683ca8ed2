"""`evolve`: the Hydra app that launches or resumes a run.

    evolve problem=smtt search.iterations=300
    evolve resume=runs/smtt/2026-11-23_10-00-00 search.iterations=500
    evolve --show problem=smtt          # print the composed config
    evolve --config-dir my_conf problem=my_problem
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from evolve.config import ConfigError, compose, config_error, group_choices, validate

log = logging.getLogger("evolve")

USAGE = """usage: evolve [--show] [--config-dir DIR] [key=value ...]

Evolve a heuristic. Config groups (choose with group=name):
{groups}
Common overrides: problem.seed_program=<seed|file.py> search.iterations=N search.seed=N
search.islands=N search.max_seconds=S search.target_score=X search.concurrency=N
evaluator.workers=N evaluator.timeout_s=S evaluator.memory_mb=MB archive.url=URL
resume=<run folder> run_dir=<folder> llm.model=<litellm model> llm.max_cost_usd=USD
"""


def _split_args(argv: list[str]) -> tuple[list[str], list[str], bool]:
    overrides: list[str] = []
    dirs: list[str] = []
    show = False
    it = iter(argv)
    for a in it:
        if a in ("-h", "--help"):
            raise SystemExit(_usage(dirs))
        if a == "--show":
            show = True
        elif a == "--config-dir":
            dirs.append(next(it, ""))
        elif a.startswith("--config-dir="):
            dirs.append(a.split("=", 1)[1])
        elif a.startswith("-"):
            raise ConfigError(f"unknown option {a} (see evolve --help)")
        else:
            overrides.append(a)
    return overrides, dirs, show


def _usage(dirs: list[str]) -> str:
    groups = "".join(f"  {g}: {', '.join(c)}\n" for g, c in group_choices(dirs).items())
    return USAGE.format(groups=groups)


def _resume_config(folder: Path, overrides: list[str]) -> DictConfig:
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
        if key == "resume":
            continue
        if key in ("problem", "search", "proposer", "llm") or key.startswith("problem."):
            raise ConfigError(f"{ov}: cannot change the problem or a config group when resuming")
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


def _trust_folder(cfg: DictConfig, folder: Path, dirs: list[str], overrides: list[str]) -> None:
    """A run folder is untrusted input: its problem code is imported only when registered (or
    under a --config-dir the user passed), and its isolation switches are the engine's."""
    from evolve.trust import trusted_problem_cfg

    problem = OmegaConf.to_container(cfg.problem, resolve=True)
    if not isinstance(problem, dict):
        raise ConfigError(f"resume={folder}: config.yaml has no problem section")
    # OmegaConf types the keys as str | bytes | int | Enum | ...; trusted_problem_cfg only looks
    # up named (str) keys, whatever else the saved section holds
    cfg.problem = trusted_problem_cfg(cast(dict[str, Any], problem), dirs, source=folder)
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


def _check_new_run_dir(cfg: DictConfig) -> None:
    """run_dir= names a folder for a new run: refuse one that holds anything (it may be a run)."""
    if not cfg.get("run_dir"):
        return
    folder = Path(cfg.run_dir)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        what = "a run folder" if any((folder / n).exists() for n in (
            "config.yaml", "archive.sqlite", "run.json")) else "not an empty folder"
        raise ConfigError(f"run_dir={folder}: {what}; use resume={folder} to continue a run, "
                          f"or another run_dir")


def _new_run_dir(cfg: DictConfig) -> Path:
    if cfg.get("run_dir"):
        return Path(cfg.run_dir)
    base = Path("runs") / str(cfg.problem.name)
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    folder, n = base / stamp, 1
    while folder.exists():
        n += 1
        folder = base / f"{stamp}_{n}"
    return folder


def _link_latest(folder: Path) -> None:
    """Point `latest` beside the run folder at it; only ever replaces a symlink."""
    link = folder.parent / "latest"
    if link.exists() and not link.is_symlink():
        log.warning("%s is not a symlink: left as it is (not pointed at this run)", link)
        return
    tmp = folder.parent / f".latest.{os.getpid()}"
    try:
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(folder.name)
        os.replace(tmp, link)  # atomic; a directory or file that appeared meanwhile is refused
    except OSError as e:
        log.warning("could not update %s: %s", link, e)
        try:
            tmp.unlink()
        except OSError:
            pass


def _setup_logging(folder: Path, level: str) -> None:
    from rich.logging import RichHandler

    log.handlers.clear()
    log.setLevel(logging.DEBUG)
    fh = logging.FileHandler(folder / "run.log")
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    fh.setLevel(logging.INFO)
    ch = RichHandler(show_path=False, markup=False, rich_tracebacks=False)
    ch.setLevel(getattr(logging, str(level).upper(), logging.INFO))
    ch.addFilter(lambda record: not getattr(record, "file_only", False))  # tracebacks: run.log
    log.addHandler(fh)
    log.addHandler(ch)
    log.propagate = False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        overrides, dirs, show = _split_args(argv)
        resume = next((o.split("=", 1)[1] for o in overrides if o.startswith("resume=")), None)
        if resume:
            cfg = _resume_config(Path(resume), overrides)
            _trust_folder(cfg, Path(resume), dirs, overrides)
        else:
            cfg = compose(overrides, dirs)
        validate(cfg)
        if show:
            print(OmegaConf.to_yaml(cfg, resolve=True))
            return 0
        if not resume:
            _check_new_run_dir(cfg)
        from evolve.session import run_session

        return asyncio.run(run_session(cfg, resume is not None, _new_run_dir, _link_latest,
                                       _setup_logging))
    except ConfigError as e:
        print(f"evolve: error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:
        if isinstance(e.code, str):
            print(e.code)
            return 0
        raise
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("evolve: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
