"""One session of a run: folder, archive, warm evaluator, proposers, controller, summary.

Once the run row exists the session always leaves a final status: `finished`, `stopped`
(budget, Ctrl-C or SIGTERM; exit 130 when interrupted) or `failed` (exit 1, reason stored).
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import inspect
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from evolve.archive import Archive, ArchiveError, Run, sqlite_url
from evolve.config import ConfigError, to_dict
from evolve.evaluator import Evaluator, EvaluatorLost
from evolve.loop import Budget, Controller, SeedError, short_traceback
from evolve.problem import ProblemError, make_problem
from evolve.progress import ProgressLine, describe
from evolve.proposers import make_proposers, proposer_kind
from evolve.proposers.base import ProblemInfo
from evolve.ray_backend import check_backend, make_evaluator
from evolve.sandbox import Limits
from evolve.selection import IslandSelector

log = logging.getLogger("evolve")

LOCK_FILE = ".lock"
EXIT_FAILED, EXIT_INTERRUPTED = 1, 130
ENGINE_PROBLEM_KEYS = ("preload",)  # problem-section keys the engine reads, not the problem


def limits_from(cfg: DictConfig) -> Limits:
    ev = cfg.evaluator
    return Limits(timeout_s=float(ev.timeout_s), memory_mb=int(ev.memory_mb),
                  max_output_kb=int(ev.max_output_kb), isolate_network=bool(ev.isolate_network),
                  drop_privileges=bool(ev.drop_privileges))


def hidden_folders(folder: Path) -> tuple[str, ...]:
    """Folders candidates see as empty: the one holding this run and its siblings (other runs'
    archives), unless it holds the Python installation or the engine itself."""
    runs = folder.resolve().parent
    needed = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
              Path(__file__).resolve().parent]
    if any(p == runs or runs in p.parents for p in needed):
        return ()
    return (str(runs),)


def key_env_names(llm_cfg: Any) -> list[str]:
    """Every `api_key_env` named anywhere in the llm section (their values are secrets)."""
    if isinstance(llm_cfg, dict):
        own = [str(v) for k, v in llm_cfg.items() if k == "api_key_env" and v]
        return own + [n for v in llm_cfg.values() for n in key_env_names(v)]
    if isinstance(llm_cfg, list):
        return [n for v in llm_cfg for n in key_env_names(v)]
    return []


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


def _open_archive(cfg: DictConfig, folder: Path) -> Archive:
    url = cfg.archive.get("url") or sqlite_url(folder / "archive.sqlite")
    if cfg.archive.get("url"):
        (folder / "archive_url").write_text(str(url) + "\n")
    return Archive(str(url))


async def _start_proposers(proposers, seed_code: str | None) -> None:
    for p, _ in proposers:
        if "sample_code" in inspect.signature(p.start).parameters:
            await p.start(sample_code=seed_code)  # the context-window check sizes real prompts
        else:
            await p.start()


async def run_session(cfg: DictConfig, resuming: bool, new_run_dir: Callable, link_latest: Callable,
                      setup_logging: Callable) -> int:
    problem_cfg = to_dict(cfg.problem)
    folder = Path(cfg.resume) if resuming else new_run_dir(cfg)
    lock = RunLock(folder).acquire() if resuming else None  # before anything is written there
    proposers: list = []
    try:
        try:
            problem = make_problem({k: v for k, v in problem_cfg.items()
                                    if k not in ENGINE_PROBLEM_KEYS})
            seed_code = problem.seed_path(str(problem_cfg.get("seed_program", ""))).read_text() \
                if not resuming else None
        except ProblemError as e:
            raise ConfigError(str(e)) from None
        info = ProblemInfo(name=problem.name, entry=problem.entry, signature=problem.signature,
                           description=problem.description, primitives=tuple(problem.primitives))
        proposers = make_proposers(to_dict(cfg.proposer), to_dict(cfg.llm), info)
        await _start_proposers(proposers, seed_code)
        check_backend(cfg)  # an unreachable cluster: one line, exit 2, no run created
        if not resuming:
            folder.mkdir(parents=True, exist_ok=True)
            lock = RunLock(folder).acquire()
            # another run got there first (Hydra's own record of the job, .hydra/, is not a run)
            if any(p.name not in (LOCK_FILE, ".hydra") for p in folder.iterdir()):
                raise ConfigError(f"run_dir={folder}: not empty (use resume={folder} to continue "
                                  "it)")
        setup_logging(folder, cfg.log_level)
        archive = _open_archive(cfg, folder)
        try:
            run = _open_run(cfg, archive, folder, problem.name, resuming)
        except BaseException:
            archive.close()
            raise
        announce = None if resuming else (lambda: _announce(cfg, archive, run, folder, link_latest))
        return await _session(cfg, archive, run, folder, problem_cfg, proposers, info, seed_code,
                              announce)
    finally:
        for p, _ in proposers:
            try:
                await p.close()
            except Exception as e:  # noqa: BLE001 - closing must not hide the session's outcome
                log.warning("closing a proposer failed: %s", e)
        if lock is not None:
            lock.release()


def _open_run(cfg: DictConfig, archive: Archive, folder: Path, problem: str, resuming: bool) -> Run:
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


def _announce(cfg: DictConfig, archive: Archive, run: Run, folder: Path,
              link_latest: Callable) -> None:
    """A new run: run.json (so a killed run can resume), `latest`, and the opening log line."""
    write_run_json(folder, {"run_id": run.id, "url": archive.url})
    link_latest(folder)
    log.info("run %d: %s, proposer %s, output in %s", run.id, run.problem,
             proposer_kind(to_dict(cfg.proposer), to_dict(cfg.llm)), folder)


async def _session(cfg: DictConfig, archive: Archive, run: Run, folder: Path, problem_cfg: dict,
                   proposers: list, info: ProblemInfo, seed_code: str | None,
                   announce: Callable | None) -> int:
    """Everything after the run row exists: whatever happens, the run gets a final status."""
    signals = _Signals().install()
    evaluator: Evaluator | None = None
    try:
        if announce is not None:
            announce()
        limits = dataclasses.replace(limits_from(cfg), hide=hidden_folders(folder))
        workers = int(cfg.evaluator.workers)
        evaluator = make_evaluator(cfg, problem_cfg, limits, run_dir=folder, local=Evaluator,
                                   secret_envs=key_env_names(to_dict(cfg.llm)))
        with ProgressLine(bool(cfg.progress), int(cfg.search.iterations)) as progress:
            # the first minute of a run on a cold machine: numba compiles the simulator here
            progress.phase(f"warming {workers} worker{'s' if workers != 1 else ''} "
                           "(compiling the simulator)")
            await asyncio.get_running_loop().run_in_executor(None, evaluator.start)
            _note_isolation(folder, run, archive, evaluator)
            return await _evolve(cfg, archive, run, folder, evaluator, proposers, info,
                                 seed_code, signals, progress)
    except (KeyboardInterrupt, asyncio.CancelledError):
        _final(archive, run.id, "stopped", "interrupted (in-flight work lost)")
        return EXIT_INTERRUPTED
    except EvaluatorLost as e:  # the cluster went away: stopped, resumable
        _final(archive, run.id, "stopped", f"{e} (resume={folder} continues it)")
        print(f"evolve: stopped: {e}; resume={folder} continues the run", file=sys.stderr)
        return EXIT_FAILED
    except SeedError as e:
        return _fail(archive, run.id, str(e))
    except ArchiveError as e:
        return _fail(archive, run.id, str(e), f"{e}: run stopped")
    except ProblemError as e:  # the problem's trusted code failed in the workers
        return _fail(archive, run.id, f"problem error: {' '.join(str(e).split())}"[:2000])
    except Exception as e:  # noqa: BLE001 - a bug in the engine: recorded, never left `running`
        log.error("%s", short_traceback(e), extra={"file_only": True})
        why = f"crashed: {type(e).__name__}: {' '.join(str(e).split())}"[:500]
        return _fail(archive, run.id, why, f"the run {why} (traceback in {folder / 'run.log'})")
    finally:
        signals.remove()
        if evaluator is not None:
            evaluator.close()
        archive.close()


async def _evolve(cfg: DictConfig, archive: Archive, run: Run, folder: Path, evaluator: Evaluator,
                  proposers: list, info: ProblemInfo, seed_code: str | None,
                  signals: _Signals, progress: ProgressLine) -> int:
    search = to_dict(cfg.search)
    kind = proposer_kind(to_dict(cfg.proposer), to_dict(cfg.llm))
    selector = IslandSelector(search, fix_probability=float(search["fix_probability"])
                              if kind != "builtin" else 0.0)
    budget = Budget(iterations=int(search["iterations"]), max_seconds=search.get("max_seconds"),
                    target_score=search.get("target_score"),
                    max_cost_usd=cfg.llm.get("max_cost_usd"))
    ctl = Controller(archive=archive, run=run, evaluator=evaluator, selector=selector,
                     proposers=proposers, problem=info, budget=budget,
                     seed=int(search["seed"]), concurrency=int(search["concurrency"]),
                     run_dir=folder, on_progress=progress.update, on_phase=progress.phase)
    ctl.load()
    signals.controller = ctl
    if signals.hits:  # a signal arrived while the workers started
        ctl.request_stop(signals.reason)
    await ctl.ensure_seed(seed_code or "", int(search["islands"]))
    reason = await ctl.run()
    progress.close()
    status = "finished" if reason == "finished" else "stopped"
    archive.update_run(run.id, status=status, stop_reason=reason, wall_seconds=ctl.elapsed())
    _print_summary(archive, run.id, folder, ctl, reason)
    return EXIT_INTERRUPTED if signals.hits and status == "stopped" else 0


def _note_isolation(folder: Path, run: Run, archive: Archive, evaluator: Evaluator) -> None:
    """run.json and the log say which sandbox isolation this session got (known once started)."""
    iso = str(getattr(evaluator, "isolation", "unknown"))
    detail = str(getattr(evaluator, "isolation_detail", "") or "")
    write_run_json(folder, {"run_id": run.id, "url": archive.url, "isolation": iso,
                            "isolation_detail": detail})
    # the detail usually starts with the level itself: "full (user, pid, net, mount ...)"
    log.info("isolation: %s", detail if detail.startswith(iso) else
             f"{iso} ({detail})" if detail else iso)


def _fail(archive: Archive, run_id: int, reason: str, line: str | None = None) -> int:
    """Status `failed` with `reason`; one plain line on stderr (the log wraps), the same in
    run.log."""
    line = " ".join((line or reason).split())
    log.error("%s", line, extra={"file_only": True})
    print(f"evolve: error: {line}", file=sys.stderr, flush=True)
    _final(archive, run_id, "failed", reason)
    return EXIT_FAILED


def _final(archive: Archive, run_id: int, status: str, reason: str) -> None:
    """Record the run's final status where the archive still allows it."""
    try:
        archive.update_run(run_id, status=status, stop_reason=reason)
    except Exception as e:  # noqa: BLE001 - the archive may be what failed
        log.warning("could not record status %s in the archive: %s", status, e)


