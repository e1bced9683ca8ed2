"""Worker start-up: the numba cache of trusted code lives in a folder the user owns (XDG), the
candidates do not see it, workers warm up together and leave promptly when the pool closes."""

from __future__ import annotations

import asyncio
import os
import stat
import textwrap

from evolve.evaluator import Evaluator, numba_cache_dir
from evolve.sandbox import Limits
from tests.engine_util import ROOT

PROBLEM = {"name": "sorting", "target": str(ROOT / "tests/problems/sorting.py") + ":SortingProblem",
           "instances": 4, "n": 10}


def test_cache_folder_follows_xdg_and_is_private(tmp_path):
    folder = numba_cache_dir({"XDG_CACHE_HOME": str(tmp_path)})
    assert folder == str(tmp_path / "adrs-evolve" / "numba")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert numba_cache_dir({"NUMBA_CACHE_DIR": "/somewhere/else"}) == "/somewhere/else"
    assert numba_cache_dir({"XDG_CACHE_HOME": "/proc/no-such/place"}) is None


def peek(folder: str) -> str:
    """A candidate that fails when it can see anything in `folder` (or write into it)."""
    return textwrap.dedent(f"""
        import os
        import numpy as np

        def _seen():
            try:
                return len(os.listdir({folder!r}))
            except Exception:
                return 0

        def _wrote():
            try:
                with open(os.path.join({folder!r}, "planted.nbi"), "w") as f:
                    f.write("x")
                return True
            except Exception:
                return False

        def solve(x):
            if _seen() or _wrote():
                raise RuntimeError("the trusted numba cache is reachable")
            return np.argsort(x)
    """)


def test_workers_cache_trusted_code_where_candidates_cannot_reach(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    cache = tmp_path / "xdg" / "adrs-evolve" / "numba"
    ev = Evaluator(PROBLEM, Limits(timeout_s=30), workers=2)
    assert str(cache) in ev.limits.hide
    with ev:
        assert any(cache.rglob("*.nbi")), "the worker's trusted code was not cached there"

        async def both():
            return await asyncio.gather(ev.evaluate(peek(str(cache))),
                                        ev.evaluate(peek(str(cache)) + "\n# second\n"))

        results = asyncio.run(both())
        procs = [w.proc for w in ev._all]
        assert len(procs) == 2
    if ev.isolation == "full":  # reduced mode cannot hide folders (see the threat model)
        assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    assert not (cache / "planted.nbi").exists()
    assert all(p.poll() is not None for p in procs), "a worker outlived the pool"
