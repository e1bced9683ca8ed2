"""moe_placement: validity rejections, bounds, workloads, replay files and the evaluation path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evolve.config import problem_config
from evolve.evaluators.moe import Shapes, balance, validate
from evolve.evaluators.moe_bounds import bounds
from evolve.problem import InvalidOutput, ProblemError, make_problem
from evolve.problems.moe_placement import MoePlacementProblem
from evolve.problems.moe_placement.problem import seed_function
from evolve.problems.moe_placement.snake import log2phy_of
from evolve.problems.moe_placement.workloads import SeriesSpec, generate, real_statistics
from evolve.result import evaluate_in_process

REPO = Path(__file__).resolve().parents[1]
CFG = problem_config("moe_placement")
HIER = Shapes(16, 4, 2, 8)


@pytest.fixture(scope="module")
def problem():
    return make_problem(CFG)


@pytest.fixture(scope="module")
def deepseek():
    return seed_function("deepseek")


def small_case(deepseek):
    load = np.random.default_rng(3).integers(1, 100, (3, 12)).astype(np.float64)
    return load, [a.copy() for a in deepseek(load, 16, 4, 2, 8)]


def recount(phy2log, E=12):
    logcnt = np.stack([np.bincount(row, minlength=E) for row in phy2log])
    return phy2log, log2phy_of(phy2log, logcnt), logcnt


def test_valid_placement_passes_and_each_flaw_is_named(deepseek):
    load, (p, l2p, c) = small_case(deepseek)
    validate(p, l2p, c, load, HIER)
    bad = p.copy()
    bad[1, 5] = -1
    with pytest.raises(InvalidOutput, match=r"layer 1: phy2log slot 5 holds expert -1"):
        validate(bad, l2p, c, load, HIER)
    bad = c.copy()
    bad[0, 2] += 1
    with pytest.raises(InvalidOutput, match=r"layer 0: logcnt\[2\]"):
        validate(p, l2p, bad, load, HIER)
    bad = l2p.copy()
    bad[2, 0, 0] = (bad[2, 0, 0] + 1) % 16
    with pytest.raises(InvalidOutput, match=r"layer 2: log2phy"):
        validate(p, bad, c, load, HIER)
    with pytest.raises(InvalidOutput, match="phy2log: shape"):
        validate(p[:, :8], l2p, c, load, HIER)
    with pytest.raises(InvalidOutput, match="dtype float64"):
        validate(p.astype(float), l2p, c, load, HIER)
    assert c.max() > 1
    with pytest.raises(InvalidOutput, match=r"replicas but log2phy has only 1 columns"):
        validate(p, l2p[:, :, :1], c, load, HIER)


def test_dropped_load_and_split_groups_are_rejected(deepseek):
    load, (p, _, _) = small_case(deepseek)
    # Give expert 0's slots to expert 1: expert 0 has load but no replica.
    dropped = np.where(p == 0, 1, p)
    with pytest.raises(InvalidOutput, match=r"expert 0 has load .* but no replica"):
        # global mode: only the drop is wrong
        validate(*recount(dropped), load, Shapes(16, 1, 1, 8))
    zero = load.copy()
    zero[:, 0] = 0
    validate(*recount(dropped), zero, Shapes(16, 1, 1, 8))  # no load, no replica needed
    # Swap a slot of node 0 with one of node 1 that holds a different group.
    node0, node1 = p[0, :8], p[0, 8:]
    a = int(np.flatnonzero(node0 // 3 != node1[0] // 3)[0])
    split = p.copy()
    split[0, a], split[0, 8] = p[0, 8], p[0, a]
    with pytest.raises(InvalidOutput,
                       match=r"layer 0: hierarchical mode .* group \d+ has replicas on two nodes"):
        validate(*recount(split), load, HIER)


def test_balancedness_of_a_handmade_placement():
    # 2 experts, 4 slots on 2 GPUs: expert 0 (load 6) has 3 replicas, expert 1 (load 2) one.
    phy2log = np.array([[0, 0, 0, 1]])
    logcnt = np.array([[3, 1]])
    b = balance(phy2log, logcnt, np.array([[6.0, 2.0]]), Shapes(4, 1, 1, 2))
    assert b.gpu_load.tolist() == [[4.0, 4.0]] and b.gpu == 1.0 and b.slot == 1.0
    b = balance(phy2log, logcnt, np.array([[6.0, 6.0]]), Shapes(4, 1, 1, 2))
    assert b.gpu_load.tolist() == [[4.0, 8.0]] and b.gpu == pytest.approx(0.75)


def test_bounds_hold_for_every_planner_and_are_tight_on_a_toy(deepseek, problem):
    sh = problem.shapes
    for name in ("prefill_in4096", "decode_in2000out100"):
        load = real_statistics()[name][3:].astype(np.float64)
        b = bounds(load, sh)
        assert b["bound_hierarchical"] <= b["bound_replication"] <= 1.0
        for fn in problem.baselines().values():
            phy2log, _, logcnt = fn(load, sh.num_replicas, sh.num_groups, sh.num_nodes, sh.num_gpus)
            assert balance(phy2log, logcnt, load, sh).gpu <= b["bound_hierarchical"] + 1e-12
    # One hot group of two experts (load 10 each) and three cold ones, 2 nodes of 4 slots: the hot
    # group's node must also hold the lightest other group (2): 22 on 2 GPUs, of 32 on 4 GPUs.
    toy = np.array([[10.0, 10.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0]])
    sh = Shapes(8, 4, 2, 4)
    assert bounds(toy, sh)["bound_hierarchical"] == pytest.approx((32 / 4) / (22 / 2))
    phy2log, _, logcnt = deepseek(toy, 8, 4, 2, 4)
    assert balance(phy2log, logcnt, toy, sh).gpu == pytest.approx((32 / 4) / (22 / 2))  # reaches it


def test_generator_is_seeded_and_skewed():
    spec = SeriesSpec(layers=6, windows=3)
    a, b = generate(5, spec), generate(5, spec)
    assert a.shape == (3, 6, 256) and np.array_equal(a, b)
    assert not np.array_equal(a, generate(6, spec))
    ratio = a.max(axis=2) / a.mean(axis=2)
    assert ratio.min() > 4.5 and ratio.max() < 15  # tempered into [5, 14], plus Poisson noise


def test_config_errors_name_the_field():
    with pytest.raises(ProblemError, match=r"problem.shapes .*num_replicas=100 < 256"):
        MoePlacementProblem({**CFG, "shapes": {**CFG["shapes"], "num_replicas": 100}})
    with pytest.raises(ProblemError, match=r"unknown config key 'problem.generator.tokens'"):
        MoePlacementProblem({**CFG, "generator": {"tokens": 5}})
    with pytest.raises(ProblemError, match="unknown statistics 'prefill_in9999'"):
        MoePlacementProblem({**CFG,
                             "splits": {"test": {"pairs": [["prefill_in9999", "prefill_in512"]]}}}
                            ).instance_sets("test")


def write_windows(folder: Path, windows: list[np.ndarray]) -> None:
    folder.mkdir()
    for i, w in enumerate(windows):
        (folder / f"window_{i:02d}.json").write_text(json.dumps({"logical_count": w.tolist()}))


def test_replay_window_files(tmp_path, problem):
    rng = np.random.default_rng(0)
    windows = []
    for _ in range(3):
        w = rng.integers(0, 500, (5, 256)).astype(float)
        w[:2] = 0  # dense layers
        windows.append(w)
    write_windows(tmp_path / "win", windows)
    (sset,) = problem.load_instances([str(tmp_path / "win")])
    assert sset.size == 2 and sset.data.layer_ids.tolist() == [2, 3, 4]
    res = evaluate_in_process(problem, problem.baselines()["snake"], sets=[sset])
    assert res.ok, res.error
    for key in ("balancedness_gpu", "balancedness_gpu_in_sample", "runtime_ms_median", "oracle_gpu",
                "bound_replication", "bound_hierarchical", "balancedness_node",
                "balancedness_slot"):
        assert 0 < res.metrics[key], key
    assert res.metrics["balancedness_gpu"] <= res.metrics["bound_hierarchical"]


def test_replay_file_errors_name_file_and_field(tmp_path, problem):
    write_windows(tmp_path / "a", [np.ones((3, 256)), np.ones((4, 256))])
    with pytest.raises(ProblemError, match=r"window_01.json: logical_count has shape \(4, 256\)"):
        problem.load_instances([str(tmp_path / "a")])
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "w0.json").write_text(json.dumps({"counts": []}))
    (tmp_path / "b" / "w1.json").write_text("{")
    with pytest.raises(ProblemError, match=r"w0.json: field 'logical_count' missing"):
        problem.load_instances([str(tmp_path / "b")])
    bad = np.ones((3, 256))
    bad[1, 7] = -2
    write_windows(tmp_path / "c", [np.ones((3, 256)), bad])
    with pytest.raises(ProblemError, match=r"logical_count\[1\]\[7\] = -2.0"):
        problem.load_instances([str(tmp_path / "c")])
    write_windows(tmp_path / "d", [np.ones((3, 250)), np.ones((3, 250))])
    with pytest.raises(ProblemError,
                       match=r"do not fit 250 experts.*do not split into num_groups=8"):
        problem.load_instances([str(tmp_path / "d")])


def test_seed_program_on_the_test_split(problem):
    code = problem.seed_path(CFG["seed_program"]).read_text()
    res = evaluate_in_process(problem, code, "test")
    assert res.ok, res.error
    by_set = {s["name"]: s["metrics"] for s in res.sets}
    m = by_set["prefill_in1024->prefill_in4096"]
    assert round(m["balancedness_gpu"], 4) == 0.6678 and round(m["balancedness_gpu_in_sample"],
                                                               4) == 0.8573
    assert round(m["oracle_gpu"], 4) == 0.7592  # DeepSeek planned on prefill_in4096 itself
    assert round(by_set["decode_in1000out1000->decode_in2000out100"]["balancedness_gpu"],
                 4) == 0.6813
    w = problem.weights
    runtime = w.runtime_score(res.metrics["runtime_ms_median"])
    assert res.score == pytest.approx(w.balancedness * res.metrics["balancedness_gpu"]
                                      + w.runtime * runtime)
    assert "worst layers" in res.feedback and res.metrics["runtime_ms_median"] > 0


def test_oracle_is_the_next_pairs_in_sample_figure(problem, deepseek):
    (iset, *_) = problem.instance_sets("validation")
    res = evaluate_in_process(problem, deepseek, sets=[iset])
    assert res.ok, res.error
    refs = problem._references(iset)
    series = iset.data
    sh = problem.shapes
    for k, (_i, j) in enumerate(series.pairs[:-1]):
        p, _, c = deepseek(series.loads[j], sh.num_replicas, sh.num_groups, sh.num_nodes,
                           sh.num_gpus)
        assert refs[k]["oracle_gpu"] == balance(p, c, series.loads[j], sh).gpu


def test_bad_candidates_fail_with_the_right_kind(problem):
    (gate,) = problem.gate_sets()
    wrong = "import numpy as np\ndef rebalance_experts(w, r, g, n, G):\n    return np.zeros(3)\n"
    res = evaluate_in_process(problem, wrong, sets=[gate])
    assert res.status == "invalid_output" and "must return (phy2log, log2phy, logcnt)" in res.error
    mutate = "def rebalance_experts(w, r, g, n, G):\n    w[0, 0] = 1.0\n"
    assert evaluate_in_process(problem, mutate, sets=[gate]).status == "input_mutation"
    no_padding = ("import numpy as np\ndef rebalance_experts(w, r, g, n, G):\n"
               "    L = w.shape[0]\n    p = np.zeros((L, r), np.int64)\n"
               "    c = np.zeros(w.shape, np.int64); c[:, 0] = r\n"
               "    return p, np.arange(r)[None, None, :].repeat(L, 0).repeat(w.shape[1], 1), c\n")
    res = evaluate_in_process(problem, no_padding, sets=[gate])
    assert res.status == "invalid_output" and "log2phy" in res.error
