"""Compiled numba functions of a trusted seed are reused by candidates that keep them unchanged
(evolve/compiled.py): unchanged source -> the seed's dispatcher; a changed function, a changed
callee or a changed constant -> compiled anew; nothing a candidate loads is ever recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolve import compiled
from evolve.config import problem_config
from evolve.evaluator import Evaluator
from evolve.program import load_candidate
from evolve.sandbox import Limits

REPO = Path(__file__).resolve().parents[1]

SEED = '''\
import numpy as np
from numba import njit

SCALE = 2.0


@njit
def leaf(x):
    return x * SCALE


@njit
def middle(x):
    return leaf(x) + 1.0


@njit
def other(x):
    return np.sqrt(abs(x))


def entry(x):
    return middle(x) + other(x)
'''


@pytest.fixture
def recorded():
    """The small seed, recorded and compiled as the worker does before it forks."""
    compiled.forget()
    with compiled.recording():
        seed = load_candidate(SEED, "entry", False)
    assert seed.py(4.0) == pytest.approx(9.0 + 2.0)
    ns = seed.module.__dict__
    yield {name: ns[name] for name in ("leaf", "middle", "other")}
    compiled.forget()


def reused(code: str, recorded: dict) -> set[str]:
    ns = load_candidate(code, "entry", False).module.__dict__
    return {name for name, disp in recorded.items() if ns[name] is disp}


def test_unchanged_functions_reuse_the_compiled_dispatcher(recorded):
    # comments, blank lines and a changed plain-Python entry do not count as changes
    code = SEED.replace("def entry(x):\n    return", "def entry(x):\n    # new\n    return 2 * ")
    assert reused(code, recorded) == {"leaf", "middle", "other"}
    assert all(d.signatures for d in recorded.values())  # compiled: nothing left to compile
    assert load_candidate(code, "entry", False).py(4.0) == pytest.approx(2 * 9.0 + 2.0)


def test_a_changed_function_recompiles(recorded):
    code = SEED.replace("return np.sqrt(abs(x))", "return np.sqrt(abs(x)) * 3.0")
    assert reused(code, recorded) == {"leaf", "middle"}
    assert load_candidate(code, "entry", False).py(4.0) == pytest.approx(9.0 + 6.0)


def test_a_changed_callee_counts_as_a_change(recorded):
    code = SEED.replace("return x * SCALE", "return x * SCALE * 10.0")
    assert reused(code, recorded) == {"other"}  # leaf changed, so middle (its caller) too
    assert load_candidate(code, "entry", False).py(4.0) == pytest.approx(81.0 + 2.0)


def test_a_changed_global_constant_counts_as_a_change(recorded):
    code = SEED.replace("SCALE = 2.0", "SCALE = 3.0")
    assert reused(code, recorded) == {"other"}
    assert load_candidate(code, "entry", False).py(4.0) == pytest.approx(13.0 + 2.0)


def test_changed_decorator_options_count_as_a_change(recorded):
    code = SEED.replace("@njit\ndef other", "@njit(fastmath=True)\ndef other")
    assert reused(code, recorded) == {"leaf", "middle"}


def test_unkeyable_globals_are_never_reused(recorded):
    # numba freezes a global array into the compiled code: its value is not in the source
    code = SEED.replace("SCALE = 2.0", "SCALE = np.array([2.0])").replace(
        "x * SCALE", "x * SCALE[0]")
    assert "leaf" not in reused(code, recorded) and "middle" not in reused(code, recorded)
    impostor = SEED.replace("import numpy as np", "import numpy as np\n\n\nclass np:  # noqa\n"
                            "    sqrt = staticmethod(lambda x: x)\n")
    assert "other" not in reused(impostor, recorded)


def test_a_second_trusted_copy_reuses_and_records_only_what_is_new(recorded):
    """The worker loads its seed twice (references, then the warm-up evaluation): the second
    copy compiles nothing that the first compiled, and its own new functions are offered."""
    code = SEED + "\n\n@njit\ndef extra(x):\n    return x + 1.0\n"
    before = compiled.recorded()
    with compiled.recording():
        ns = load_candidate(code, "entry", False).module.__dict__
    assert all(ns[name] is disp for name, disp in recorded.items())
    assert compiled.recorded() == before + 1
    assert "extra" in reused(code, recorded | {"extra": ns["extra"]})


def test_the_moe_seed_is_offered_by_the_problem_that_compiled_it():
    """seed_function (the references' planner) records the seed: the worker's warm-up
    evaluation of the same seed then compiles nothing."""
    from evolve.problems.moe_placement.problem import seed_function

    seed_function.cache_clear()
    compiled.forget()
    try:
        seed_ns = seed_function("deepseek").__globals__
        code = (REPO / "seeds/moe_placement/deepseek.py").read_text()
        with compiled.recording():
            ns = load_candidate(code, "rebalance_experts", False).module.__dict__
        shared = [name for name, v in seed_ns.items() if hasattr(v, "signatures")]
        assert len(shared) >= 4 and all(ns[name] is seed_ns[name] for name in shared)
    finally:
        seed_function.cache_clear()
        compiled.forget()


def test_candidates_never_record(recorded):
    before = compiled.recorded()
    load_candidate(SEED.replace("* SCALE", "* SCALE * 5.0"), "entry", False).py(1.0)
    assert compiled.recorded() == before
    variant = SEED.replace("* SCALE", "* SCALE * 7.0")
    load_candidate(variant, "entry", False).py(1.0)
    assert "leaf" not in reused(variant, recorded)


def test_worker_children_inherit_the_seed_compiled_functions():
    """Real worker: the seed is compiled before the fork; a candidate that changes only the
    Python entry finds every numba helper compiled when it runs (it fails otherwise)."""
    seed = (REPO / "seeds/moe_placement/deepseek.py").read_text()
    probe = ("    for f in [v for v in globals().values() if hasattr(v, 'signatures')]:\n"
             "        if not f.signatures:\n"
             "            raise RuntimeError('recompiled: ' + f.__name__)\n")
    code = seed.replace('    w = np.ascontiguousarray(weight, dtype=np.float32)\n',
                        probe + '    w = np.ascontiguousarray(weight, dtype=np.float32)\n', 1)
    assert code != seed
    changed = code.replace("best_val = w[0] / np.float32(cnt[0])",
                           "best_val = w[0] / np.float32(cnt[0]) * np.float32(1.0)")
    cfg = problem_config("moe_placement")
    with Evaluator(cfg, Limits(timeout_s=600, memory_mb=4096), workers=1) as ev:
        res = ev.evaluate_sync(code, split="gate")
        assert res.ok, res.error
        res = ev.evaluate_sync(changed, split="gate")  # _replicate changed: compiled anew
        assert res.status == "runtime_error" and "recompiled: _replicate" in res.error


ENTRY_SEED = '''\
import numpy as np

LIMIT = 3


def order(p):
    return np.argsort(p[:LIMIT])
'''


def test_the_engine_compiled_entry_of_the_seed_is_reused_unchanged():
    """A plain entry (the engine compiles it, as for SMTT): the trusted seed's compiled entry
    serves its copies; a changed body or constant compiles anew; a candidate never records."""
    import numpy as np

    compiled.forget()
    try:
        p = np.array([3.0, 1.0, 2.0, 0.5])
        with compiled.recording():
            seed = load_candidate(ENTRY_SEED, "order", True)
            assert list(seed.jit(p)) == [1, 2, 0]
        copy = load_candidate(ENTRY_SEED, "order", True)
        assert copy.jit.dispatcher is seed.jit.dispatcher
        assert list(copy.jit(p)) == [1, 2, 0]
        for changed in (ENTRY_SEED.replace("LIMIT = 3", "LIMIT = 4"),
                        ENTRY_SEED.replace("p[:LIMIT]", "-p[:LIMIT]")):
            cand = load_candidate(changed, "order", True)
            assert cand.jit.dispatcher is not seed.jit.dispatcher
            assert not cand.jit.dispatcher.signatures  # compiles on its first call
        n = compiled.recorded()
        load_candidate(ENTRY_SEED.replace("LIMIT = 3", "LIMIT = 2"), "order", True).jit(p)
        assert compiled.recorded() == n
    finally:
        compiled.forget()
