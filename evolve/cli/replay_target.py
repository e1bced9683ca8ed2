"""What `evolve-replay` evaluates: a run's best program, `RUN:ID`, or a .py file, with the
problem config it belongs to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evolve.cli.common import CliError
from evolve.cli.runref import is_archive_url, is_run_folder, open_run, resolve_folder


@dataclass
class Target:
    """The program to replay, where it came from, and the config sections it needs."""

    label: str  # short name for tables: "program #12" or "mdd.py"
    code: str
    kind: str  # run | program | file
    path: str | None = None
    run: str | None = None
    program_id: int | None = None
    problem_cfg: dict[str, Any] | None = None  # from the run; None for a file
    evaluator_cfg: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"label": self.label, "kind": self.kind, "path": self.path, "run": self.run,
                "id": self.program_id}


def problem_names(config_dirs: Sequence[str] = ()) -> list[str]:
    from evolve.config import group_choices

    return group_choices(list(config_dirs))["problem"]


def compose_config(problem: str, config_dirs: Sequence[str] = ()) -> dict[str, Any]:
    """The resolved root config with `problem=<name>`, composed exactly as `evolve` does."""
    from evolve.config import ConfigError, compose, to_dict

    names = problem_names(config_dirs)
    if problem not in names:
        raise CliError(f"--problem {problem!r}: unknown problem (valid: {', '.join(names)})")
    try:
        return to_dict(compose([f"problem={problem}"], list(config_dirs)))
    except ConfigError as e:
        raise CliError(str(e)) from None


def _section(cfg: dict, key: str, where: Path) -> dict[str, Any]:
    """`cfg[key]` when it is a mapping (or absent: {}); anything else is a one-line error."""
    value = cfg.get(key) or {}
    if not isinstance(value, dict):
        raise CliError(f"run folder {where}: its stored '{key}' config is not a mapping")
    return dict(value)


def _saved_config(folder: Path, stored: dict | None) -> dict:
    """The run's resolved config: from the archive, else from config.yaml next to it."""
    if isinstance(stored, dict) and stored.get("problem"):
        return dict(stored)
    cfg_file = folder / "config.yaml"
    if cfg_file.is_file():
        from omegaconf import OmegaConf

        try:
            cfg = OmegaConf.to_container(OmegaConf.load(cfg_file), resolve=True) or {}
        except Exception as e:  # noqa: BLE001 - YAML, interpolation or decoding errors alike
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise CliError(f"{cfg_file}: cannot read ({first})") from None
        if not isinstance(cfg, dict):
            raise CliError(f"{cfg_file}: not a run config (not a mapping)")
        return cfg
    return {}


def _from_run(spec: str, program_id: str | None) -> Target:
    """The program and the config sections exactly as the folder stores them: nothing here is
    trusted or imported (see `trusted_sections`)."""
    with open_run(spec) as h:
        prog = h.program_or_best(program_id)
        cfg = _saved_config(h.folder, h.run.config)
        return Target(
            label=f"program #{prog.id}", code=prog.code,
            kind="run" if program_id is None else "program",
            run=str(h.folder), program_id=prog.id,
            problem_cfg=_section(cfg, "problem", h.folder) or {"name": h.run.problem},
            evaluator_cfg=_section(cfg, "evaluator", h.folder),
        )


def trusted_sections(target: Target, config_dirs: list[str]) -> tuple[dict, dict]:
    """(problem section, sandbox limits) of a run target, safe to import and apply: a registered
    problem target (evolve.trust) and numeric limits only. A stored config without a target
    (an archive without its config) falls back to the problem config of that name."""
    from evolve.config import ConfigError
    from evolve.trust import trusted_limits, trusted_problem_cfg

    problem_cfg = dict(target.problem_cfg or {})
    if not problem_cfg.get("target"):
        name = str(problem_cfg.get("name") or "")
        names = problem_names(config_dirs)
        if name not in names:
            raise CliError(f"run folder {target.run} stores no problem config and its problem "
                           f"{name!r} is not registered (valid: {', '.join(names)}); "
                           f"pass --config-dir <dir with its config>")
        return compose_config(name, config_dirs)["problem"], {}
    try:
        # a stored problem target comes from a run folder (_from_run), so target.run is set;
        # str() only narrows the type (and would name None exactly as the f-string did)
        source = str(target.run)
        return (trusted_problem_cfg(problem_cfg, config_dirs, source=source),
                trusted_limits(target.evaluator_cfg, source=source))
    except ConfigError as e:  # UntrustedTarget, UntrustedInput
        raise CliError(str(e)) from None


def parse_target(spec: str) -> Target:
    """A run folder (its best program), `RUN:ID`, or a .py file; RUN may be `URL#RUN_ID`."""
    if is_archive_url(spec):
        ref, sep, pid = spec.rpartition(":")
        return _from_run(ref, pid) if sep and pid.isdigit() and "#" in ref \
            else _from_run(spec, None)
    path = Path(spec).expanduser()
    if path.is_dir():
        return _from_run(str(resolve_folder(path)), None)
    if path.suffix == ".py":
        if not path.is_file():
            raise CliError(f"{spec}: no such file")
        try:
            code = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise CliError(f"{spec}: cannot read ({e})") from None
        return Target(label=path.name, code=code, kind="file", path=str(path))
    run, sep, pid = spec.rpartition(":")
    if sep and run and Path(run).expanduser().is_dir():
        folder = Path(run).expanduser()
        if not is_run_folder(folder):
            folder = resolve_folder(folder)
        return _from_run(str(folder), pid)
    raise CliError(f"{spec}: not a run folder, RUN:ID or .py file")
