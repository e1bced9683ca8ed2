"""`no_gain`: a tuning step that found nothing better is stored as such, is not a failure (not
counted, not handed to "fix", not a prompt's failure) and is a zero reward for its operator."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from evolve.llm.selection import choose_mode
from evolve.llm.settings import parse_settings
from evolve.loop import _counts_as_failure
from evolve.program import FAILURE_KINDS, NO_GAIN, STATUSES, is_failure
from evolve.proposers.builtin.bandit import OperatorBandit
from evolve.selection import IslandSelector
from tests.builtin_toys import view
from tests.engine_util import SORTING, rows, run_evolve

ROOT = Path(__file__).resolve().parents[1]
PERFECT = """import numpy as np


def solve(x):
    n = x.shape[0]
    key = np.empty(n)
    for i in range(n):
        # EVOLVE-BLOCK-START
        key[i] = 1.0 * x[i] + 0.0 * (i / n)
        # EVOLVE-BLOCK-END
    return np.argsort(key)
"""


def test_no_gain_is_a_status_but_not_a_failure():
    assert NO_GAIN == "no_gain" and NO_GAIN in STATUSES and NO_GAIN not in FAILURE_KINDS
    assert not is_failure("no_gain") and not is_failure("ok") and not is_failure(None)
    assert all(is_failure(k) for k in FAILURE_KINDS)


def _row(status, proposer="tune", duplicate_of=None, pid=7, parent_id=None):
    v = view(pid, "", proposer=proposer, operator="cmaes", status=status,
             score=0.0 if status == "ok" else None)
    return replace(v, duplicate_of=duplicate_of, parent_id=parent_id)


def test_the_live_count_of_failures_skips_no_gain_duplicates_seeds_and_migrations():
    assert _counts_as_failure(_row("runtime_error"))
    assert _counts_as_failure(_row("diff_failed"))
    assert not _counts_as_failure(_row("no_gain"))
    assert not _counts_as_failure(_row("ok"))
    assert not _counts_as_failure(_row("runtime_error", duplicate_of=3))
    assert not _counts_as_failure(_row("runtime_error", proposer="migration"))


def test_selection_never_picks_a_no_gain_row_to_fix_nor_shows_it_as_a_failure():
    from evolve.config import compose, to_dict

    cfg = to_dict(compose([]).search)  # the schema's defaults (the YAML only picks presets)
    grid = {"features": ["code_length"], "bins": 8}
    sel = IslandSelector({**cfg, "islands": 1, "map_elites": grid}, fix_probability=1.0)
    parent = view(1, PERFECT, score=-1.0)
    history = [parent, _row("no_gain", pid=2, parent_id=1), _row("no_gain", pid=3, parent_id=1)]
    for seed in range(20):
        s = sel.select(5, history, np.random.default_rng(seed))
        assert s.parent.id == 1 and s.failures == []
    crashed = _row("runtime_error", pid=9, parent_id=1)
    s = sel.select(5, [*history, crashed], np.random.default_rng(0))
    assert s.parent.id == 9  # fix_probability 1: a real failure is handed on to be fixed


def test_llm_mode_choice_does_not_fix_a_no_gain_parent():
    s = parse_settings({"model": "m"})
    rng = np.random.default_rng(0)
    assert "fix" not in {choose_mode(s, _row("no_gain"), [], rng) for _ in range(200)}


def test_a_no_gain_step_is_a_trial_without_a_win_for_its_operator():
    bandit = OperatorBandit({"cmaes": 1.0, "const_perturb": 1.0}, window=50)
    history = [_row("no_gain") for _ in range(5)]
    st = bandit.stats(history)
    assert (st["cmaes"].trials, st["cmaes"].wins) == (5, 0)
    p = bandit.probabilities(history, ["cmaes", "const_perturb"])
    assert p[0] < p[1]


def test_a_run_stores_no_gain_rows_and_does_not_count_them_as_failed(tmp_path):
    """The real `evolve`: the seed already sorts perfectly, so every CMA-ES step finds nothing
    better; those rows are `no_gain` and the summary says 0 failed."""
    seed = tmp_path / "perfect.py"
    seed.write_text(PERFECT)
    ops = ",".join(f"{op}:0" for op in ("const_perturb", "op_swap", "cmp_swap", "expr_replace",
                                         "expr_wrap", "stmt_delete", "stmt_duplicate",
                                         "feature_add", "xo_function", "xo_statement",
                                         "xo_subtree", "grow_cmaes", "block_grow", "block_swap"))
    run_dir = tmp_path / "run"
    proc = run_evolve(*SORTING, f"problem.seed_program={seed}", "proposer=builtin",
                      f"proposer.builtin.operators={{{ops},cmaes:1}}",
                      "proposer.builtin.tune.max_evals=6", "search.iterations=3",
                      "search.islands=1", "search.concurrency=1", "evaluator.workers=1",
                      f"run_dir={run_dir}", "progress=false")
    got = rows(run_dir, "select status, proposer, operator, error from programs "
                        "where proposer != 'seed' order by iteration")
    assert [r[:3] for r in got] == [("no_gain", "tune", "cmaes")] * 3, got
    assert all("no improvement" in r[3] for r in got)
    assert ", 0 failed," in proc.stdout, proc.stdout
