"""Test-session set-up: nothing the tests run writes into the user's home.

The project caches generated SMTT splits and their reference solutions under
$XDG_CACHE_HOME/adrs-evolve (problems/smtt/splits.py, default ~/.cache/adrs-evolve), and
matplotlib (archive plots) keeps its font cache and config under $XDG_CACHE_HOME / MPLCONFIGDIR.
For the session they all point into one temporary folder, removed at the end. The variables are
set before collection, so modules imported by the tests and every child process (sandbox workers,
the CLIs run by the end-to-end tests) see them.

numba's on-disk cache (`cache=True`) is left alone: it lives in __pycache__ beside the sources
(ignored by git), not in the home, and is what keeps the kernels from being recompiled on every
run.
"""

from __future__ import annotations

import os
import shutil
import tempfile

# a real PostgreSQL server for the archive tests, started on first use (tests/pgserver.py)
pytest_plugins = ("tests.pgserver",)

_REDIRECTED = ("XDG_CACHE_HOME", "MPLCONFIGDIR")
_saved: dict[str, str | None] = {}
_root: str | None = None


def pytest_configure(config) -> None:
    global _root
    _root = tempfile.mkdtemp(prefix="adrs-evolve-tests-")
    for var in _REDIRECTED:
        _saved[var] = os.environ.get(var)
    os.environ["XDG_CACHE_HOME"] = os.path.join(_root, "cache")
    os.environ["MPLCONFIGDIR"] = os.path.join(_root, "matplotlib")


def pytest_unconfigure(config) -> None:
    global _root
    for var, value in _saved.items():
        if value is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = value
    if _root is not None:
        shutil.rmtree(_root, ignore_errors=True)
        _root = None
