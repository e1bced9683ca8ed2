"""moe_placement runtime: timed by the trusted side on fresh inputs, never read from candidate
outputs."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from evolve.config import problem_config
from evolve.problem import Candidate, make_problem
from evolve.problems.moe_placement.problem import seed_function
from evolve.program import load_candidate
from evolve.result import evaluate_in_process, run_sets

REPO = Path(__file__).resolve().parents[1]
CFG = problem_config("moe_placement")
# DeepSeek's placements, but at import it stops the clock: any timing read from inside its own
# process says every call took 0 s. Only a runtime measured outside its reach gives the seed's
# score.
HOSTILE = (REPO / "seeds/moe_placement/deepseek.py").read_text().replace(
    "# EVOLVE-BLOCK-START\n", "# EVOLVE-BLOCK-START\nimport time\n\n"
    "time.perf_counter = lambda: 0.0  # reward hack: every call 'takes' 0 s\n", 1)


@pytest.fixture(scope="module")
def problem():
    return make_problem(CFG)


@pytest.fixture(scope="module")
def seed():
    return Candidate(module=None, py=seed_function("deepseek"))


@pytest.fixture
def hostile(monkeypatch):
    """The clock-stopping candidate, loaded here; the real perf_counter comes back afterwards."""
    monkeypatch.setattr(time, "perf_counter", time.perf_counter)  # restored at teardown
    return load_candidate(HOSTILE, "rebalance_experts", False)


def test_run_returns_placements_only(problem, seed):
    (gate,) = problem.gate_sets()
    out = problem.run(seed, gate)
    assert sorted(out) == sorted(f"{n}_{k}" for n in ("phy2log", "log2phy", "logcnt")
                                 for k in range(len(gate.data.pairs)))


def test_a_runtime_s_output_has_no_effect(problem, seed):
    """Whatever runtime a candidate reports (a 0 s claim, garbage) changes no metric and no
    score."""
    (gate,) = problem.gate_sets()
    out = problem.run(seed, gate)
    honest = problem.score_set(gate, out)
    for claim in (np.zeros(5), np.array([1e9]), np.array([-1.0, np.nan])):
        claimed = problem.score_set(gate, {**out, "runtime_s": claim})
        assert claimed.metrics == honest.metrics and "runtime_ms_median" not in claimed.metrics
        assert problem.summarize("gate", [claimed]).score == problem.summarize("gate",
                                                                               [honest]).score


def test_timing_args_are_fresh_realistic_read_only_windows(problem):
    assert problem.deterministic is False
    assert problem.timed_calls == CFG["timing"]["repeats"] + 1
    pool = np.concatenate([s.data.loads for s in problem.instance_sets("train")])
    args = problem.timing_args(np.random.default_rng(1))
    assert len(args) == problem.timed_calls
    sh = problem.shapes
    for w, *rest in args:
        assert tuple(rest) == (sh.num_replicas, sh.num_groups, sh.num_nodes, sh.num_gpus)
        assert w.shape == pool.shape[1:] and w.dtype == np.float64
        assert not w.flags.writeable
        with pytest.raises(ValueError):
            w.setflags(write=True)
        assert np.all(w >= 0) and np.all(w == np.round(w))
        assert not any(np.array_equal(w, p) for p in pool)  # never a window a candidate has seen
        # ... but a training window's layers, shuffled, with Poisson noise on the counts
        k = int(np.argmin([np.abs(np.sort(w.sum(1)) - np.sort(p.sum(1))).sum() for p in pool]))
        rel = np.abs(np.sort(w.sum(1)) - np.sort(pool[k].sum(1))) / np.sort(pool[k].sum(1))
        assert rel.max() < 0.02
    again = problem.timing_args(np.random.default_rng(2))
    assert not np.array_equal(args[0][0], again[0][0])


def test_apply_timing_adds_the_runtime_term(problem, seed):
    (gate,) = problem.gate_sets()
    summary = problem.summarize("gate", run_sets(problem, seed, [gate]))
    w = problem.weights
    assert summary.score == w.balancedness * summary.metrics["balancedness_gpu"]
    timed = problem.apply_timing(summary, np.array([0.003, 0.001, 0.002]))
    assert timed.metrics["runtime_ms_median"] == pytest.approx(2.0)
    assert timed.behaviour == timed.metrics["runtime_score"] == w.runtime_score(2.0)
    assert timed.score == pytest.approx(summary.score + w.runtime * w.runtime_score(2.0))
    first = timed.feedback.splitlines()[0]
    assert first.startswith(summary.feedback.splitlines()[0]) and "runtime median 2.000 ms" in first
    assert timed.feedback.splitlines()[1:] == summary.feedback.splitlines()[1:]
    for bad in (np.array([]), np.array([0.001, -1.0]), np.array([np.nan])):
        with pytest.raises(ValueError):
            problem.apply_timing(summary, bad)


def test_clock_patching_candidate_gets_nothing_from_the_problem(problem, seed, hostile):
    """Same placements and the same trusted call times give the clock-stopper the seed's score."""
    sets = problem.gate_sets() + problem.instance_sets("train")[:1]
    honest = problem.summarize("train", run_sets(problem, seed, sets))
    patched = problem.summarize("train", run_sets(problem, hostile, sets))
    assert time.perf_counter() == 0.0  # the hack is live in this process
    assert patched.score == honest.score and patched.metrics == honest.metrics
    seconds = np.array([0.004, 0.005, 0.006])
    assert problem.apply_timing(patched, seconds).score == problem.apply_timing(honest,
                                                                                seconds).score


