"""Test-session set-up: nothing the tests run writes into the user's home.

The project caches generated SMTT splits and their reference solutions under
$XDG_CACHE_HOME/adrs-evolve (problems/smtt/splits.py, default ~/.cache/adrs-evolve), and
matplotlib (archive plots) keeps its font cache and config under $XDG_CACHE_HOME / MPLCONFIGDIR.
For the session they all point into one temporary folder, removed at the end. The variables are
set before collection, so modules imported by the tests and every child process (sandbox workers,
the CLIs run by the end-to-end tests) see them.

numba's on-disk cache of trusted code (`cache=True`) lives under $XDG_CACHE_HOME/adrs-evolve/numba
(evolve/evaluator.py: numba_cache_dir), so it too starts empty in each test session: the first
`evolve` run of a session compiles the simulators, the later ones reuse them.

Under pytest-xdist (`make test`: `-n auto --dist loadgroup`) every worker process runs this set-up
for itself, so each worker has its own cache folder (the SMTT cache writes `<file>.tmp` before its
atomic rename, which two writers of the same split would interleave). Only numba's folder is shared
by the whole session: each worker's adrs-evolve/numba is a link to one folder made by the xdist
controller (numba writes its cache files under unique names, then renames them), so a simulator
compiles once per session, not once per worker (a cold SMTT worker spends about 16 CPU-s on it).
The code under test sees the default layout; the sandbox hides the folder the link points to.

Tests that share a server fixture carry an `xdist_group` mark and run in one worker; a module
whose tests share a module-scoped fixture (an `evolve` run, a served archive) is kept in one
worker too (`_group_by_module_fixture`), or each worker would repeat that fixture.

`--cpu-durations=N` lists the N tests that used the most CPU (this process plus every child process
it waited for, e.g. an `evolve` subprocess and its workers). Unlike --durations it does not grow
when the machine is busy with other work, so it says where the suite's time goes on a shared
2-core machine: `python -m pytest -q --cpu-durations=40 tests/...`. Under xdist each worker measures
its tests and the figure travels to the controller in the report's user_properties.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import tempfile

import pytest

# a real PostgreSQL server for the archive tests, started on first use (tests/pgserver.py)
pytest_plugins = ("tests.pgserver",)

_REDIRECTED = ("XDG_CACHE_HOME", "MPLCONFIGDIR")
# the session's numba folder, made by the first pytest process (xdist's controller) and inherited
# by its workers through the environment
_SHARED_NUMBA = "ADRS_EVOLVE_TESTS_NUMBA"
_saved: dict[str, str | None] = {}
_root: str | None = None


def pytest_addoption(parser) -> None:
    parser.addoption("--cpu-durations", type=int, default=0, metavar="N",
                     help="show the N tests that used the most CPU seconds (children included)")


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


_cpu: dict[str, float] = {}
_CPU_KEY = "cpu_seconds"
_cpu_start: dict[str, float] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _cpu_start[item.nodeid] = _cpu_seconds()
    yield
    _cpu_start.pop(item.nodeid, None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "teardown" and item.nodeid in _cpu_start:
        # set-up, call and tear-down; carried by the report so that it reaches xdist's controller
        report.user_properties.append((_CPU_KEY, _cpu_seconds() - _cpu_start[item.nodeid]))


def pytest_runtest_logreport(report) -> None:
    if report.when == "teardown":
        for key, value in report.user_properties:
            if key == _CPU_KEY:
                _cpu[report.nodeid] = value


def _group_by_module_fixture(item) -> str | None:
    """The module's name when the test uses a fixture of module (or class/package) scope defined
    in the tests (not a session-wide plugin fixture, which every worker has anyway)."""
    info = getattr(item, "_fixtureinfo", None)
    for defs in (info.name2fixturedefs.values() if info else ()):
        for fixturedef in defs:
            if fixturedef.scope in ("module", "class", "package"):
                return item.module.__name__ if item.module else None
    return None


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            # one PostgreSQL server (session fixture, tests/pgserver.py) for all its tests
            group = "pg" if "pg_server" in item.fixturenames else _group_by_module_fixture(item)
            if group:
                item.add_marker(pytest.mark.xdist_group(group))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    n = config.getoption("--cpu-durations")
    if not n or not _cpu:
        return
    tr = terminalreporter
    tr.write_sep("=", f"{min(n, len(_cpu))} largest CPU users (children included)")
    for nodeid, sec in sorted(_cpu.items(), key=lambda kv: -kv[1])[:n]:
        tr.write_line(f"{sec:8.2f}s cpu  {nodeid}")
    tr.write_line(f"{sum(_cpu.values()):8.2f}s cpu  in all {len(_cpu)} tests")


def pytest_configure(config) -> None:
    global _root
    _root = tempfile.mkdtemp(prefix="adrs-evolve-tests-")
    for var in (*_REDIRECTED, _SHARED_NUMBA):
        _saved[var] = os.environ.get(var)
    os.environ["XDG_CACHE_HOME"] = os.path.join(_root, "cache")
    os.environ["MPLCONFIGDIR"] = os.path.join(_root, "matplotlib")
    shared = os.environ.setdefault(_SHARED_NUMBA, os.path.join(_root, "numba"))
    os.makedirs(shared, mode=0o700, exist_ok=True)
    ours = os.path.join(_root, "cache", "adrs-evolve")
    os.makedirs(ours, mode=0o700)
    os.symlink(shared, os.path.join(ours, "numba"))


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


@pytest.fixture(autouse=True)
def _logging_handlers_restored():
    """In-process `evolve` runs (Hydra's job logging) attach handlers to streams that pytest
    closes after the test; a later test in the same process (an xdist worker) would then print
    '--- Logging error ---' into its captured stderr. Every test ends without the handlers it
    added (pytest's own capture handlers, which pytest adds and removes per phase, are left to
    pytest), and with the levels it began with."""
    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    before = {id(lg): (set(map(id, lg.handlers)), lg.level, lg.propagate) for lg in loggers}
    yield
    for lg in loggers:  # loggers created during the test are left as their code set them
        handlers, level, propagate = before[id(lg)]
        for h in list(lg.handlers):
            if id(h) not in handlers and type(h).__module__ != "_pytest.logging":
                lg.removeHandler(h)
        lg.setLevel(level)
        lg.propagate = propagate
