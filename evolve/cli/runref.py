"""Finding run folders and opening their archive read-only (the run may still be writing)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from evolve.archive import Archive, Program, Run, scrub, sqlite_url
from evolve.cli.common import CliError, note
from evolve.config import ConfigError
from evolve.trust import UntrustedInput, folder_archive_url, masked_url, missing_sqlite


def is_run_folder(path: Path) -> bool:
    return (path / "archive.sqlite").is_file() or (path / "archive_url").is_file()


@dataclass
class RunHandle:
    """An opened run: its folder, the read-only archive and the run row."""

    folder: Path
    archive: Archive
    run: Run
    source: str = ""  # how the user named it when not by folder: "<masked URL>#<run id>"

    @property
    def label(self) -> str:
        return self.source or str(self.folder)

    def program(self, program_id: int | str) -> Program:
        """The program `program_id` of this run, or a CliError naming it."""
        try:
            pid = int(program_id)
        except (TypeError, ValueError):
            raise CliError(f"program id {program_id!r} is not an integer") from None
        prog = self.archive.program(pid)
        if prog is None or prog.run_id != self.run.id:
            raise CliError(f"{self.label}: no program with id {pid} in run {self.run.id}")
        return prog

    def program_or_best(self, program_id: int | str | None) -> Program:
        """Program `program_id`, or the run's best when it is None (CliError when there is none)."""
        if program_id is not None:
            return self.program(program_id)
        best = self.best(1, notice=False)  # export and replay name the program they chose
        if not best:
            raise CliError(f"{self.label}: the run has no successful program yet")
        return best[0]

    def best(self, k: int = 1, by: str = "validation", notice: bool = True) -> list[Program]:
        """The k best programs by validation score (the programs that entered the training top-k
        and were validated), or by training score: `by=train`, or a run with no validation
        scores (an older archive, search.validate_top_k=0), said in one note line (`notice`)."""
        if by == "validation":
            chosen = self.archive.best_validated(self.run.id, k)
            if chosen:
                return chosen
            if notice:
                note(f"{self.label}: no validation scores in this run; using the training best")
        return self.archive.best(self.run.id, k)

    def close(self) -> None:
        self.archive.close()

    def __enter__(self) -> RunHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def resolve_folder(spec: str | Path) -> Path:
    """A run folder from what the user typed: the folder itself, or a folder whose `latest`
    symlink points at one (so `runs/smtt` means the newest smtt run)."""
    path = Path(spec).expanduser()
    if not path.exists():
        raise CliError(f"{spec}: no such run folder")
    if is_run_folder(path / "latest") and not is_run_folder(path):
        path = path / "latest"
    if is_run_folder(path):
        # name the timestamped folder, not `latest`: that link moves when a new run starts
        return path.resolve() if path.is_symlink() else path
    raise CliError(f"{spec}: not a run folder (no archive.sqlite or archive_url)")