def test_clock_patching_candidate_scores_like_the_seed_in_process(problem, hostile):
    """evaluate_in_process (the trusted path) times calls with a clock the candidate cannot stop.

    The sandboxed path (worker-side CPU time of the child) is tested by the engine's hostile tests.
    """
    (gate,) = problem.gate_sets()
    honest = evaluate_in_process(problem, problem.seed_path("deepseek").read_text(), sets=[gate])
    patched = evaluate_in_process(problem, HOSTILE, sets=[gate])
    assert honest.ok and patched.ok, (honest.error, patched.error)
    assert patched.metrics["balancedness_gpu"] == honest.metrics["balancedness_gpu"]
    # a 58 x 256 placement takes well over 0.2 ms on any machine; 0 ms would mean the hack worked
    assert patched.metrics["runtime_ms_median"] > 0.2
    w = problem.weights
    assert patched.score < (w.balancedness * patched.metrics["balancedness_gpu"]
                            + w.runtime * w.runtime_score(0.2))


def _stale_answers(seed_code: str) -> str:
    """The seed, but after the gate and training calls it answers every call with its last
    placement: fast, valid in shape, and computed from nothing."""
    return seed_code.replace(
        "def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):",
        "_SEEN = []\n\n\ndef rebalance_experts(weight, num_replicas, num_groups, num_nodes, "
        "num_gpus):\n    if len(_SEEN) >= 11:\n        return _SEEN[-1]\n"
        "    _SEEN.append(_rebalance(weight, num_replicas, num_groups, num_nodes, num_gpus))\n"
        "    return _SEEN[-1]\n\n\ndef _rebalance(weight, num_replicas, num_groups, num_nodes, "
        "num_gpus):", 1)


def test_sandbox_times_calls_from_outside_and_checks_their_answers(problem, hostile):
    """Through the real sandbox: the clock-patcher's runtime is its real CPU time, and a program
    that answers timed calls with stale placements earns no runtime credit."""
    from evolve.evaluator import Evaluator
    from evolve.sandbox import Limits

    seed = problem.seed_path("deepseek").read_text()
    stale = _stale_answers(seed)
    assert stale != seed
    with Evaluator(problem.cfg, Limits(timeout_s=300, memory_mb=4096), workers=1) as ev:
        honest, patched, cached = (ev.evaluate_sync(c) for c in (seed, HOSTILE, stale))
    for r in (honest, patched, cached):
        assert r.ok, r.error
    assert patched.metrics["balancedness_gpu"] == honest.metrics["balancedness_gpu"]
    assert patched.metrics["runtime_ms_median"] > 0.2  # measured outside: not the patched 0 ms
    assert honest.metrics["runtime_score"] > 0
    assert honest.metrics["timed_call_balancedness_gpu"] > (
        honest.metrics["balancedness_gpu_in_sample"] - 0.05)
    assert cached.metrics["runtime_score"] == 0.0
    assert cached.score < honest.score
