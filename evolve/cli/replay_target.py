"""What `evolve-replay` evaluates: a run's best program, `RUN:ID`, or a .py file, with the
problem config it belongs to."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evolve.cli.common import CliError
from evolve.cli.runref import is_run_folder, open_run, resolve_folder


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


def problem_names(config_dirs: list[str] = ()) -> list[str]:
    from evolve.config import group_choices

    return group_choices(list(config_dirs))["problem"]


def compose_config(problem: str, config_dirs: list[str] = ()) -> dict[str, Any]:
    """The resolved root config with `problem=<name>`, composed exactly as `evolve` does."""
    from evolve.config import ConfigError, compose, to_dict

    names = problem_names(config_dirs)
    if problem not in names:
        raise CliError(f"--problem {problem!r}: unknown problem (valid: {', '.join(names)})")
    try:
        return to_dict(compose([f"problem={problem}"], list(config_dirs)))
    except ConfigError as e:
        raise CliError(str(e)) from None


def _saved_config(folder: Path, stored: dict | None) -> dict[str, Any]:
    """The run's resolved config: from the archive, else from config.yaml next to it."""
    if stored and stored.get("problem"):
        return dict(stored)
    cfg_file = folder / "config.yaml"
    if cfg_file.is_file():
        from omegaconf import OmegaConf

        return OmegaConf.to_container(OmegaConf.load(cfg_file), resolve=True) or {}
    return {}


def _from_run(spec: str, program_id: str | None) -> Target:
    with open_run(spec) as h:
        prog = h.program_or_best(program_id)
        cfg = _saved_config(h.folder, h.run.config)
        problem_cfg = cfg.get("problem") or None
        if problem_cfg is None:  # an archive without its config: fall back to the stock problem
            problem_cfg = compose_config(h.run.problem)["problem"]
        return Target(
            label=f"program #{prog.id}", code=prog.code, kind="run" if program_id is None else "program",
            run=str(h.folder), program_id=prog.id, problem_cfg=dict(problem_cfg),
            evaluator_cfg=dict(cfg.get("evaluator") or {}),
        )


def parse_target(spec: str) -> Target:
    """A run folder (its best program), `RUN:ID`, or a .py file."""
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
