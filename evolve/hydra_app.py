"""The Hydra side of `evolve`: checks before any folder exists, the task each job runs, the
callback that claims run and sweep folders, and the one-line-per-job summary of a sweep."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from evolve.config import ConfigError, validate

log = logging.getLogger("evolve")

HYDRA_DIR = ".hydra"  # Hydra's record of a job (config, overrides) inside its folder
RUN_FILES = ("config.yaml", "archive.sqlite", "run.json")


class JobFailed(Exception):
    """A sweep job's session ended with a non-zero exit code (raised so that Hydra's sweeper
    reports it back from any launcher's worker)."""

    def __init__(self, code: int, folder: str):
        super().__init__(code, folder)
        self.code, self.folder = code, folder


class FolderRefused(BaseException):
    """A run or sweep folder that is in use. A BaseException: Hydra turns an Exception raised in a
    callback into a warning and goes on writing into the folder."""


class State:
    """What the launching process learns while Hydra runs (read back by evolve.app.main)."""

    run_dir_key = "hydra.run.dir"  # how the user named the run folder (`run_dir=` is an alias)
    launcher_pid: int | None = None  # the process that runs `evolve` (basic launcher: same)
    exit_code: int | None = None  # of the single run (RUN mode)
    sweep_dir: Path | None = None


# ---- inside Hydra: folders -----------------------------------------------------------------

def used(folder: Path) -> str | None:
    """Why `folder` cannot hold a new run (None: absent or empty)."""
    if not folder.exists() or (folder.is_dir() and not any(folder.iterdir())):
        return None
    return "a run folder" if any((folder / n).exists() for n in RUN_FILES) else \
        "not an empty folder"


def _free(folder: Path) -> Path:
    """`folder`, or `folder_2`, `folder_3`...: two runs started in the same second."""
    n, cand = 1, folder
    while used(cand):
        n += 1
        cand = folder.with_name(f"{folder.name}_{n}")
    return cand


def _given(config: DictConfig, key: str) -> bool:
    return any(str(o).lstrip("+").split("=", 1)[0] == key for o in config.hydra.overrides.hydra)


def claim_run_dir(config: DictConfig) -> None:
    """A new run never reuses a folder: a folder the user named is refused, the timestamped
    default gets a suffix."""
    folder = Path(str(config.hydra.run.dir))
    why = used(folder)
    if why is None:
        return
    if _given(config, "hydra.run.dir"):
        key = State.run_dir_key
        raise FolderRefused(f"{key}={folder}: {why}; use resume={folder} to continue a run, "
                            f"or another {key}")
    with read_write(config.hydra):
        config.hydra.run.dir = str(_free(folder))


def claim_sweep_dir(config: DictConfig) -> None:
    """The sweep folder must be new; it is made absolute for every job (a Ray worker does not
    start in the user's folder) and `latest` beside it points at it."""
    folder = Path(str(config.hydra.sweep.dir))
    why = used(folder)
    if why is not None:
        if _given(config, "hydra.sweep.dir"):
            raise FolderRefused(f"hydra.sweep.dir={folder}: {why}; choose another "
                                "hydra.sweep.dir")
        folder = _free(folder)
    absolute = str(Path(folder).absolute())
    with read_write(config.hydra), open_dict(config.hydra):
        config.hydra.sweep.dir = absolute
        # each job's config is composed again from these overrides (load_sweep_config)
        config.hydra.overrides.hydra.append(f"hydra.sweep.dir={_quoted(absolute)}")
    folder.mkdir(parents=True, exist_ok=True)
    link_latest(folder)
    State.sweep_dir = folder


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


try:
    from hydra.experimental.callback import Callback as _Callback
except ImportError:  # pragma: no cover - hydra-core is pinned to 1.3
    _Callback = object  # type: ignore[assignment,misc]


