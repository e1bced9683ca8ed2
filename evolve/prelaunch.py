"""Worker processes started as soon as a run's config is checked, before the problem is loaded.

A worker's warm-up begins with what no problem decides (the interpreter, numpy, numba and its
cached probe: about 1 s); started here, from the main thread, that part overlaps the loading of
the problem, the proposers and the archive. The pool takes them (`take`) when their environment
is exactly the one it would give a worker (the allowlist less the run's key variables), sends
them the problem, and starts any others itself; the unused ones are stopped (`discard`).
"""

from __future__ import annotations

import atexit
import os
from typing import Any

_EARLY: list[Any] = []  # evaluator._Worker, started without a problem


def start(cfg: Any) -> None:
    """Start the local workers of a run config now (nothing for a Ray pool)."""
    from evolve.config import to_dict
    from evolve.evaluator import _Worker, worker_env
    from evolve.session import key_env_names

    if str(cfg.evaluator.backend) != "local" or _EARLY:
        return
    env, _cache = worker_env(key_env_names(to_dict(cfg.llm)))
    for _ in range(max(1, int(cfg.evaluator.workers))):
        _EARLY.append(_Worker(None, None, env))


def take(n: int, env: dict[str, str]) -> list[Any]:
    """Up to n early workers started with exactly `env`, in this working folder (a Hydra job
    may have changed it); the others are stopped."""
    here = os.getcwd()
    got = [w for w in _EARLY if w.env == env and w.cwd == here and w.proc.poll() is None][:n]
    discard(keep=got)
    return got


@atexit.register
def discard(keep: list[Any] | None = None) -> None:
    """Stop the early workers not in `keep` (a run that stopped before its pool started)."""
    for w in list(_EARLY):
        _EARLY.remove(w)
        if keep is None or w not in keep:
            w.proc.kill()  # no problem, no child yet: nothing to wait for
            w.hang_up()
            w.proc.wait()
