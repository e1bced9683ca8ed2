"""Fixtures for the built-in proposer tests: toy SMTT problem, seeds, contexts, fake sandbox."""

from __future__ import annotations

import asyncio
import importlib

import numpy as np

from evolve.problem import InstanceSet, InvalidOutput, Problem, SetScore, Summary, readonly
from evolve.proposers.base import ProblemInfo, ProgramView, ProposalContext

MDD = '''"""MDD dispatching for single-machine total tardiness."""
import numpy as np


# EVOLVE-BLOCK-START
def schedule(p, d):
    n = p.shape[0]
    done = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    t = 0.0
    for k in range(n):
        best = -1
        best_v = np.inf
        for j in range(n):
            if done[j]:
                continue
            # modified due date: the job's due date or its earliest completion
            v = max(d[j], t + p[j])
            if v < best_v:
                best_v = v
                best = j
        order[k] = best
        done[best] = True
        t += p[best]
    return order
# EVOLVE-BLOCK-END
'''

ATC = '''import numpy as np
from numba import njit


# EVOLVE-BLOCK-START
@njit
def priority(pj, dj, t, pbar):
    slack = max(dj - pj - t, 0.0)
    return np.exp(-slack / (K_VALUE * pbar)) / pj


def schedule(p, d):
    n = p.shape[0]
    pbar = np.mean(p)
    done = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    t = 0.0
    for k in range(n):
        best = 0
        best_v = -1.0
        for j in range(n):
            if not done[j]:
                v = priority(p[j], d[j], t, pbar)
                if v > best_v:
                    best_v = v
                    best = j
        order[k] = best
        done[best] = True
        t += p[best]
    return order
# EVOLVE-BLOCK-END
'''

EDD = '''import numpy as np


# EVOLVE-BLOCK-START
def schedule(p, d):
    # earliest due date first
    return np.argsort(d, kind="mergesort")
# EVOLVE-BLOCK-END
'''


def atc(k: float) -> str:
    return ATC.replace("K_VALUE", repr(float(k)))


class ToySmtt(Problem):
    """Single-machine total tardiness on seeded random instances; score = -mean tardiness."""

    name = "toy_smtt"
    entry = "schedule"
    signature = "def schedule(p, d) -> np.ndarray[int64]"
    description = "Order jobs to minimise total tardiness."

    def _make(self, seed: int, count: int, n: int, tf: float = 0.6, rdd: float = 0.4):
        rng = np.random.default_rng(seed)
        data = []
        for _ in range(count):
            p = rng.integers(1, 101, n).astype(np.float64)
            total = p.sum()
            lo, hi = total * (1 - tf - rdd / 2), total * (1 - tf + rdd / 2)
            data.append((p, np.floor(rng.uniform(max(lo, 0), hi, n))))
        return InstanceSet(f"s{seed}_{count}x{n}", data, count)

    def instance_sets(self, split):
        seed = {"train": 1, "validation": 2, "test": 3}[split]
        return [self._make(seed, int(self.cfg.get("count", 8)), int(self.cfg.get("n", 25)))]

    def gate_sets(self):
        return [self._make(7, int(self.cfg.get("gate_count", 6)), int(self.cfg.get("n", 25)))]

    def run(self, candidate, iset):
        out = [np.asarray(candidate.fn(readonly(p), readonly(d)), dtype=np.int64)
               for p, d in iset.data]
        return {"orders": np.array(out)}

    def score_set(self, iset, outputs):
        tard = []
        for (p, d), o in zip(iset.data, outputs["orders"]):
            if not np.array_equal(np.sort(o), np.arange(len(p))):
                raise InvalidOutput("not a permutation")
            c = np.cumsum(p[o])
            tard.append(float(np.maximum(c - d[o], 0).sum()))
        return SetScore(iset.name, iset.size, {"tardiness": float(np.mean(tard))})

    def summarize(self, split, scores):
        t = float(np.mean([s.metrics["tardiness"] for s in scores]))
        return Summary(-t, {"tardiness": t}, f"mean tardiness {t:.1f}")


def info(problem: Problem) -> ProblemInfo:
    return ProblemInfo(problem.name, problem.entry, problem.signature, problem.description,
                       tuple(problem.primitives))


def view(pid: int, code: str, *, score: float | None = 0.0, proposer: str = "seed",
         operator: str | None = None, improved: bool = False, status: str = "ok") -> ProgramView:
    return ProgramView(id=pid, iteration=pid, island=0, generation=0, parent_id=None, code=code,
                       status=status, score=score, metrics={}, feedback="", error="",
                       proposer=proposer, operator=operator, model=None, behaviour=None,
                       improved=improved)


def context(parent: ProgramView, seed: int, problem: Problem, *, inspirations=(), history=(),
            sandbox=None) -> ProposalContext:
    return ProposalContext(iteration=1, island=0, rng=np.random.default_rng(seed), parent=parent,
                           inspirations=list(inspirations), history=list(history) or [parent],
                           problem=info(problem), sandbox=sandbox)


class FakeSandbox:
    """Runs `module:function(problem, payload)` in this process (the engine forks a child)."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.calls = 0

    async def call(self, func: str, payload: dict) -> dict:
        self.calls += 1
        mod, _, name = func.partition(":")
        return getattr(importlib.import_module(mod), name)(self.problem, payload)


def propose(proposer, ctx):
    return asyncio.run(proposer.propose(ctx))
