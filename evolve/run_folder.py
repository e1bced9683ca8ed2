"""A run's folder: its lock, run.json, the archive it names and the run row, `latest`.

A new folder is claimed (locked, checked empty) before anything is written there; a resumed one is
locked before anything else. run.json is written atomically once the run row exists, so a run
killed at any point after that can be resumed.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from evolve.archive import Archive, Run, sqlite_url
from evolve.config import ConfigError, to_dict
from evolve.proposers import proposer_kind

log = logging.getLogger("evolve")

LOCK_FILE = ".lock"


def hidden_folders(folder: Path) -> tuple[str, ...]:
    """Folders candidates see as empty: the one holding this run and its siblings (other runs'
    archives), unless it holds the Python installation or the engine itself."""
    runs = folder.resolve().parent
    needed = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
              Path(__file__).resolve().parent]
    if any(p == runs or runs in p.parents for p in needed):
        return ()
    return (str(runs),)


class RunLock:
    """An exclusive fcntl lock on `<run folder>/.lock`, held for a whole session."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ConfigError(f"{self.path.parent}: the run is in use by another evolve process "
                              f"(pid {holder}); wait for it or stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the lock; the file stays (unlinking would race)
            self.fd = None


def write_run_json(folder: Path, info: dict[str, Any]) -> None:
    """Write run.json atomically: a reader (or a resume after kill -9) never sees half of it."""
    tmp = folder / "run.json.tmp"
    tmp.write_text(json.dumps(info) + "\n")
    tmp.replace(folder / "run.json")


def claim_new_folder(folder: Path) -> RunLock:
    """Create and lock a new run's folder; refuse one that another run already wrote into."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = RunLock(folder).acquire()
    # another run got there first (Hydra's own record of the job, .hydra/, is not a run)
    if any(p.name not in (LOCK_FILE, ".hydra") for p in folder.iterdir()):
        lock.release()
        raise ConfigError(f"run_dir={folder}: not empty (use resume={folder} to continue it)")
    return lock


def open_archive(cfg: DictConfig, folder: Path) -> Archive:
    url = cfg.archive.get("url") or sqlite_url(folder / "archive.sqlite")
    if cfg.archive.get("url"):
        (folder / "archive_url").write_text(str(url) + "\n")
    return Archive(str(url))


def open_run(cfg: DictConfig, archive: Archive, folder: Path, problem: str, resuming: bool) -> Run:
    """The run row: the saved one (resume) or a new one; nothing may fail after it is created."""
    if resuming:
        run_id = json.loads((folder / "run.json").read_text())["run_id"]
        run = archive.get_run(run_id)
        if run is None:
            raise ConfigError(f"resume={folder}: run {run_id} is not in its archive "
                              f"({archive.url})")
        archive.update_run(run.id, status="running", config=to_dict(cfg), stop_reason=None)
        log.info("resuming run %d in %s", run.id, folder)
        return run
    OmegaConf.save(cfg, folder / "config.yaml", resolve=True)
    return archive.create_run(problem, str(folder), to_dict(cfg), int(cfg.search.seed))


def announce(cfg: DictConfig, archive: Archive, run: Run, folder: Path,
              link_latest: Callable) -> None:
    """A new run: run.json (so a killed run can resume), `latest`, and the opening log line."""
    write_run_json(folder, {"run_id": run.id, "url": archive.url})
    link_latest(folder)
    log.info("run %d: %s, proposer %s, output in %s", run.id, run.problem,
             proposer_kind(to_dict(cfg.proposer), to_dict(cfg.llm)), folder)


def note_isolation(folder: Path, run: Run, archive: Archive, evaluator: Any) -> None:
    """run.json and the log say which sandbox isolation this session got (known once started)."""
    iso = str(getattr(evaluator, "isolation", "unknown"))
    detail = str(getattr(evaluator, "isolation_detail", "") or "")
    write_run_json(folder, {"run_id": run.id, "url": archive.url, "isolation": iso,
                            "isolation_detail": detail})
    # the detail usually starts with the level itself: "full (user, pid, net, mount ...)"
    log.info("isolation: %s", detail if detail.startswith(iso) else
             f"{iso} ({detail})" if detail else iso)