class FolderCheck(_Callback):
    """Hydra callback (hydra.callbacks in config.yaml): claims the folder before Hydra writes."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        claim_run_dir(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        claim_sweep_dir(config)


# ---- inside Hydra: the job -----------------------------------------------------------------

def task(cfg: DictConfig) -> int:
    """One evolve session in the folder Hydra made (any launcher's worker process)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    if os.getcwd() != hc.runtime.cwd and os.path.isdir(hc.runtime.cwd):
        os.chdir(hc.runtime.cwd)  # relative paths (problem targets, seeds) are the user's
    from evolve.problem import record_config_dir

    record_config_dir(cfg, hc.runtime.choices.get("problem"),
                      [s.path for s in hc.runtime.config_sources if s.provider == "command-line"])
    folder = _shown(Path(hc.runtime.output_dir))
    sweep = hc.mode == RunMode.MULTIRUN
    code = run_new(cfg, folder, (lambda _f: None) if sweep else link_latest)
    State.exit_code = code
    if sweep and code != 0:
        if code == 130 and os.getpid() == State.launcher_pid:
            raise KeyboardInterrupt  # Ctrl-C stops the whole sweep, not only this job
        raise JobFailed(code, str(folder))
    return code


def _shown(folder: Path) -> Path:
    """The folder relative to the user's folder when it is inside it (as they typed it)."""
    try:
        return folder.relative_to(Path.cwd())
    except ValueError:
        return folder


def run_new(cfg: DictConfig, folder: Path, link: Callable[[Path], None]) -> int:
    """A new run's session; a config refused here leaves no folder behind."""
    try:
        validate(cfg)
        from evolve.session import run_session

        code = asyncio.run(run_session(cfg, False, lambda _cfg: folder, link, setup_logging))
    except ConfigError as e:
        print(f"evolve: error: {e}", file=sys.stderr)
        code = 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("evolve: interrupted", file=sys.stderr)
        code = 130
    if code == 2:
        _remove_unused(folder)
    return code


def _remove_unused(folder: Path) -> None:
    """Remove a folder that holds only what Hydra and the lock put there (nothing of a run)."""
    try:
        if {p.name for p in folder.iterdir()} <= {HYDRA_DIR, ".lock"}:
            shutil.rmtree(folder)
    except OSError:
        pass


def link_latest(folder: Path) -> None:
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


def setup_logging(folder: Path, level: str) -> None:
    """run.log (INFO) and the terminal (rich, `log_level`) for the `evolve` logger only."""
    from rich.logging import RichHandler

    for old in log.handlers[:]:  # a sweep on the basic launcher runs many sessions in a process
        log.removeHandler(old)
        old.close()
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


# ---- after a sweep ---------------------------------------------------------------------------

def _overrides(job: Path) -> list[str]:
    try:
        return [str(o) for o in OmegaConf.load(job / HYDRA_DIR / "overrides.yaml")]
    except Exception:  # noqa: BLE001 - a damaged record: the folder is still listed
        return ["?"]


def sweep_summary(sweep_dir: Path) -> list[tuple[str, str]]:
    """(line, status) per job folder of the sweep, in job order."""
    from evolve.cli.common import CliError
    from evolve.cli.runref import open_run

    jobs = [p for p in sweep_dir.iterdir() if (p / HYDRA_DIR).is_dir()]
    jobs.sort(key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0,
                             p.name))
    overrides = {job: _overrides(job) for job in jobs}
    common = set.intersection(*(set(o) for o in overrides.values())) if jobs else set()
    out = []
    for job in jobs:
        which = " ".join(o for o in overrides[job] if o not in common)
        try:
            with open_run(job) as h:
                status = str(h.run.status)
                best = h.archive.best(h.run.id, 1)
            score = f"best {best[0].score:.6g}" if best else "no program"
        except CliError:
            status, score = "no run", "see its run.log"
        out.append((f"  {_shown(job)}  {status}  {score}  [{which}]", status))
    return out
