"""One session of a run: folder, archive, warm evaluator, proposers, controller, summary."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import signal
from pathlib import Path
from typing import Callable

from omegaconf import DictConfig, OmegaConf

from evolve.archive import Archive, sqlite_url
from evolve.config import ConfigError, to_dict
from evolve.evaluator import Evaluator
from evolve.loop import Budget, Controller, SeedError
from evolve.problem import ProblemError, make_problem
from evolve.progress import ProgressLine, describe
from evolve.proposers import make_proposers, proposer_kind
from evolve.proposers.base import ProblemInfo
from evolve.sandbox import Limits
from evolve.selection import IslandSelector

log = logging.getLogger("evolve")


def limits_from(cfg: DictConfig) -> Limits:
    ev = cfg.evaluator
    return Limits(timeout_s=float(ev.timeout_s), memory_mb=int(ev.memory_mb),
                  max_output_kb=int(ev.max_output_kb), isolate_network=bool(ev.isolate_network),
                  drop_privileges=bool(ev.drop_privileges))


def _open_archive(cfg: DictConfig, folder: Path) -> Archive:
    url = cfg.archive.get("url") or sqlite_url(folder / "archive.sqlite")
    if cfg.archive.get("url"):
        (folder / "archive_url").write_text(str(url) + "\n")
    return Archive(str(url))


async def run_session(cfg: DictConfig, resuming: bool, new_run_dir: Callable, link_latest: Callable,
                      setup_logging: Callable) -> int:
    problem_cfg = to_dict(cfg.problem)
    try:
        problem = make_problem(problem_cfg)
        seed_code = problem.seed_path(str(problem_cfg.get("seed_program", ""))).read_text() \
            if not resuming else None
    except ProblemError as e:
        raise ConfigError(str(e)) from None
    info = ProblemInfo(name=problem.name, entry=problem.entry, signature=problem.signature,
                       description=problem.description, primitives=tuple(problem.primitives))
    proposers = make_proposers(to_dict(cfg.proposer), to_dict(cfg.llm), info)
    for p, _ in proposers:
        if "sample_code" in inspect.signature(p.start).parameters:
            await p.start(sample_code=seed_code)  # the context-window check sizes real prompts
        else:
            await p.start()

    folder = Path(cfg.resume) if resuming else new_run_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    setup_logging(folder, cfg.get("log_level", "INFO"))
    archive = _open_archive(cfg, folder)
    if resuming:
        run_id = json.loads((folder / "run.json").read_text())["run_id"]
        run = archive.get_run(run_id)
        archive.update_run(run.id, status="running", config=to_dict(cfg), stop_reason=None)
        log.info("resuming run %d in %s", run.id, folder)
    else:
        OmegaConf.save(cfg, folder / "config.yaml", resolve=True)
        run = archive.create_run(problem.name, str(folder), to_dict(cfg), int(cfg.search.seed))
        (folder / "run.json").write_text(json.dumps({"run_id": run.id, "url": archive.url}) + "\n")
        link_latest(folder)
        log.info("run %d: %s, proposer %s, output in %s", run.id, problem.name,
                 proposer_kind(to_dict(cfg.proposer), to_dict(cfg.llm)), folder)

    search = to_dict(cfg.search)
    kind = proposer_kind(to_dict(cfg.proposer), to_dict(cfg.llm))
    selector = IslandSelector(search, fix_probability=float(search.get("fix_probability", 0.1))
                              if kind != "builtin" else 0.0)
    budget = Budget(iterations=int(search["iterations"]), max_seconds=search.get("max_seconds"),
                    target_score=search.get("target_score"),
                    max_cost_usd=cfg.llm.get("max_cost_usd"))
    evaluator = Evaluator(problem_cfg, limits_from(cfg), int(cfg.evaluator.workers),
                          gate=bool(cfg.evaluator.gate))
    try:
        await asyncio.get_running_loop().run_in_executor(None, evaluator.start)
        with ProgressLine(bool(cfg.get("progress", True))) as progress:
            ctl = Controller(archive=archive, run=run, evaluator=evaluator, selector=selector,
                             proposers=proposers, problem=info, budget=budget,
                             seed=int(search["seed"]), concurrency=int(search["concurrency"]),
                             run_dir=folder, on_progress=progress.update)
            ctl.load()
            _install_sigint(ctl)
            try:
                await ctl.ensure_seed(seed_code or "", int(search["islands"]))
                reason = await ctl.run()
            except SeedError as e:
                log.error("%s", e)
                archive.update_run(run.id, status="failed", stop_reason=str(e))
                return 1
        status = "finished" if reason == "finished" else "stopped"
        archive.update_run(run.id, status=status, stop_reason=reason, wall_seconds=ctl.elapsed())
        _print_summary(archive, run.id, folder, ctl, reason)
    except (KeyboardInterrupt, asyncio.CancelledError):
        archive.update_run(run.id, status="stopped", stop_reason="interrupted (in-flight work lost)")
        raise
    finally:
        for p, _ in proposers:
            await p.close()
        evaluator.close()
        archive.close()
    return 0


def _install_sigint(ctl: Controller) -> None:
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    hits = [0]

    def on_sigint() -> None:
        hits[0] += 1
        if hits[0] == 1:
            ctl.request_stop("interrupted (Ctrl-C); press again to abort in-flight evaluations")
        elif main_task is not None:
            main_task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        loop.add_signal_handler(signal.SIGTERM, on_sigint)
    except (NotImplementedError, RuntimeError):
        pass


def _print_summary(archive: Archive, run_id: int, folder: Path, ctl: Controller, reason: str) -> None:
    best = archive.best(run_id, 1)
    log.info("%s | %s", reason, describe(ctl.stats))
    if best:
        b = best[0]
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in list((b.metrics or {}).items())[:6])
        print(f"best program {b.id} (iteration {b.iteration}, {b.proposer}): score {b.score:.6g}"
              f" {metrics}")
    print(f"run folder: {folder}  ({ctl.stats.done} iterations, {ctl.stats.evaluations} evaluations,"
          f" {ctl.stats.failures} failed, {ctl.elapsed():.1f} s, ${ctl.stats.cost:.4f})")
