"""Step times of the evaluation path, for `benchmarks/sandbox.py --profile` (off by default).

The controller's environment turns them on (EVOLVE_PROFILE_EVAL=FILE): the worker and each child
note when each step ends, and the worker appends one row per evaluation to FILE. The child's
marks are its own claims: they serve profiling and nothing else.
"""

from __future__ import annotations

import json
import os
import time

PROFILE = os.environ.get("EVOLVE_PROFILE_EVAL", "")
MARKS: list[tuple[str, float, float]] = []


def mark(step: str) -> None:
    """Note when a step of the evaluation path ended (only while profiling)."""
    if PROFILE:
        MARKS.append((step, time.monotonic(), time.process_time()))


def flush_marks(child: dict | None = None) -> None:
    """Append this evaluation's marks (the worker's and the child's) to the profile file."""
    if PROFILE and MARKS:
        child = child if isinstance(child, dict) else {}
        row = {"marks": MARKS + list(child.get("marks") or []), "gc_runs": child.get("gc_runs")}
        with open(PROFILE, "a") as f:
            f.write(json.dumps(row) + "\n")
    MARKS.clear()
