"""The live progress line: phase, iteration, best score, rate and ETA, failures, cost.

`describe` is a pure function of the counters and a clock value, so the line can be checked
without a terminal and without waiting (tests pass made-up clock values).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column

from evolve.loop import Stats

log = logging.getLogger("evolve")
INFO_MARGIN = 42  # columns of the bar, the count and the clock around the text


def recent_rate(times: Sequence[float], now: float) -> float | None:
    """Iterations per second over the recent window: `times` starts with the window's start and
    then holds one completion time per iteration. Measured up to `now`, so a stall lowers the
    rate (and lengthens the ETA) instead of freezing it. None until one iteration is done."""
    if len(times) < 2:
        return None
    span = max(now, times[-1]) - times[0]
    return (len(times) - 1) / span if span > 0 else None


def fmt_duration(seconds: float) -> str:
    """1h02m, 4m05s, 12s."""
    s = max(0, int(round(seconds)))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def eta_text(stats: Stats, total: int, now: float) -> str:
    """`ETA 4m05s` from the recent rate when the iteration budget ends first; `3m left` when
    search.max_seconds does; `ETA ?` before the first iteration has given a rate."""
    rate = recent_rate(stats.recent, now)
    left = max(0, total - stats.done)
    eta = left / rate if rate else None
    time_left = None if stats.deadline is None else max(0.0, stats.deadline - now)
    if time_left is not None and (eta is None or time_left < eta):
        return f"{fmt_duration(time_left)} left (max_seconds)"
    return "ETA ?" if eta is None else f"ETA {fmt_duration(eta)}"


def describe(stats: Stats, now: float, total: int | None = None) -> str:
    """The line's text at clock value `now` (time.monotonic()); with `total` (the iteration
    budget) it includes the ETA and the rate. What matters most comes first: a narrow terminal
    cuts the end."""
    minutes = max(1e-9, (now - stats.started) / 60.0)
    best = "-" if stats.best is None else f"{stats.best:.6g}"
    models = ""
    if len(stats.model_cost) > 1:
        top = sorted(stats.model_cost.items(), key=lambda kv: -kv[1])[:3]
        models = " (" + ", ".join(f"{m.split('/')[-1]} ${c:.3f}" for m, c in top) + ")"
    eta = rate = ""
    if total is not None:
        eta = f"{eta_text(stats, total, now)} | "
        per_s = recent_rate(stats.recent, now)
        rate = f"{per_s * 60:.1f} it/min | " if per_s else ""
    val = "" if stats.best_val is None else f" | val best {stats.best_val:.6g}"
    return (f"best {best}{val} | {eta}{stats.failures} failed | {rate}"
            f"{stats.evaluations / minutes:.1f} evals/min | ${stats.cost:.4f}{models}")


class ProgressLine:
    """A rich progress bar on a terminal; a log line per phase and every ~5% otherwise.

    Phases ("warming 2 workers (compiling the simulator)", "evaluating the seed", "iterating")
    show on the bar and go to the log (run.log and the console) as one INFO line each.
    """

    def __init__(self, enabled: bool, total: int | None = None, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.live = enabled and sys.stderr.isatty()
        self.total = total
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last_logged = -1

    def __enter__(self) -> ProgressLine:
        if self.live:
            # the text is cut (…) to leave room for the bar, the count and the clock: rich would
            # otherwise squeeze those out on a narrow terminal
            info = Column(no_wrap=True, overflow="ellipsis",
                          max_width=max(12, self.console.width - INFO_MARGIN))
            self._progress = Progress(
                TextColumn("[bold]evolve"), BarColumn(bar_width=16), MofNCompleteColumn(),
                TextColumn("{task.fields[info]}", table_column=info), TimeElapsedColumn(),
                console=self.console, transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task("run", total=self.total, info="starting")
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the bar (idempotent): the session's summary prints below it."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def phase(self, text: str) -> None:
        """A new phase of the session: on the bar, and one INFO line in the log."""
        log.info("%s", text)
        if self._progress is not None:
            assert self._task is not None  # set together with _progress in __enter__
            self._progress.update(self._task, info=text)

    def update(self, stats: Stats, total: int) -> None:
        self.total = total
        text = describe(stats, time.monotonic(), total)
        if self._progress is not None:
            assert self._task is not None  # set together with _progress in __enter__
            self._progress.update(self._task, completed=stats.done, total=total, info=text)
            return
        step = max(1, total // 20)
        if stats.done // step != self._last_logged:
            self._last_logged = stats.done // step
            log.info("iteration %d/%d | %s", stats.done, total, text)
