"""Built-in proposer: constant tuning (lift literals, CMA-ES in one sandbox call, write back)."""

from __future__ import annotations

import ast

import numpy as np

from evolve.problem import InstanceSet, Problem, SetScore, Summary
from evolve.program import split_blocks
from evolve.proposers.builtin.lifting import lift, substitute
from evolve.proposers.builtin.proposer import DEFAULTS, BuiltinProposer
from evolve.proposers.builtin.scope import analyze
from evolve.proposers.builtin.source import BlockSource
from evolve.proposers.builtin.tuning import Objective, tune_in_sandbox, tuning_sets
from evolve.result import evaluate_in_process
from tests.builtin_toys import FakeSandbox, ToySmtt, atc, context, info, propose, view

LINE = '''import numpy as np

# EVOLVE-BLOCK-START
def f(x):
    # a line through the data
    return 2.0 * x + 0.5
# EVOLVE-BLOCK-END
'''


class ToyLine(Problem):
    """Fit y = 3.7 x + 1.25: the score peaks exactly at those two constants."""

    name = "toy_line"
    entry = "f"
    signature = "def f(x: float) -> float"

    def instance_sets(self, split):
        return [InstanceSet("grid", np.linspace(-2.0, 3.0, 11), 11)]

    def run(self, candidate, iset):
        # some problems hand the numba dispatcher itself to a compiled simulator
        fn = candidate.jit.dispatcher if self.cfg.get("dispatcher") else candidate.fn
        if self.cfg.get("fallback"):  # ... or fall back to plain Python without it (spot)
            fn = getattr(candidate.jit, "dispatcher", None)
            if fn is None:
                candidate.fallback_reason = "no dispatcher"
                candidate.jit, fn = None, candidate.py
            self.runs.append("numba" if fn is not candidate.py else "python")
        return {"y": np.array([fn(float(x)) for x in iset.data])}

    def score_set(self, iset, outputs):
        err = float(np.mean((outputs["y"] - (3.7 * iset.data + 1.25)) ** 2))
        return SetScore(iset.name, iset.size, {"mse": err})

    def summarize(self, split, scores):
        return Summary(-scores[0].metrics["mse"], scores[0].metrics, "")


def tuner(problem: Problem, arm: str = "cmaes", **tune) -> BuiltinProposer:
    weights = {k: 0.0 for k in DEFAULTS["operators"]}
    weights[arm] = 1.0
    return BuiltinProposer({"builtin": {"operators": weights, "tune": tune}}, info(problem))


def constants(code: str) -> list[float]:
    tree = ast.parse(split_blocks(code).block)
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Constant)
             and isinstance(n.value, float)]
    return [n.value for n in sorted(nodes, key=lambda n: (n.lineno, n.col_offset))]


def test_tuning_recovers_known_constants_in_one_sandbox_call():
    problem = ToyLine({})
    sandbox = FakeSandbox(problem)
    parent = view(1, LINE, score=evaluate_in_process(problem, LINE).score)
    prop = propose(tuner(problem, max_evals=150), context(parent, 0, problem, sandbox=sandbox))
    assert sandbox.calls == 1
    assert (prop.proposer, prop.operator, prop.failure) == ("tune", "cmaes", None)
    a, b = constants(prop.code)
    assert abs(a - 3.7) < 0.02 and abs(b - 1.25) < 0.05, prop.diff
    assert "# a line through the data" in prop.code  # only the literals changed
    assert prop.diff.count("\n-    return") == 1


def test_literal_mode_when_the_problem_needs_the_dispatcher():
    problem = ToyLine({"dispatcher": True})
    src = BlockSource(LINE)
    lifted = lift(src, analyze(src.tree, src.module), "f", np.random.default_rng(0), 6)
    sets, split = tuning_sets(problem, "gate", None)
    obj = Objective(problem, {"entry": "f", "template": lifted.template,
                              "theta_code": lifted.theta_code}, sets, split)
    assert obj([3.7, 1.25]) == 0.0
    assert obj.mode == "literal"
    assert substitute(lifted.template, [3.7, -1.25]).count("3.7 * x + (-1.25)") == 1


def test_literal_mode_when_the_problem_runs_the_threaded_entry_as_python():
    # a problem that falls back to plain Python for a candidate without a dispatcher (the spot
    # simulators): the threaded entry ran uncompiled, so tuning recompiles per vector instead
    problem = ToyLine({"fallback": True})
    problem.runs = []
    src = BlockSource(LINE)
    lifted = lift(src, analyze(src.tree, src.module), "f", np.random.default_rng(0), 6)
    assert lifted.theta_code is not None
    sets, split = tuning_sets(problem, "gate", None)
    obj = Objective(problem, {"entry": "f", "template": lifted.template,
                              "theta_code": lifted.theta_code}, sets, split)
    assert obj([3.7, 1.25]) == 0.0 and obj([3.0, 1.0]) < 0.0
    assert obj.mode == "literal"
    assert problem.runs == ["python", "numba", "numba"]


