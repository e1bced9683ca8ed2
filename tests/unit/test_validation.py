"""Selection by validation, in process: which programs are validated, what best.py is, resume."""

from __future__ import annotations

import asyncio
from pathlib import Path

from evolve.config import to_dict
from evolve.loop import Budget, Controller
from evolve.selection import IslandSelector
from evolve.validation import Validator
from tests.unit.inprocess import Engine

FAST = ("proposer.builtin.tune.max_evals=6", "search.islands=2", "search.migration_interval=4")
N = 12


def overfit_program(problem) -> str:
    """Sorts the training instances perfectly (it recognises them), reverses everything else."""
    firsts = tuple(float(x[0]) for s in problem.instance_sets("train") for x in s.data)
    return ("import numpy as np\n\nTRAIN = " + repr(firsts) + "\n\n\ndef solve(x):\n"
            "    for t in TRAIN:\n        if x[0] == t:\n            return np.argsort(x)\n"
            "    return np.argsort(-x)\n")


GENERALIST = ("import numpy as np\n\n\ndef solve(x):\n"
              "    return np.argsort(np.floor(x * 4.0))  # coarse: a few inversions anywhere\n")


def scripted(tmp_path: Path, problem) -> tuple[str, ...]:
    files = []
    for name, code in (("generalist.py", GENERALIST), ("overfit.py", overfit_program(problem))):
        (tmp_path / name).write_text(code)
        files.append(str(tmp_path / name))
    return ("proposer=scripted", f"proposer.programs=[{','.join(files)}]")


def controller(e: Engine, iterations: int, k: int, run_dir: Path | None = None) -> Controller:
    search = to_dict(e.cfg.search)
    ctl = Controller(archive=e.archive, run=e.run, evaluator=e.evaluator,
                     selector=IslandSelector(search), proposers=e.proposers, problem=e.info,
                     budget=Budget(iterations=iterations), seed=int(search["seed"]),
                     concurrency=int(search["concurrency"]), run_dir=run_dir, validate_top_k=k)
    ctl.load()
    return ctl


async def evolve(e: Engine, iterations: int, k: int, run_dir: Path | None = None) -> Controller:
    ctl = controller(e, iterations, k, run_dir)
    seed = e.evaluator.problem.seed_path(str(e.problem_cfg["seed_program"])).read_text()
    await ctl.ensure_seed(seed, int(e.cfg.search.islands))
    await ctl.run()
    return ctl


def test_the_best_on_train_that_is_worse_on_validation_is_not_best_py(tmp_path):
    probe = Engine(tmp_path / "probe", "search.islands=1")
    overrides = scripted(tmp_path, probe.evaluator.problem)
    probe.close()
    e = Engine(tmp_path / "run", "search.islands=1", *overrides)
    try:
        ctl = asyncio.run(evolve(e, 4, k=5, run_dir=e.folder))
        rows = {p.operator: p for p in e.archive.programs(e.run.id) if p.duplicate_of is None}
        overfit, general = rows["overfit.py"], rows["generalist.py"]
        assert overfit.score == 0.0 > general.score  # the training best
        val = e.archive.validations(e.run.id)
        assert val[overfit.id].score < val[general.id].score  # but worse on validation
        assert e.archive.best(e.run.id, 1)[0].id == overfit.id
        assert e.archive.best_validated(e.run.id, 1)[0].id == general.id
        assert (e.folder / "best.py").read_text() == general.code
        assert ctl.stats.best == 0.0 and ctl.stats.best_val == val[general.id].score
        # the validation sets are stored beside the train sets, and the run never saw `test`
        sets = e.archive.set_scores([general.id])[general.id]
        assert {r.split for r in sets} == {"train", "validation"}
    finally:
        e.close()


