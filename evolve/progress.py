"""The live progress line: iteration, best score, evaluations per minute, failures, cost."""

from __future__ import annotations

import logging
import sys
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from evolve.loop import Stats

log = logging.getLogger("evolve")


def describe(stats: Stats) -> str:
    minutes = max(1e-9, (time.monotonic() - stats.started) / 60.0)
    best = "-" if stats.best is None else f"{stats.best:.6g}"
    models = ""
    if len(stats.model_cost) > 1:
        top = sorted(stats.model_cost.items(), key=lambda kv: -kv[1])[:3]
        models = " (" + ", ".join(f"{m.split('/')[-1]} ${c:.3f}" for m, c in top) + ")"
    return (f"best {best} | {stats.evaluations / minutes:.1f} evals/min | "
            f"{stats.failures} failed | ${stats.cost:.4f}{models}")


class ProgressLine:
    """A rich progress bar on a terminal; a log line every ~5% otherwise."""

    def __init__(self, enabled: bool, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.live = enabled and sys.stderr.isatty()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last_logged = -1

    def __enter__(self) -> ProgressLine:
        if self.live:
            self._progress = Progress(
                TextColumn("[bold]evolve"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=self.console,
                transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task("run", total=None, info="starting")
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def update(self, stats: Stats, total: int) -> None:
        if self._progress is not None:
            assert self._task is not None  # set together with _progress in __enter__
            self._progress.update(self._task, completed=stats.done, total=total,
                                  info=describe(stats))
            return
        step = max(1, total // 20)
        if stats.done // step != self._last_logged:
            self._last_logged = stats.done // step
            log.info("iteration %d/%d | %s", stats.done, total, describe(stats))