def test_tuning_atc_k_reaches_the_grid_search_optimum():
    """ATC's look-ahead k: CMA-ES from a poor start ends at least as good as a fine grid."""
    problem = ToySmtt({"gate_count": 6})
    src = BlockSource(atc(1.0))
    lifted = lift(src, analyze(src.tree, src.module), "schedule", np.random.default_rng(0), 6)
    assert lifted.x0 == [1.0, -1.0] and lifted.theta_code is not None
    sets, split = tuning_sets(problem, "gate", None)
    obj = Objective(problem, {"entry": "schedule", "template": lifted.template,
                              "theta_code": lifted.theta_code}, sets, split)
    grid = np.round(np.geomspace(0.05, 20, 60), 4)
    scores = [obj([k, -1.0]) for k in grid]
    best_k, best = grid[int(np.argmax(scores))], max(scores)
    assert obj.mode == "theta"  # one compile served the whole grid
    start_k = 8.0
    start = obj([start_k, -1.0])
    assert best > start + 50  # the start is clearly worse: there is something to recover

    prop = propose(tuner(problem, max_evals=48, sets="gate"),
                   context(view(1, atc(start_k)), 0, problem, sandbox=FakeSandbox(problem)))
    assert prop.proposer == "tune" and prop.failure is None, prop.error
    k = constants(prop.code)[constants(atc(start_k)).index(start_k)]
    tuned = evaluate_in_process(problem, prop.code, sets=sets).score
    assert tuned >= best - 0.002 * abs(best), (k, best_k, tuned, best)
    assert "best_v = -1.0" in prop.code  # a literal that does not matter is put back


def test_without_a_sandbox_tuning_falls_back_to_a_plain_mutation():
    problem = ToyLine({})
    prop = propose(tuner(problem), context(view(1, LINE), 0, problem, sandbox=None))
    assert prop.failure is None and prop.proposer == "mutation" and prop.code


def test_tuning_is_skipped_for_failed_and_tuned_parents():
    problem = ToyLine({})
    sandbox = FakeSandbox(problem)
    for parent in (view(1, LINE, status="runtime_error", score=None),
                   view(1, LINE, proposer="tune", operator="cmaes")):
        prop = propose(tuner(problem), context(parent, 0, problem, sandbox=sandbox))
        assert prop.proposer == "mutation" and prop.code
    assert sandbox.calls == 0


def test_no_improvement_is_reported_as_no_gain():
    problem = ToyLine({})
    best = LINE.replace("2.0 * x + 0.5", "3.7 * x + 1.25")
    prop = propose(tuner(problem, max_evals=20), context(view(1, best), 0, problem,
                                                         sandbox=FakeSandbox(problem)))
    assert (prop.proposer, prop.operator, prop.failure, prop.code) == ("tune", "cmaes",
                                                                        "no_gain", None)
    assert "no improvement" in prop.error


def test_tuning_is_deterministic():
    problem = ToyLine({})
    parent = view(1, LINE, score=evaluate_in_process(problem, LINE).score)
    runs = [propose(tuner(problem, max_evals=30),
                    context(parent, 4, problem, sandbox=FakeSandbox(problem))).code
            for _ in range(2)]
    assert runs[0] == runs[1] and runs[0] is not None


def test_grow_then_tune_returns_only_children_that_beat_the_parent():
    """A new term with a random constant is tuned in the same sandbox call before it is judged."""
    problem = ToyLine({})
    code = LINE.replace("2.0 * x + 0.5", "2.0 * x")
    parent = view(1, code, score=evaluate_in_process(problem, code).score)
    wins = 0
    for seed in range(6):
        sandbox = FakeSandbox(problem)
        prop = propose(tuner(problem, "grow_cmaes", max_evals=60),
                       context(parent, seed, problem, sandbox=sandbox))
        assert sandbox.calls <= 1 and prop.proposer == "tune" and prop.operator == "grow_cmaes"
        if prop.code is None:  # nothing better, or the grown program fails
            assert prop.failure in ("no_gain", "diff_failed")
            continue
        wins += 1
        assert ast.dump(ast.parse(prop.code)) != ast.dump(ast.parse(code))
        assert evaluate_in_process(problem, prop.code).score > parent.score
    assert wins >= 2


class SlowClock:
    """Every read of any clock is 1000 s after the previous one (a very slow, loaded machine)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1000.0
        return self.now

    def ns(self) -> int:
        return int(self() * 1e9)


def test_tuning_budget_is_evaluations_not_seconds(monkeypatch):
    """A machine 1000 s slower per clock read tunes to the very same values with the same budget."""
    import time

    problem = ToyLine({})
    src = BlockSource(LINE)
    lifted = lift(src, analyze(src.tree, src.module), "f", np.random.default_rng(0), 6)
    payload = {"entry": "f", "template": lifted.template, "theta_code": lifted.theta_code,
               "x0": lifted.x0, "seed": 5, "max_evals": 40, "max_seconds": 0.001,
               "sigma0": 0.3, "sets": "train"}
    fast = tune_in_sandbox(problem, dict(payload))
    clock = SlowClock()
    for name in ("perf_counter", "monotonic", "time", "process_time", "thread_time"):
        monkeypatch.setattr(time, name, clock)
    for name in ("perf_counter_ns", "monotonic_ns", "time_ns", "process_time_ns"):
        monkeypatch.setattr(time, name, clock.ns)
    slow = tune_in_sandbox(problem, dict(payload))
    monkeypatch.undo()
    assert fast["ok"] and fast["evals"] >= 40  # the whole budget, then the put-back checks
    assert slow == fast


def test_tuning_scores_of_a_timed_problem_are_not_compared_with_archived_scores():
    """A runtime-scored parent's archived score has a runtime term the tuning sets never see."""
    problem = ToyLine({})
    problem.timed_calls = 3
    sandbox = FakeSandbox(problem)
    # an archived score no placement-only score can reach: tuning must still compare like with like
    parent = view(1, LINE, score=evaluate_in_process(ToyLine({}), LINE).score + 1e6)
    prop = propose(tuner(problem, max_evals=60), context(parent, 0, problem, sandbox=sandbox))
    assert sandbox.calls == 1
    assert (prop.proposer, prop.failure) == ("tune", None), prop.error
