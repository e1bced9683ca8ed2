"""Shared plumbing of the inspection commands: one-line errors, JSON output, the console."""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console


class CliError(Exception):
    """A user-facing failure: printed as one line on stderr, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line naming the flag and value (exit status 2)."""

    def error(self, message: str):
        sys.exit(fail_line(f"{self.prog}: {message}"))


def positive_number(kind: type = float):
    """An argparse type: a finite number > 0 (int or float), else an error naming the value."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value <= 0:
            noun = "integer" if kind is int else "number"
            raise argparse.ArgumentTypeError(f"{text!r} is not a positive {noun}")
        return value

    parse.__name__ = f"positive_{kind.__name__}"
    return parse


def check_config_dirs(dirs: list[str]) -> None:
    """Every --config-dir is an existing folder (Hydra would silently ignore a typo)."""
    for d in dirs:
        if not Path(d).expanduser().is_dir():
            raise CliError(f"--config-dir {d}: no such folder")


def console() -> Console:
    """A console on the current stdout; wide when piped so tables are not cut at 80 columns."""
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160, highlight=False)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    return str(obj)


def _clean(obj: Any) -> Any:
    """NaN and infinities become null: strict JSON parsers reject them."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def emit_json(obj: Any) -> None:
    """Exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(_clean(obj), default=_jsonable, indent=2) + "\n")
    sys.stdout.flush()


def fail_line(message: str) -> int:
    """Print `message` as one line on stderr and return the error exit status."""
    line = " ".join(str(message).split())
    sys.stderr.write(f"error: {line}\n")
    return 2


def note(message: str) -> None:
    """One informational line on stderr (stdout stays one document with --json)."""
    line = " ".join(str(message).split())
    sys.stderr.write(f"note: {line}\n")


def fmt_num(x: Any, digits: int = 4) -> str:
    """A compact number for tables; '-' for missing values."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return str(v)
    v += 0.0  # turns -0.0 into 0.0
    if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}"


def fmt_secs(x: Any) -> str:
    """Seconds with a fixed number of decimals, so a column of runtimes lines up."""
    if x is None:
        return "-"
    v = float(x)
    return f"{v:.4f}" if v < 1 else f"{v:.2f}"


def fmt_time(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else "-"