def _recorded_run_id(folder: Path) -> int | None:
    """The run id `evolve` wrote to `<folder>/run.json`, if any."""
    try:
        return int(json.loads((folder / "run.json").read_text())["run_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _pick_run(archive: Archive, folder: Path) -> Run | None:
    """The run row of `folder`. A database may hold several runs (a shared PostgreSQL URL):
    trust run.json, else match the stored folder; a copied folder has another path, so fall
    back to its name and then to the newest run."""
    with archive.Session() as s:
        runs = list(s.scalars(select(Run).order_by(Run.id)))
    if len(runs) <= 1:
        return runs[0] if runs else None
    rid = _recorded_run_id(folder)
    for run in runs:
        if run.id == rid:
            return run
    real = folder.resolve()
    for run in runs:
        if run.folder and Path(run.folder).resolve() == real:
            return run
    named = [r for r in runs if r.folder and Path(r.folder).name == real.name]
    return (named or runs)[-1]


def open_archive(folder: Path) -> Archive:
    """The folder's archive, read-only. An `archive_url` file is input from the folder: the URL is
    checked (see evolve.trust) and named on stderr, so no folder connects anywhere unseen."""
    try:
        url = folder_archive_url(folder)
    except UntrustedInput as e:
        raise CliError(str(e)) from None
    if url is None:
        db = folder / "archive.sqlite"
        if not db.is_file():
            raise CliError(f"{folder}: no archive.sqlite (not a run folder)")
        return Archive(sqlite_url(db), readonly=True)
    note(f"{folder}/archive_url: reading the archive at {masked_url(url)}")
    return Archive(url, readonly=True)


def _unreadable(shown: str, e: Exception, url: str | None = None) -> CliError:
    if isinstance(e, ConfigError):  # ArchiveVersionError: already one line naming the archive
        return CliError(scrub(str(e), url))
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return CliError(f"{shown}: cannot read the archive ({scrub(first, url)})")


def open_run(spec: str | Path) -> RunHandle:
    """Open the run at `spec` read-only (a folder, or `URL#RUN_ID` / `URL`, see
    `open_url_run`); any problem becomes a one-line CliError."""
    if is_archive_url(spec):
        return open_url_run(str(spec))
    folder = resolve_folder(spec)
    try:
        archive = open_archive(folder)
        run = _pick_run(archive, folder)
    except (SQLAlchemyError, OSError, ImportError, ConfigError) as e:  # Import: no DB driver
        raise _unreadable(str(spec), e) from None
    if run is None:
        archive.close()
        raise CliError(f"{spec}: the archive holds no run yet")
    return RunHandle(folder=folder, archive=archive, run=run)


def is_archive_url(spec: str | Path) -> bool:
    """`spec` reads as a database URL (sqlite:///..., postgresql://...), not as a path."""
    return "://" in str(spec) and not Path(spec).exists()


def split_run_ref(spec: str) -> tuple[str, str | None]:
    """`URL#7` -> (URL, "7"); `URL#latest` and `URL` -> (URL, None): the newest run."""
    url, sep, ref = spec.rpartition("#")
    if sep and (ref.isdigit() or ref == "latest"):
        return url, (ref if ref.isdigit() else None)
    return spec, None


def _url_archive(url: str) -> tuple[Archive, list[Run]]:
    """The database at `url`, read-only, and its runs in id order. The user typed the URL (as for
    `evolve archive.url=...`): nothing to check but that an SQLite file exists, since connecting
    would create an empty one."""
    shown = masked_url(url)
    try:
        missing = missing_sqlite(url)
    except ValueError:
        raise CliError(f"{shown}: not a database URL") from None
    if missing is not None:
        raise CliError(f"{shown}: no such SQLite file")
    archive = None
    try:
        archive = Archive(url, readonly=True)
        with archive.Session() as s:
            runs = list(s.scalars(select(Run).order_by(Run.id)))
    except (SQLAlchemyError, OSError, ImportError, ConfigError) as e:  # Import: no DB driver
        if archive is not None:
            archive.close()
        raise _unreadable(shown, e, url) from None
    if not runs:
        archive.close()
        raise CliError(f"{shown}: the archive holds no run yet")
    return archive, runs


def _url_handle(archive: Archive, run: Run, shown: str) -> RunHandle:
    return RunHandle(folder=Path(run.folder) if run.folder else Path("."), archive=archive,
                     run=run, source=f"{shown}#{run.id}")


def open_url_runs(url: str) -> list[RunHandle]:
    """Every run in the database at `url` (they share one Archive: close any one of them)."""
    archive, runs = _url_archive(url)
    return [_url_handle(archive, r, masked_url(url)) for r in runs]


def open_url_run(spec: str) -> RunHandle:
    """One run of a shared database: `URL#RUN_ID`, or `URL` / `URL#latest` for the newest run,
    the one with the highest id (ids come from the database, in the order runs were created,
    whichever machine created them)."""
    url, ref = split_run_ref(spec)
    archive, runs = _url_archive(url)
    shown = masked_url(url)
    if ref is None:
        return _url_handle(archive, runs[-1], shown)
    for run in runs:
        if run.id == int(ref):
            return _url_handle(archive, run, shown)
    archive.close()
    raise CliError(f"{shown}: no run with id {ref} (runs: {', '.join(str(r.id) for r in runs)})")


def find_run_folders(root: str | Path) -> list[Path]:
    """Run folders at or under `root`, without following symlinks (`latest` would repeat one)."""
    root = Path(root).expanduser()
    if not root.exists():
        raise CliError(f"{root}: no such folder")
    if is_run_folder(root):
        return [root]
    found = []
    for dirpath, dirnames, _files in os.walk(root, followlinks=False):
        here = Path(dirpath)
        if is_run_folder(here):
            found.append(here)
            dirnames[:] = []  # a run folder holds no nested runs
        else:
            dirnames.sort()
    return sorted(found)
