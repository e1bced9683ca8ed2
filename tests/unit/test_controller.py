"""The controller in process: the built-in proposer, duplicates, migration and resume."""

from __future__ import annotations

import asyncio
from collections import Counter

import numpy as np

from evolve.proposers.base import Proposal, ProposalContext, Proposer
from tests.unit.inprocess import Engine

FAST = ("proposer.builtin.tune.max_evals=6", "search.islands=2", "search.migration_interval=4")
N = 12


def _run(engine: Engine, iterations: int) -> str:
    return asyncio.run(engine.evolve(iterations))


def test_builtin_run_records_every_iteration_and_improves(tmp_path):
    e = Engine(tmp_path / "run", *FAST)
    try:
        assert _run(e, N) == "finished"
        rows = e.archive.programs(e.run.id)
        done = {p.iteration for p in rows if p.proposer not in ("seed", "migration")}
        assert done == set(range(1, N + 1))
        assert Counter(p.proposer for p in rows)["seed"] == 2  # one per island
        # ring migration at iterations 4, 8, 12 (two islands: each sends its best, if new there)
        assert {p.iteration for p in rows if p.proposer == "migration"} <= {4, 8, 12}
        seed = next(p for p in rows if p.proposer == "seed")
        assert max(p.score for p in rows if p.score is not None) >= seed.score
    finally:
        e.close()


def test_resume_continues_exactly_as_the_uninterrupted_run(tmp_path):
    whole, split = Engine(tmp_path / "whole", *FAST), Engine(tmp_path / "split", *FAST)
    try:
        _run(whole, N)
        _run(split, N // 2)
        split.restart()  # as `evolve resume=...` in a new process
        _run(split, N)
        assert split.rows() == whole.rows()
    finally:
        whole.close()
        split.close()


class _HiddenStateProposer(Proposer):
    """A buggy proposer: its choices depend on state kept outside the archive (its own RNG)."""

    def __init__(self, inner: Proposer):
        self.inner = inner
        self.rng = np.random.default_rng(1)

    async def propose(self, ctx: ProposalContext) -> Proposal:
        ctx.rng = np.random.default_rng(int(self.rng.integers(2**31)))
        return await self.inner.propose(ctx)


def test_the_resume_check_catches_a_proposer_that_diverges(tmp_path):
    """The same comparison fails when the proposer keeps state a resume cannot restore."""
    whole, split = Engine(tmp_path / "whole", *FAST), Engine(tmp_path / "split", *FAST)
    try:
        whole.proposers = [(_HiddenStateProposer(whole.proposers[0][0]), 1.0)]
        split.proposers = [(_HiddenStateProposer(split.proposers[0][0]), 1.0)]
        _run(whole, N)
        _run(split, N // 2)
        split.restart()
        split.proposers = [(_HiddenStateProposer(split.proposers[0][0]), 1.0)]
        _run(split, N)
        assert split.rows() != whole.rows()
    finally:
        whole.close()
        split.close()


class _Repeat(Proposer):
    """Proposes the same child every time (the duplicate path)."""

    async def propose(self, ctx: ProposalContext) -> Proposal:
        seed = next(p for p in ctx.history if p.proposer == "seed")
        return Proposal(seed.code.rstrip() + "\n# same child\n", "mutation", "repeat")


def test_duplicates_are_answered_from_the_archive_not_re_evaluated(tmp_path):
    e = Engine(tmp_path / "dup", *FAST, proposers=[(_Repeat(), 1.0)])
    try:
        _run(e, 6)
        rows = [p for p in e.archive.programs(e.run.id) if p.proposer == "mutation"]
        originals = [p for p in rows if p.duplicate_of is None]
        assert len(rows) == 6 and len(originals) == 1
        assert all(p.score == originals[0].score for p in rows)
        assert len(e.evaluator.evaluated) == 2  # the seed and the one child
    finally:
        e.close()


def test_parallel_strategy_mutates_only_the_seed(tmp_path):
    e = Engine(tmp_path / "run", *FAST, "search.strategy=parallel")
    try:
        assert _run(e, N) == "finished"
        rows = e.archive.programs(e.run.id)
        seeds = {p.id: p.island for p in rows if p.proposer == "seed"}
        children = [p for p in rows if p.proposer != "seed"]
        assert len(children) == N and all(p.parent_id in seeds for p in children)
        assert all(seeds[p.parent_id] == p.island for p in children)  # the island's own seed
        assert not [p for p in rows if p.proposer == "migration"]  # nothing moves between arms
    finally:
        e.close()


def test_another_seed_explores_differently(tmp_path):
    """Same config, seeds 7 and 8: different children (the subprocess determinism test,
    tests/test_engine_determinism.py, proves that one seed gives one run)."""
    hashes = []
    for seed in (7, 8):
        e = Engine(tmp_path / f"s{seed}", *FAST, f"search.seed={seed}")
        try:
            _run(e, N)
            hashes.append([r[4] for r in e.rows() if r[2] not in ("seed", "migration")])
        finally:
            e.close()
    assert hashes[0] != hashes[1]
