"""What the web UI shows: the runs under a folder or in a database, opened read-only.

Every run gets a small integer key in the order it was found; URLs carry that key, never a path,
so no request can name a file of its own choosing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from evolve.archive import Archive, Run
from evolve.cli.common import CliError
from evolve.cli.runref import (
    RunHandle,
    _pick_run,
    find_run_folders,
    is_archive_url,
)
from evolve.trust import UntrustedInput, folder_archive_url, masked_url


def _ro_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")  # the run may hold the write lock for a moment
    cur.execute("PRAGMA query_only=ON")
    cur.close()


def _wal(url: str) -> Path | None:
    """The write-ahead log of an SQLite URL's file (None for other databases)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return None
    return Path(parsed.database + "-wal")


def readonly_engine(url: str) -> Engine:
    """An engine that cannot write: SQLite through a `mode=ro` URI (opening never creates the
    file, and no pragma changes it), other databases as given (SELECTs only are issued).
    An SQLite file without a write-ahead log has no writer: it is opened `immutable`, so that
    reading it does not even create the -wal/-shm side files next to a copied run."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        db = parsed.database or ""
        if db in ("", ":memory:") or not Path(db).is_file():
            raise CliError(f"{masked_url(url)}: no such SQLite file")
        wal = _wal(url)
        still = "&immutable=1" if wal is not None and not wal.exists() else ""
        uri = f"sqlite:///file:{quote(str(Path(db).resolve()))}?mode=ro{still}&uri=true"
        engine = create_engine(uri, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _ro_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


class ReadOnlyArchive(Archive):
    """An Archive over a read-only engine (the queries of evolve.archive, no writes)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = readonly_engine(url)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self.path = None
        self._identity = None
        # Archive.__init__ is not run (it would open a writable engine): its other attributes
        self._sets_known = False
        wal = _wal(url)
        self.immutable = wal is not None and not wal.exists()

    def stale(self) -> bool:
        """Opened as immutable, and a writer has started since (its -wal file appeared)."""
        wal = _wal(self.url)
        return self.immutable and wal is not None and wal.exists()


@dataclass(frozen=True)
class RunRef:
    """Where one run lives: its archive URL and run id, and the folder it was found in."""

    url: str
    run_id: int
    folder: Path
    label: str


class Source:
    """The runs named on the command line (a run folder, a folder of runs, or a database URL),
    rescanned on demand so that runs started after the server show up."""

    def __init__(self, spec: str):
        self.spec = spec
        self._keys: dict[tuple[str, int], int] = {}
        self._refs: dict[int, RunRef] = {}
        self._archives: dict[str, ReadOnlyArchive] = {}
        self._lock = threading.Lock()
        if is_archive_url(spec):
            try:
                make_url(spec)
            except ArgumentError:
                raise CliError(f"{masked_url(spec)}: not a database URL") from None
        elif not Path(spec).expanduser().exists():
            raise CliError(f"{spec}: no such run folder")
        self.scan()

    def archive(self, url: str) -> ReadOnlyArchive:
        with self._lock:
            cached = self._archives.get(url)
            if cached is not None and cached.stale():
                cached.close()  # a resumed run writes again: read it live from now on
                cached = None
            if cached is None:
                cached = self._archives[url] = ReadOnlyArchive(url)
            return cached

    def _add(self, url: str, run: Run, folder: Path, label: str) -> None:
        with self._lock:
            key = self._keys.get((url, run.id))
            if key is None:
                key = len(self._keys) + 1
                self._keys[(url, run.id)] = key
                self._refs[key] = RunRef(url, run.id, folder, label)

    def scan(self) -> list[int]:
        """Find the runs again; the keys of those found, in order. An unreadable folder is
        skipped (a run that has just started may not have its first row yet)."""
        if is_archive_url(self.spec):
            try:
                archive = self.archive(self.spec)
                with archive.Session() as s:
                    runs = list(s.scalars(select(Run).order_by(Run.id)))
            except (SQLAlchemyError, OSError, ImportError) as e:
                raise CliError(f"{masked_url(self.spec)}: cannot read the archive "
                               f"({_first_line(e)})") from None
            for run in runs:
                self._add(self.spec, run, Path(run.folder or "."),
                          f"{masked_url(self.spec)}#{run.id}")
        else:
            root = Path(self.spec).expanduser()
            folders = find_run_folders(root)
            if not folders and (root / "latest").exists():
                folders = find_run_folders((root / "latest").resolve())
            for folder in folders:
                try:
                    url = _folder_url(folder)
                    archive = self.archive(url)
                    picked = _pick_run(archive, folder)
                except (CliError, SQLAlchemyError, OSError, ImportError):
                    continue
                if picked is not None:
                    self._add(url, picked, folder, str(folder))
        with self._lock:
            return sorted(self._refs)

    def handle(self, key: int) -> RunHandle | None:
        """The run `key`, opened (None when no such key was ever listed)."""
        ref = self._refs.get(key)
        if ref is None:
            self.scan()
            ref = self._refs.get(key)
            if ref is None:
                return None
        archive = self.archive(ref.url)
        found = archive.get_run(ref.run_id)
        if found is None:
            return None
        return RunHandle(folder=ref.folder, archive=archive, run=found,
                         source="" if ref.label == str(ref.folder) else ref.label)

    def ref(self, key: int) -> RunRef | None:
        return self._refs.get(key)

    def close(self) -> None:
        with self._lock:
            for a in self._archives.values():
                a.close()
            self._archives.clear()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _folder_url(folder: Path) -> str:
    """The archive URL of a run folder: its checked `archive_url`, else its archive.sqlite."""
    try:
        url = folder_archive_url(folder)
    except UntrustedInput as e:
        raise CliError(str(e)) from None
    if url is not None:
        return url
    return f"sqlite:///{(folder / 'archive.sqlite').resolve()}"
