"""Reference solvers, the tardiness kernels, the generator and the shipped generated splits."""

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from evolve.evaluators.smtt import total_tardiness, total_tardiness_py
from evolve.problem import ProblemError, make_problem
from evolve.problems.smtt import generator, reference, rules
from evolve.problems.smtt.exact import UNSOLVED, lawler_value, subset_dp_value
from evolve.problems.smtt.loaders import load_jsonl
from evolve.problems.smtt.localsearch import ils, objective
from evolve.problems.smtt.splits import (
    DATA,
    DEFAULT_PARAMS,
    DEFAULT_PARAMS_WEIGHTED,
    counts,
    split_params,
)
from evolve.result import evaluate_in_process


def brute(p, d, w):
    best = np.inf
    for perm in itertools.permutations(range(p.size)):
        best = min(best, objective(np.array(perm), p, d, w))
    return best


def random_instance(rng, n, weighted=False):
    """Small instances with many ties (tiny p ranges) and due dates of every kind, some negative."""
    p = rng.integers(1, int(rng.choice([2, 3, 10, 100])) + 1, n).astype(float)
    total = int(p.sum())
    lo, hi = [(-3, total + 2), (total // 3, total), (0, max(2, total // 3))][rng.integers(3)]
    d = rng.integers(lo, hi + 1, n).astype(float)
    w = rng.integers(1, 10, n).astype(float) if weighted else np.ones(n)
    return p, d, w


def test_exact_solvers_match_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(150):
        p, d, w = random_instance(rng, int(rng.integers(1, 7)))
        assert lawler_value(p, d, 10**6) == brute(p, d, w) == subset_dp_value(p, d, w)
        p, d, w = random_instance(rng, int(rng.integers(1, 7)), weighted=True)
        assert subset_dp_value(p, d, w) == brute(p, d, w)


def test_lawler_matches_subset_dp_on_larger_instances():
    rng = np.random.default_rng(1)
    for _ in range(300):
        p, d, _ = random_instance(rng, int(rng.integers(7, 13)))
        assert lawler_value(p, d, 10**7) == subset_dp_value(p, d, np.ones(p.size))


def test_lawler_reproduces_published_optima():
    problem = make_problem({"name": "smtt", "target": "evolve.problems.smtt:SmttProblem"})
    sets = {s.name: s.data for s in problem.instance_sets("test")}
    for name, step in (("smtt_n20_uniform_800", 8), ("smtt_n100_200", 10)):
        inst = sets[name]
        for i in range(0, inst.m, step):
            p, d, _ = inst.arrays(i)
            assert lawler_value(p, d, 10**7) == inst.ref[i], (name, i)


def test_lawler_budget_gives_up():
    p, d, _ = random_instance(np.random.default_rng(2), 12)
    d[:] = p.sum() * 0.5
    d += np.arange(12)
    assert lawler_value(p, d, 1) == UNSOLVED


def test_ils_never_beats_and_usually_finds_the_optimum():
    rng = np.random.default_rng(4)
    hits = 0
    for k in range(20):
        p, d, w = random_instance(rng, 10, weighted=True)
        opt = subset_dp_value(p, d, w)
        v, order = ils(p, d, w, rules.mdd(p, d, w), 200, k, 10)
        assert sorted(order) == list(range(10)) and objective(order, p, d, w) == pytest.approx(v)
        assert v >= opt - 1e-9
        hits += v <= opt + 1e-9
    assert hits >= 18


def test_reference_solve_uses_ils_beyond_the_exact_range():
    inst = generator.generate([30], 1, 5, weighted=True, rdd_grid=[0.6], tf_grid=[0.6])
    solved = reference.solve(inst, {"ils_iterations_per_job": 5})
    assert not solved.ref_exact[0] and np.isfinite(solved.ref[0])
    p, d, w = inst.arrays(0)
    assert solved.ref[0] <= objective(rules.atc(p, d, w), p, d, w)


def test_numba_and_python_tardiness_agree():
    rng = np.random.default_rng(5)
    inst = generator.generate([5, 17], 1, 3, weighted=True, rdd_grid=[0.4], tf_grid=[0.6, 0.2])
    orders = np.concatenate([rng.permutation(int(n)) for n in inst.sizes])
    fast = total_tardiness(inst.p, inst.d, inst.w, inst.offsets, orders)
    assert np.array_equal(fast, total_tardiness_py(inst.p, inst.d, inst.w, inst.offsets, orders))
    for i in range(inst.m):
        sl = inst.job_slice(i)
        assert fast[i] == pytest.approx(objective(orders[sl], *inst.arrays(i)))


def test_generator_scheme():
    inst = generator.generate([40], 2, 9, weighted=True)
    assert inst.m == 40 and len(set(zip(inst.rdd, inst.tf))) == 20
    assert inst.p.min() >= 1 and inst.p.max() <= 100 and inst.d.min() >= 0
    assert inst.w.min() >= 1 and inst.w.max() <= 10
    for i in range(inst.m):
        p, d, _ = inst.arrays(i)
        P, r, t = p.sum(), inst.rdd[i], inst.tf[i]
        assert d.max() <= np.floor(P * (1 - t + r / 2))
        assert d.min() >= max(0, np.floor(P * (1 - t - r / 2)))


def test_shipped_splits_are_reproducible():
    """The shipped generated files are exactly what the generator makes from the manifest."""
    manifest = json.loads((Path(DATA) / "manifest.json").read_text())["generated"]
    assert len(manifest) == 10  # today's four defaults, then the former unweighted ones
    for entry in manifest:
        prm = entry["params"]
        inst = generator.generate(prm["sizes"], counts(prm), prm["seed"], prm["weighted"],
                                  prm["rdd"], prm["tf"],
                                  published_sizes=prm.get("published_sizes", ()))
        assert inst.fingerprint() == entry["fingerprint"], entry["file"]
        shipped = load_jsonl(Path(DATA) / entry["file"], prm["weighted"])
        assert shipped.fingerprint() == entry["fingerprint"] and shipped.m == entry["instances"]
        if not prm["weighted"]:  # Lawler proves all but a few n = 500 (memo budget: ILS)
            assert entry["exact_refs"] >= 0.98 * inst.m
            assert set(shipped.sizes[~shipped.ref_exact].tolist()) <= {500}, entry["file"]
    assert split_params("train", DEFAULT_PARAMS["train"], False, generator.RDD_GRID,
                        generator.TF_GRID) == manifest[0]["params"]
    assert split_params("validation", DEFAULT_PARAMS["validation"], False, generator.RDD_GRID,
                        generator.TF_GRID) == manifest[1]["params"]
    assert split_params("train", DEFAULT_PARAMS_WEIGHTED["train"], True, generator.RDD_GRID,
                        generator.TF_GRID) == manifest[2]["params"]
    assert manifest[0]["params"]["sizes"] == [20, 50, 100, 200, 500]  # up to the largest test n


def test_default_splits_draw_n20_like_the_published_set_and_keep_the_larger_instances():
    """n = 20 comes from the published n = 20 generator (negative due dates in high-TF classes,
    as in the test set); every larger instance is the one of the former (2026-12-02) file."""
    for split in ("train", "validation"):
        new = load_jsonl(Path(DATA) / f"{split}.jsonl.gz", False)
        old = load_jsonl(Path(DATA) / f"{split}_2026-12-02.jsonl.gz", False)
        small = [i for i in range(new.m) if new.sizes[i] == 20]
        assert any((new.arrays(i)[1] < 0).any() for i in small)
        assert not any((old.arrays(i)[1] < 0).any() for i in range(old.m))
        assert all(bool(np.array_equal(new.arrays(i)[1], old.arrays(i)[1])) == (new.sizes[i] > 20)
                   for i in range(new.m))
        big = np.flatnonzero(new.sizes > 20)
        assert np.array_equal(new.ref[big], old.ref[big])
    assert "published_sizes" not in split_params(
        "train", {**DEFAULT_PARAMS["train"], "sizes": [50, 100], "per_class_by_size": []}, False,
        (0.2,), (0.2,))  # no n = 20 in the split
    assert "published_sizes" not in split_params("train", DEFAULT_PARAMS["train"], True,
                                                 (0.2,), (0.2,))  # weighted: OR-Library tests


def test_a_rebuild_takes_over_the_references_of_known_instances():
    params = split_params("train", {"sizes": [6, 8], "per_class": 2, "seed": 3}, False,
                          (0.2,), (0.4, 0.8))
    from evolve.problems.smtt.splits import build
    first = build(params, {})
    marked = first.with_refs(np.where(first.sizes == 6, 99999.0, first.ref), first.ref_exact)
    again = build(params, {}, known=marked)
    assert np.all(again.ref[again.sizes == 6] == 99999.0)  # taken over, not solved
    assert np.array_equal(again.ref[again.sizes == 8], first.ref[first.sizes == 8])


def test_per_class_by_size_needs_one_count_per_size():
    with pytest.raises(ProblemError, match=r"problem.train.per_class_by_size=\[3, 1\]: needs one "
                                           r"count per size \(3 sizes"):
        split_params("train", {"sizes": [20, 50, 100], "per_class": 1, "seed": 0,
                               "per_class_by_size": [3, 1]}, False, (0.2,), (0.2,))


def test_no_baseline_beats_a_train_reference():
    problem = make_problem({"name": "smtt", "target": "evolve.problems.smtt:SmttProblem"})
    for name in ("mdd_ls", "atc"):
        res = evaluate_in_process(problem, problem.baselines()[name], "train")
        assert res.ok and res.metrics["below_ref"] == 0
        assert 0 < res.metrics["mean_gap_pct"] < 2.0


def _generated_ref0(params: dict, cache: str, out) -> None:
    from evolve.problems.smtt.splits import generated
    out.put(float(generated(params, {}, Path(cache)).ref[0]))


def _blocked_flocks() -> int:
    lines = Path("/proc/locks").read_text().splitlines()
    return sum(" FLOCK " in line and "->" in line for line in lines)


def test_a_split_is_built_once_while_workers_wait(tmp_path):
    """Workers warming up together: the first builds a split; the others wait, then read it."""
    import fcntl
    import multiprocessing

    from evolve.problems.smtt.splits import _key, build, write_jsonl_gz
    params = split_params("train", {"sizes": [6], "per_class": 1, "seed": 3}, False, (0.2,), (0.4,))
    path = tmp_path / f"train-{_key(params)}.jsonl.gz"
    before = _blocked_flocks()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    with open(path.with_name(path.name + ".lock"), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # this test is the worker that builds
        child = ctx.Process(target=_generated_ref0, args=(params, str(tmp_path), out))
        child.start()
        for _ in range(6000):  # until the child waits on the lock (hang guard: ~60 s)
            if _blocked_flocks() > before or not child.is_alive():
                break
            multiprocessing.connection.wait([child.sentinel], timeout=0.01)
        assert child.is_alive() and _blocked_flocks() > before
        inst = build(params, {})
        write_jsonl_gz(inst.with_refs(inst.ref * 0 + 12345.0, inst.ref_exact), path)  # marked
    assert out.get(timeout=120) == 12345.0  # read what the builder wrote, did not build its own
    child.join(60)
