"""A real PostgreSQL server for the tests: `initdb` into a temp dir, `pg_ctl start` on a free
loopback port (Unix socket in the temp dir), one fresh database per test, `pg_ctl stop -m fast`
at the end of the session. Loaded by tests/conftest.py (`pytest_plugins`), so every test module
shares one server, started only when a test asks for `pg_url`.

initdb refuses to run as root (CI runs as root): the server then runs as `nobody` and owns only
its temp dir. The `evolve` user has a password (scram over TCP); tests hand it to clients in
PGPASSWORD, as a user would, never in a URL. A missing binary skips the test with one line.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "evolve"
PASSWORD = "s3cret-test-pw"


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return versions[-1] if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _demote():
    """Drop to `nobody` when running as root (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return None
    nobody = pwd.getpwnam("nobody")

    def preexec() -> None:
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    return preexec


@dataclass
class PgServer:
    """A running throwaway PostgreSQL cluster."""

    root: Path
    port: int
    pg_ctl: str

    @property
    def data(self) -> Path:
        return self.root / "data"

    def env(self) -> dict[str, str]:
        """The environment a client needs besides the URL: the password, as libpq reads it."""
        return dict(os.environ, PGPASSWORD=PASSWORD)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=USER, password=PASSWORD,
                             dbname="postgres", autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"],
                       preexec_fn=_demote(), capture_output=True, timeout=120, check=False)


def start_server(root: Path) -> PgServer:
    """initdb + pg_ctl start under `root` (skips the test when a binary is missing)."""
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    for name, path in (("initdb", initdb), ("pg_ctl", pg_ctl)):
        if path is None:
            pytest.skip(f"PostgreSQL binary {name} not found (PATH, /usr/lib/postgresql/*/bin)")
    assert initdb is not None and pg_ctl is not None
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        os.chown(pwfile, pwd.getpwnam("nobody").pw_uid, -1)
    subprocess.run([initdb, "-D", str(root / "data"), "-U", USER, f"--pwfile={pwfile}",
                    "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                    "--no-sync", "--locale=C"],
                   preexec_fn=_demote(), capture_output=True, timeout=300, check=True, cwd=root)
    port = _free_port()
    opts = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
    subprocess.run([pg_ctl, "-D", str(root / "data"), "-l", str(root / "log"), "-o", opts,
                    "-w", "-t", "120", "start"],
                   preexec_fn=_demote(), capture_output=True, timeout=180, check=True, cwd=root)
    return PgServer(root=root, port=port, pg_ctl=pg_ctl)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    root = Path(tempfile.mkdtemp(prefix="evolve-pg-"))
    server = None
    try:
        server = start_server(root)
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer, request, monkeypatch) -> str:
    """A fresh, empty database for this test; PGPASSWORD is set in this process."""
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    return pg_server.create_database(f"{name}_{os.getpid()}_{id(request) % 10_000}")