class _Signals:
    """Ctrl-C and SIGTERM: the first stops proposing (in-flight work finishes), the second
    aborts."""

    def __init__(self) -> None:
        self.hits = 0
        self.reason = ""
        self.controller: Controller | None = None
        self._main = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        self._installed: list[int] = []

    def install(self) -> _Signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._loop.add_signal_handler(sig, self._on_signal, sig)
                self._installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread (tests calling in-process): default handling
        return self

    def remove(self) -> None:
        for sig in self._installed:
            self._loop.remove_signal_handler(sig)
        self._installed.clear()

    def _on_signal(self, sig: int) -> None:
        self.hits += 1
        name = "Ctrl-C" if sig == signal.SIGINT else "SIGTERM"
        if self.hits == 1:
            self.reason = f"interrupted ({name})"
            log.info("%s: stopping after in-flight evaluations; again to abort them", name)
            if self.controller is not None:  # else the controller is told as soon as it exists
                self.controller.request_stop(self.reason)
        elif self._main is not None:
            self._main.cancel()


def _print_summary(archive: Archive, run_id: int, folder: Path, ctl: Controller,
                   reason: str) -> None:
    best = archive.best(run_id, 1)
    log.info("%s | %s", reason, describe(ctl.stats, time.monotonic()))
    if best:
        b = best[0]
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in list((b.metrics or {}).items())[:6])
        print(f"best program {b.id} (iteration {b.iteration}, {b.proposer}): score {b.score:.6g}"
              f" {metrics}")
    print(f"run folder: {folder}  ({ctl.stats.done} iterations, {ctl.stats.evaluations} "
          f"evaluations, {ctl.stats.failures} failed, {ctl.elapsed():.1f} s, "
          f"${ctl.stats.cost:.4f})")
