"""One session of a run: its steps, in order, each a small function.

run_session: prepare (problem, proposers) -> claim the folder (new: created and locked; resume:
locked first) -> open the archive and the run row -> _session: signals, the warm evaluator, the
controller -> the final status and summary (run_status.py). The folder, lock, run.json and run
row are run_folder.py's. Once the run row exists the session always leaves a final status:
`finished`, `stopped` (budget, Ctrl-C or SIGTERM; exit 130 when interrupted) or `failed` (exit 1,
reason stored).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import inspect
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from evolve import prelaunch
from evolve.archive import Archive, ArchiveError, Run
from evolve.config import ConfigError, to_dict
from evolve.evaluator import Evaluator, EvaluatorLost
from evolve.loop import Budget, Controller, SeedError, short_traceback
from evolve.problem import ProblemError, make_problem
from evolve.progress import ProgressLine
from evolve.proposers import make_proposers, proposer_kind
from evolve.proposers.base import ProblemInfo
from evolve.ray_backend import check_backend, make_evaluator
from evolve.run_folder import (
    RunLock,
    announce,
    claim_new_folder,
    hidden_folders,
    note_isolation,
    open_archive,
    open_run,
    write_run_json,
)
from evolve.run_status import EXIT_FAILED, EXIT_INTERRUPTED, Signals, fail, final, print_summary
from evolve.sandbox import Limits
from evolve.selection import IslandSelector

log = logging.getLogger("evolve")

ENGINE_PROBLEM_KEYS = ("preload",)  # problem-section keys the engine reads, not the problem
__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "RunLock", "hidden_folders", "run_session",
           "write_run_json"]


def limits_from(cfg: DictConfig) -> Limits:
    ev = cfg.evaluator
    return Limits(timeout_s=float(ev.timeout_s), memory_mb=int(ev.memory_mb),
                  max_output_kb=int(ev.max_output_kb), isolate_network=bool(ev.isolate_network),
                  drop_privileges=bool(ev.drop_privileges))


def key_env_names(llm_cfg: Any) -> list[str]:
    """Every `api_key_env` named anywhere in the llm section (their values are secrets)."""
    if isinstance(llm_cfg, dict):
        own = [str(v) for k, v in llm_cfg.items() if k == "api_key_env" and v]
        return own + [n for v in llm_cfg.values() for n in key_env_names(v)]
    if isinstance(llm_cfg, list):
        return [n for v in llm_cfg for n in key_env_names(v)]
    return []


async def _start_proposers(proposers, seed_code: str | None) -> None:
    for p, _ in proposers:
        if "sample_code" in inspect.signature(p.start).parameters:
            await p.start(sample_code=seed_code)  # the context-window check sizes real prompts
        else:
            await p.start()


@dataclass(frozen=True)
class Prepared:
    """What a session knows before it touches the run folder."""

    problem_cfg: dict
    info: ProblemInfo
    seed_code: str | None  # None when resuming: the archive holds the programs
    start_note: str | None  # e.g. an adapter's: how far its scores can be trusted


def _prepare(cfg: DictConfig, resuming: bool) -> Prepared:
    """Load the problem and its seed; a bad problem section is the user's error (exit 2)."""
    problem_cfg = to_dict(cfg.problem)
    try:
        problem = make_problem({k: v for k, v in problem_cfg.items()
                                if k not in ENGINE_PROBLEM_KEYS})
        seed_code = problem.seed_path(str(problem_cfg.get("seed_program", ""))).read_text() \
            if not resuming else None
    except ProblemError as e:
        raise ConfigError(str(e)) from None
    info = ProblemInfo(name=problem.name, entry=problem.entry, signature=problem.signature,
                       description=problem.description, primitives=tuple(problem.primitives),
                       jitted=bool(problem.jit_entry), background=problem.background())
    return Prepared(problem_cfg, info, seed_code, problem.start_note())


@dataclass(frozen=True)
class Warming:
    """The local pool, warming up in the background since the session began."""

    evaluator: Evaluator
    started: concurrent.futures.Future

    def discard(self) -> None:
        """The session ended before using it: wait for the warm-up, then stop the workers."""
        try:
            self.started.result()
        except BaseException:  # noqa: BLE001 - its failure no longer matters
            pass
        self.evaluator.close()


def _limits(cfg: DictConfig, folder: Path) -> Limits:
    return dataclasses.replace(limits_from(cfg), hide=hidden_folders(folder))


def _warm_early(cfg: DictConfig, problem_cfg: dict, folder: Path) -> Warming | None:
    """Start the local workers now: their warm-up (imports, instances, numba) runs in their own
    processes while this one loads the proposers (litellm), opens the archive and creates the
    run. A Ray pool starts later, after its cluster was checked."""
    if str(cfg.evaluator.backend) != "local":
        return None
    evaluator = Evaluator(problem_cfg, _limits(cfg, folder), workers=int(cfg.evaluator.workers),
                          gate=bool(cfg.evaluator.gate), seed=int(cfg.search.seed),
                          secret_envs=key_env_names(to_dict(cfg.llm)))
    started: concurrent.futures.Future = concurrent.futures.Future()

    def start() -> None:
        try:
            evaluator.start()
            started.set_result(None)
        except BaseException as e:  # noqa: BLE001 - raised where the session waits for it
            started.set_exception(e)

    threading.Thread(target=start, name="evolve-warm-up", daemon=True).start()
    return Warming(evaluator, started)


