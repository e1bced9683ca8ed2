"""Per-set scores in the archive: every evaluated program stores one row per instance set."""

from __future__ import annotations

import asyncio

from tests.unit.inprocess import Engine

FAST = ("proposer.builtin.tune.max_evals=6", "search.islands=2", "search.migration_interval=4",
)


def test_every_evaluated_program_stores_its_train_sets(tmp_path):
    e = Engine(tmp_path / "run", *FAST)
    try:
        asyncio.run(e.evolve(6))
        rows = e.archive.programs(e.run.id)
        evaluated = [p for p in rows if p.duplicate_of is None and p.eval_seconds > 0]
        assert evaluated
        got = e.archive.set_scores([p.id for p in rows])
        want = e.evaluator.problem.instance_sets("train")
        for p in evaluated:
            if p.status == "ok" and (p.stage or "full") == "full":
                assert [(r.split, r.set_name) for r in got[p.id]] == \
                    [("train", s.name) for s in want]
                assert all(set(r.metrics) == {"inversions"} and r.score is None
                           for r in got[p.id])
        # a duplicate (the seed's copy on island 1) answers with the rows of what it repeats
        copy = next(p for p in rows if p.proposer == "seed" and p.duplicate_of is not None)
        assert got[copy.id] == got[copy.duplicate_of]
        assert e.archive.set_scores([copy.id], split="validation") == {copy.id: []}
    finally:
        e.close()


def test_a_program_a_cascade_stage_stopped_is_never_the_validation_best(tmp_path):
    from evolve.archive import Archive, Program, Validation, sqlite_url
    from evolve.validation import eligible

    archive = Archive(sqlite_url(tmp_path / "a.sqlite"))
    try:
        run = archive.create_run("sorting", None, {}, 0)
        rows = {}
        for it, stage in ((0, "full"), (1, "gate")):
            rows[stage] = archive.record(Program(run_id=run.id, iteration=it, code=f"# {it}",
                                                 proposer="seed" if it == 0 else "mutation",
                                                 status="ok", score=-0.5, stage=stage))
            archive.add_validation(Validation(run_id=run.id, program_id=rows[stage].id,
                                              status="ok", score=-0.1 if it else -0.4,
                                              stage="full", metrics={}), [])
        assert [p.id for p in archive.best_validated(run.id, 2)] == [rows["full"].id]
        assert not eligible(rows["gate"]) and eligible(rows["full"])
    finally:
        archive.close()
