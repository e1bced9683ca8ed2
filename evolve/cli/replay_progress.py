"""Progress of `evolve-replay` on stderr: a rich status line on a terminal, otherwise one plain
line per phase and per finished instance set. Quiet for the first few seconds (`--progress
auto`): a replay that ends quickly prints nothing but its result. stdout stays the result's."""

from __future__ import annotations

import sys
import threading
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

QUIET_S = 3.0  # `auto`: nothing is shown before the replay has run this long
MODES = ("auto", "always", "never")


def set_line(label: str, note: dict[str, Any]) -> str:
    """`program #12: set 3/6 us-west-2a_k80_1 (9 instances) in 1.2 s` from a worker's note;
    without a set name, all sets at once: `baseline edd: 6 sets (54 instances) in 0.3 s`."""
    secs = f"in {float(note.get('runtime_s') or 0):.1f} s"
    if note.get("set") is None:
        return f"{label}: {note.get('of')} sets ({note.get('n_instances')} instances) {secs}"
    return (f"{label}: set {note.get('done')}/{note.get('of')} {note.get('set')} "
            f"({note.get('n_instances')} instances) {secs}")


class ReplayProgress:
    """Phases and finished sets of one replay, shown on `stream` (stderr)."""

    def __init__(self, mode: str = "auto", stream: IO[str] | None = None,
                 tty: bool | None = None, quiet_s: float = QUIET_S):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.mode, self.quiet_s = mode, quiet_s
        self.shown = mode == "always"
        self._held: list[str] = []  # plain lines written before `auto` reveals itself
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._text, self._done = "", 0
        self._total: int | None = None

    def __enter__(self) -> ReplayProgress:
        if self.mode == "auto":
            self._timer = threading.Timer(self.quiet_s, self.reveal)
            self._timer.daemon = True
            self._timer.start()
        elif self.shown:
            self.reveal()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self.mode = "never"  # a timer that fires late shows nothing
            if self._bar is not None:
                self._bar.stop()
                self._bar = None

    def reveal(self) -> None:
        """Start showing: the lines held so far, or the live line on a terminal."""
        with self._lock:
            if self.mode == "never":
                return
            self.shown = True
            if self.tty:
                self._bar = Progress(
                    SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(file=self.stream), transient=True)
                self._bar.start()
                self._task = self._bar.add_task(self._text, total=self._total,
                                                completed=self._done)
            else:
                for line in self._held:
                    self._write(line)
            self._held.clear()

    def phase(self, text: str, total: int | None = None) -> None:
        """A new phase ("warming ...", "evaluating ..."); `total`: the sets it will go through."""
        with self._lock:
            self._text, self._total, self._done = text, total, 0
            if self._bar is not None and self._task is not None:
                self._bar.update(self._task, description=text, total=total, completed=0)
            elif not self.tty:
                self._plain(text)

    def set_done(self, label: str, note: dict[str, Any]) -> None:
        """One instance set finished (a note from the sandbox worker, or a baseline's)."""
        with self._lock:
            self._done, self._total = int(note.get("done") or 0), note.get("of")
            if self._bar is not None and self._task is not None:
                self._bar.update(self._task, completed=self._done, total=self._total)
            elif not self.tty:
                self._plain(set_line(label, note))

    def _plain(self, line: str) -> None:
        if self.mode == "never":
            return
        if self.shown:
            self._write(line)
        else:
            self._held.append(line)

    def _write(self, line: str) -> None:
        try:
            self.stream.write(f"evolve-replay: {line}\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed stderr does not stop the replay
            pass
