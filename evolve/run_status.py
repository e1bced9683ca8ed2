"""How a session ends: the run's final status in the archive, and the closing lines.

Signals (Ctrl-C, SIGTERM) are how a user ends one early: the first stops proposing and lets
in-flight evaluations finish, the second cancels the session.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from pathlib import Path

from evolve.archive import Archive
from evolve.loop import Controller
from evolve.progress import describe

log = logging.getLogger("evolve")
EXIT_FAILED, EXIT_INTERRUPTED = 1, 130


def fail(archive: Archive, run_id: int, reason: str, line: str | None = None) -> int:
    """Status `failed` with `reason`; one plain line on stderr (the log wraps), the same in
    run.log."""
    line = " ".join((line or reason).split())
    log.error("%s", line, extra={"file_only": True})
    print(f"evolve: error: {line}", file=sys.stderr, flush=True)
    final(archive, run_id, "failed", reason)
    return EXIT_FAILED


def final(archive: Archive, run_id: int, status: str, reason: str) -> None:
    """Record the run's final status where the archive still allows it."""
    try:
        archive.update_run(run_id, status=status, stop_reason=reason)
    except Exception as e:  # noqa: BLE001 - the archive may be what failed
        log.warning("could not record status %s in the archive: %s", status, e)


class Signals:
    """Ctrl-C and SIGTERM: the first stops proposing (in-flight work finishes), the second
    aborts."""

    def __init__(self) -> None:
        self.hits = 0
        self.reason = ""
        self.controller: Controller | None = None
        self._main = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        self._installed: list[int] = []

    def install(self) -> Signals:
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


def print_summary(archive: Archive, run_id: int, folder: Path, ctl: Controller,
                   reason: str) -> None:
    best = archive.best(run_id, 1)
    log.info("%s | %s", reason, describe(ctl.stats, time.monotonic()))
    if best:
        b = best[0]
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in list((b.metrics or {}).items())[:6])
        print(f"best program {b.id} (iteration {b.iteration}, {b.proposer}): score {b.score:.6g}"
              f" {metrics}")
    chosen = archive.best_validated(run_id, 1)
    if chosen:
        c, v = chosen[0], archive.validations(run_id)[chosen[0].id]
        print(f"validation best {c.id} (iteration {c.iteration}, {c.proposer}): validation "
              f"{v.score:.6g}, train {c.score:.6g}  (best.py)")
    print(f"run folder: {folder}  ({ctl.stats.done} iterations, {ctl.stats.evaluations} "
          f"evaluations, {ctl.stats.failures} failed, {ctl.elapsed():.1f} s, "
          f"${ctl.stats.cost:.4f})")
