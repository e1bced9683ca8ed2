"""The web Run page reads a run's program rows once and derives the best program and the
`evolve-archive stats` tallies from them: the best must equal the database's (`Archive.best`),
the tallies what `evolve-archive stats` reads by itself."""

from __future__ import annotations

import random

from evolve.archive import Archive, LLMCall, Program, sqlite_url
from evolve.cli.archive_stats import program_groups, stats
from evolve.cli.runref import RunHandle
from evolve.web.rundata import best_row, rows


def _archive(tmp_path, seed: int) -> RunHandle:
    rng = random.Random(seed)
    a = Archive(sqlite_url(tmp_path / f"a{seed}.sqlite"))
    run = a.create_run("smtt", str(tmp_path), {"search": {"iterations": 60}}, seed=0)
    with a.Session.begin() as s:
        for i in range(60):
            status = rng.choice(["ok"] * 5 + ["timeout", "runtime_error", "no_gain",
                                             "diff_failed"])
            proposer = "seed" if i == 0 else rng.choice(["mutation", "tune", "llm_diff",
                                                         "migration"])
            score = rng.choice([None, float(rng.randint(-5, 0)), -0.5]) if status == "ok" \
                else None
            p = Program(run_id=run.id, iteration=i, code=f"x = {i}\n", proposer=proposer,
                        operator=rng.choice([None, "scale", "swap"]),
                        model=rng.choice([None, "m1", "m2"]), status=status, score=score,
                        error="constant tuning found no improvement" if status == "diff_failed"
                        and rng.random() < 0.5 else "boom",
                        stage=rng.choice([None, "gate", "full"]),
                        duplicate_of=1 if i > 3 and rng.random() < 0.1 else None,
                        improved=rng.random() < 0.3,
                        compile_fallback=rng.choice([None, "", "python"]),
                        eval_seconds=rng.choice([None, rng.random()]))
            s.add(p)
            s.flush()
            if rng.random() < 0.7:
                s.add(LLMCall(run_id=run.id, program_id=p.id if rng.random() < 0.8 else None,
                              iteration=i, model=rng.choice(["m1", "m2"]), prompt=[],
                              reply="", prompt_tokens=rng.randint(0, 9),
                              completion_tokens=rng.randint(0, 9), cost_usd=rng.random()))
    return RunHandle(folder=tmp_path, archive=a, run=run)


def _rounded(x):
    """Sums of floats in another order differ in the last bits."""
    if isinstance(x, float):
        return round(x, 9)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    return x


def test_best_and_tallies_from_rows_equal_the_database_queries(tmp_path):
    for seed in range(8):
        h = _archive(tmp_path, seed)
        progs = rows(h)
        best = h.archive.best(h.run.id, 1)
        found = best_row(progs)
        assert (found.id if found else None) == (best[0].id if best else None)
        assert _rounded(stats(h, program_groups(progs))) == _rounded(stats(h))
        h.archive.close()