async def run_session(cfg: DictConfig, resuming: bool, new_run_dir: Callable, link_latest: Callable,
                      setup_logging: Callable) -> int:
    folder = Path(cfg.resume) if resuming else new_run_dir(cfg)
    lock = RunLock(folder).acquire() if resuming else None  # before anything is written there
    proposers: list = []
    warming: Warming | None = None
    with ProgressLine(bool(cfg.progress), int(cfg.search.iterations)) as progress:
        try:
            progress.show("loading the problem")
            prep = _prepare(cfg, resuming)
            warming = _warm_early(cfg, prep.problem_cfg, folder)
            workers = int(cfg.evaluator.workers)
            progress.show(f"warming {workers} worker{'s' if workers != 1 else ''} (compiling "
                          "the simulator); starting the proposers")
            proposers = make_proposers(to_dict(cfg.proposer), to_dict(cfg.llm), prep.info)
            await _start_proposers(proposers, prep.seed_code)
            check_backend(cfg)  # an unreachable cluster: one line, exit 2, no run created
            if not resuming:
                lock = claim_new_folder(folder)
            setup_logging(folder, cfg.log_level)
            if prep.start_note:
                log.warning("%s", prep.start_note)
            archive = open_archive(cfg, folder)
            try:
                run = open_run(cfg, archive, folder, prep.info.name, resuming)
            except BaseException:
                archive.close()
                raise
            opening = None if resuming else (lambda: announce(cfg, archive, run, folder,
                                                              link_latest))
            given, warming = warming, None  # _session owns (and closes) it now
            return await _session(cfg, archive, run, folder, prep.problem_cfg, proposers,
                                  prep.info, prep.seed_code, opening, progress, given)
        finally:
            if warming is not None:
                warming.discard()
            prelaunch.discard()  # early workers no pool took (a run that stopped before it)
            await _close_proposers(proposers)
            if lock is not None:
                lock.release()


async def _close_proposers(proposers: list) -> None:
    for p, _ in proposers:
        try:
            await p.close()
        except Exception as e:  # noqa: BLE001 - closing must not hide the session's outcome
            log.warning("closing a proposer failed: %s", e)


async def _session(cfg: DictConfig, archive: Archive, run: Run, folder: Path, problem_cfg: dict,
                   proposers: list, info: ProblemInfo, seed_code: str | None,
                   opening: Callable | None, progress: ProgressLine,
                   warming: Warming | None) -> int:
    """Everything after the run row exists: whatever happens, the run gets a final status."""
    signals = Signals().install()
    evaluator: Evaluator | None = warming.evaluator if warming is not None else None
    try:
        if opening is not None:
            opening()
        workers = int(cfg.evaluator.workers)
        # the first minute of a run on a cold machine: numba compiles the simulator here
        progress.phase(f"warming {workers} worker{'s' if workers != 1 else ''} "
                       "(compiling the simulator)")
        if warming is not None:
            await asyncio.wrap_future(warming.started)
        else:
            evaluator = make_evaluator(cfg, problem_cfg, _limits(cfg, folder), run_dir=folder,
                                       local=Evaluator,
                                       secret_envs=key_env_names(to_dict(cfg.llm)))
            await asyncio.get_running_loop().run_in_executor(None, evaluator.start)
        assert evaluator is not None
        note_isolation(folder, run, archive, evaluator)
        return await _evolve(cfg, archive, run, folder, evaluator, proposers, info, seed_code,
                             signals, progress)
    except (KeyboardInterrupt, asyncio.CancelledError):
        final(archive, run.id, "stopped", "interrupted (in-flight work lost)")
        return EXIT_INTERRUPTED
    except EvaluatorLost as e:  # the cluster went away: stopped, resumable
        final(archive, run.id, "stopped", f"{e} (resume={folder} continues it)")
        print(f"evolve: stopped: {e}; resume={folder} continues the run", file=sys.stderr)
        return EXIT_FAILED
    except SeedError as e:
        return fail(archive, run.id, str(e))
    except ArchiveError as e:
        return fail(archive, run.id, str(e), f"{e}: run stopped")
    except ProblemError as e:  # the problem's trusted code failed in the workers
        return fail(archive, run.id, f"problem error: {' '.join(str(e).split())}"[:2000])
    except Exception as e:  # noqa: BLE001 - a bug in the engine: recorded, never left `running`
        log.error("%s", short_traceback(e), extra={"file_only": True})
        why = f"crashed: {type(e).__name__}: {' '.join(str(e).split())}"[:500]
        return fail(archive, run.id, why, f"the run {why} (traceback in {folder / 'run.log'})")
    finally:
        signals.remove()
        if warming is not None:
            warming.discard()  # waits for a warm-up still running, then stops the workers
        elif evaluator is not None:
            evaluator.close()
        archive.close()


async def _evolve(cfg: DictConfig, archive: Archive, run: Run, folder: Path, evaluator: Evaluator,
                  proposers: list, info: ProblemInfo, seed_code: str | None,
                  signals: Signals, progress: ProgressLine) -> int:
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
                     run_dir=folder, on_progress=progress.update, on_phase=progress.phase,
                     validate_top_k=int(search["validate_top_k"]))
    ctl.load()
    signals.controller = ctl
    if signals.hits:  # a signal arrived while the workers started
        ctl.request_stop(signals.reason)
    await ctl.ensure_seed(seed_code or "", int(search["islands"]))
    reason = await ctl.run()
    progress.close()
    status = "finished" if reason == "finished" else "stopped"
    archive.update_run(run.id, status=status, stop_reason=reason, wall_seconds=ctl.elapsed())
    print_summary(archive, run.id, folder, ctl, reason)
    return EXIT_INTERRUPTED if signals.hits and status == "stopped" else 0
