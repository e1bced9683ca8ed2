"""Behaviour probe inside one sandboxed child: do two programs give the same outputs?

`probe_in_sandbox(problem, payload)` is what the proposer asks the engine to run next to the warm
problem (`ctx.sandbox.call("evolve.proposers.builtin.probe:probe_in_sandbox", payload)`). Payload
keys: entry, codes (program texts). Each program runs in Python (no numba compile: a compile
costs as much as the evaluation the probe is meant to save) on the problem's first gate set
(the first train set without one); the reply is one digest of its outputs per program, or None
when it fails. A digest only decides which proposal is worth evaluating: it never feeds a score.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from evolve.problem import Problem
from evolve.program import load_candidate

PROBE_FN = "evolve.proposers.builtin.probe:probe_in_sandbox"


def digest(outputs: Any) -> str:
    """Hash of a problem's outputs (a dict of arrays, an array, or any repr-able value)."""
    h = hashlib.sha256()
    items = sorted(outputs.items()) if isinstance(outputs, dict) else [("", outputs)]
    for k, v in items:
        h.update(str(k).encode())
        a = np.asarray(v)
        if a.dtype.kind in "biuf":
            h.update(str((a.dtype.str, a.shape)).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        else:
            h.update(repr(v).encode(errors="replace"))
    return h.hexdigest()


def probe_in_sandbox(problem: Problem, payload: dict[str, Any]) -> dict[str, Any]:
    """{"digests": [digest or None per program]}."""
    sets = problem.gate_sets() or problem.instance_sets("train")[:1]
    out: list[str | None] = []
    for code in payload["codes"]:
        try:
            cand = load_candidate(str(code), str(payload["entry"]), False)
            cand.code = str(code)  # what a whole-program problem runs
            out.append(digest(problem.run(cand, sets[0])))
        except Exception:  # noqa: BLE001 - a failing program has no behaviour to compare
            out.append(None)
    return {"digests": out}
