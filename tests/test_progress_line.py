"""The live line of `evolve`: phases, a rate and ETA from recent iterations, time left with
search.max_seconds, and "failed" counting failures only. Rendered from made-up clock values:
nothing here waits on the wall clock."""

from __future__ import annotations

import logging
from collections import deque

import pytest

from evolve.loop import RECENT, Stats
from evolve.progress import ProgressLine, describe, eta_text, fmt_duration, recent_rate
from tests.engine_util import SORTING, rows, run_evolve, write_variants


def stats(times, done=None, **kw) -> Stats:
    s = Stats(started=0.0, **kw)
    s.recent.extend(times)
    s.done = len(times) - 1 if done is None else done
    return s


def test_rate_is_measured_over_the_recent_iterations_up_to_now():
    assert recent_rate([], 5.0) is None and recent_rate([0.0], 5.0) is None  # nothing done yet
    assert recent_rate([0.0, 2.0, 4.0], 4.0) == pytest.approx(0.5)
    # a stall: no iteration for 16 s lowers the rate instead of freezing it
    assert recent_rate([0.0, 2.0, 4.0], 20.0) == pytest.approx(0.1)
    # only the window counts: a slow start is forgotten once RECENT faster iterations are in
    s = Stats(started=0.0)
    s.recent.extend([0.0, 100.0] + [100.0 + k for k in range(1, RECENT + 1)])
    assert recent_rate(s.recent, 100.0 + RECENT) == pytest.approx(1.0)


def test_eta_from_the_recent_rate_when_the_budget_is_iterations():
    s = stats([0.0, 10.0, 20.0, 30.0])  # 3 done at 10 s each
    assert eta_text(s, 100, 30.0) == "ETA 16m10s"  # 97 left x 10 s
    assert eta_text(s, 3, 30.0) == "ETA 0s"
    assert eta_text(stats([0.0]), 100, 30.0) == "ETA ?"


def test_time_left_when_max_seconds_ends_first():
    s = stats([0.0, 10.0, 20.0, 30.0], deadline=90.0)
    assert eta_text(s, 100, 30.0) == "1m00s left (max_seconds)"
    assert eta_text(s, 5, 30.0) == "ETA 20s"  # the iterations end before the deadline
    assert eta_text(stats([0.0], deadline=90.0), 100, 100.0) == "0s left (max_seconds)"


def test_the_line_says_best_rate_eta_failures_and_cost():
    s = stats([0.0, 30.0, 60.0], best=-1.5, failures=1, evaluations=2, cost=0.25)
    line = describe(s, 60.0, 10)
    assert line == "best -1.5 | ETA 4m00s | 1 failed | 2.0 it/min | 2.0 evals/min | $0.2500"
    assert "ETA" not in describe(s, 60.0)  # the summary line: no budget, no ETA


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0s"), (59, "59s"), (61, "1m01s"),
                                               (3725, "1h02m")])
def test_durations(seconds, text):
    assert fmt_duration(seconds) == text


def test_without_a_terminal_phases_and_progress_are_log_lines():
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())  # type: ignore[method-assign]
    log = logging.getLogger("evolve")
    log.addHandler(handler)
    old = log.level
    log.setLevel(logging.INFO)
    try:
        with ProgressLine(enabled=True, total=40) as line:  # pytest's stderr is no terminal
            assert not line.live
            line.phase("warming 2 workers (compiling the simulator)")
            line.phase("evaluating the seed")
            for k in range(1, 5):
                line.update(stats([0.0] + [float(i) for i in range(1, k + 1)]), 40)
    finally:
        log.removeHandler(handler)
        log.setLevel(old)
    assert records[:2] == ["warming 2 workers (compiling the simulator)", "evaluating the seed"]
    # every ~5% of 40 iterations: 2, 4
    assert [r.split(" |")[0] for r in records[2:]] == ["iteration 1/40", "iteration 2/40",
                                                      "iteration 4/40"]


def test_a_run_logs_its_phases_and_counts_only_failures(tmp_path):
    """The real `evolve` without a terminal: run.log has one INFO line per phase, and a broken
    program proposed twice (the second answered from the archive) is one failure."""
    good = write_variants(tmp_path / "v", 2)
    broken = tmp_path / "broken.py"
    broken.write_text("import numpy as np\n\n\ndef solve(x):\n    return np.argsort(x) +\n")
    progs = ",".join(map(str, [good[0], broken, good[1]]))
    run_dir = tmp_path / "run"
    proc = run_evolve(*SORTING, "proposer=scripted", f"proposer.programs=[{progs}]",
                      "search.iterations=6", "search.concurrency=1", "evaluator.workers=1",
                      f"run_dir={run_dir}", "progress=false")
    log = (run_dir / "run.log").read_text()
    phases = ["warming 1 worker (compiling the simulator)", "evaluating the seed",
              "iterating (6 of 6 to go)"]
    at = [log.find(f"INFO {p}\n") for p in phases]
    assert -1 not in at and at == sorted(at), log
    assert "| ETA " in log
    statuses = rows(run_dir, "select status, duplicate_of is not null from programs "
                             "where proposer = 'scripted'")
    assert sorted(statuses).count(("syntax_error", 0)) == 1
    assert sorted(statuses).count(("syntax_error", 1)) == 1
    assert "6 iterations, 3 evaluations, 1 failed" in proc.stdout, proc.stdout


def test_stats_window_is_bounded():
    s = Stats()
    assert isinstance(s.recent, deque) and s.recent.maxlen == RECENT + 1
