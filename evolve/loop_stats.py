"""What the controller stops on (Budget) and counts for the live line (Stats)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

RECENT = 20  # iterations the live line's rate (and so its ETA) is measured over


@dataclass(frozen=True)
class Budget:
    """When to stop: iterations, wall time, target score, LLM cost."""

    iterations: int
    max_seconds: float | None = None
    target_score: float | None = None
    max_cost_usd: float | None = None


@dataclass
class Stats:
    """Live counters for the progress line (times are time.monotonic() values)."""

    done: int = 0
    failures: int = 0  # failed programs only: not duplicates, not `no_gain` steps
    evaluations: int = 0
    cost: float = 0.0
    best: float | None = None
    best_val: float | None = None  # validation score of the validation-best (None: none yet)
    best_val_id: int | None = None
    started: float = field(default_factory=time.monotonic)
    model_cost: dict[str, float] = field(default_factory=dict)  # per-model dollars (LLM runs)
    # when the loop started, then when each of the last RECENT iterations was recorded
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT + 1))
    deadline: float | None = None  # when search.max_seconds runs out (None: no time budget)