def test_exactly_the_programs_entering_the_training_top_k_are_validated(tmp_path):
    e = Engine(tmp_path / "run", *FAST)
    try:
        asyncio.run(evolve(e, N, k=3))
        rows = e.archive.programs(e.run.id)
        # the definition, recomputed from the rows: in iteration order, a program enters when
        # fewer than k earlier ones score at least as well
        expect, seen = set(), []
        for p in sorted(rows, key=lambda p: (p.iteration, p.id)):
            if p.status != "ok" or p.duplicate_of is not None or p.proposer == "migration":
                continue
            if sum(1 for s in seen if s >= p.score) < 3:
                expect.add(p.id)
            seen.append(p.score)
        assert set(e.archive.validations(e.run.id)) == expect
        splits = {s for s in _splits(e)}
        assert splits == {"train", "validation"}
    finally:
        e.close()


def test_validations_brought_along_by_training_evaluations_change_nothing(tmp_path, monkeypatch):
    """Programs that may enter the top-k get their validation from the training evaluation
    (Validator.speculation): the validations recorded are exactly those of separate
    evaluations, with fewer evaluations."""
    def validated(e: Engine) -> list[tuple]:
        by_id = {p.id: p for p in e.archive.programs(e.run.id)}
        sets = e.archive.set_scores(list(by_id))
        return sorted((by_id[pid].iteration, by_id[pid].island, v.status, v.score,
                       repr(sorted(v.metrics.items())),
                       repr(sorted((r.set_name, r.score) for r in sets.get(pid, [])
                                   if r.split == "validation")))
                      for pid, v in e.archive.validations(e.run.id).items())

    along = Engine(tmp_path / "along", *FAST)
    try:
        asyncio.run(evolve(along, N, k=3))
        with_along, calls_along = validated(along), len(along.evaluator.evaluated)
        assert along.evaluator.brought_along >= 3
    finally:
        along.close()
    monkeypatch.setattr(Validator, "speculation", lambda self: None)
    apart = Engine(tmp_path / "apart", *FAST)
    try:
        asyncio.run(evolve(apart, N, k=3))
        assert apart.evaluator.brought_along == 0
        assert validated(apart) == with_along and len(with_along) >= 3
        assert len(apart.evaluator.evaluated) > calls_along
    finally:
        apart.close()


def _splits(e: Engine) -> list[str]:
    rows = e.archive.set_scores([p.id for p in e.archive.programs(e.run.id)])
    return [r.split for v in rows.values() for r in v]


def test_resume_validates_the_same_programs(tmp_path):
    whole, split = Engine(tmp_path / "whole", *FAST), Engine(tmp_path / "split", *FAST)
    try:
        asyncio.run(evolve(whole, N, k=3))
        asyncio.run(evolve(split, N // 2, k=3))
        split.restart()  # as `evolve resume=...` in a new process
        asyncio.run(evolve(split, N, k=3))
        assert split.rows() == whole.rows()

        def validated(e: Engine) -> list[tuple]:
            by_id = {p.id: p for p in e.archive.programs(e.run.id)}
            return sorted((by_id[pid].iteration, by_id[pid].island, v.status, v.score)
                          for pid, v in e.archive.validations(e.run.id).items())

        assert validated(split) == validated(whole)
        assert len(validated(whole)) >= 3
    finally:
        whole.close()
        split.close()


def test_a_killed_session_leaves_entered_programs_to_the_resume(tmp_path):
    """Programs that entered the top-k but were not validated before a kill are validated by
    the resume, once each."""
    e = Engine(tmp_path / "run", *FAST)
    try:
        asyncio.run(evolve(e, N // 2, k=0))  # as a run whose validations never ran
        assert e.archive.validations(e.run.id) == {}
        e.restart()
        asyncio.run(evolve(e, N // 2, k=3))
        first = e.archive.validations(e.run.id)
        assert first
        e.restart()
        asyncio.run(evolve(e, N // 2, k=3))  # nothing new: nothing validated twice
        assert e.archive.validations(e.run.id).keys() == first.keys()
        with e.archive.Session() as s:
            from evolve.archive_models import Validation
            assert s.query(Validation).count() == len(first)
    finally:
        e.close()


def test_validation_off_validates_nothing(tmp_path):
    e = Engine(tmp_path / "run", *FAST)
    try:
        asyncio.run(evolve(e, 4, k=0))
        assert e.archive.validations(e.run.id) == {}
        assert "validation" not in _splits(e)
        assert not Validator(e.archive, e.run.id, e.evaluator, 0).enabled
    finally:
        e.close()
