"""The DeepSeek seed reproduces DeepSeek's eplb.py on the shipped SGLang statistics.

tests/data/moe_eplb_reference.npz holds what eplb.py (torch, CPU) returned on the 12 statistics
files, layers 3-60, 288 replicas, 32 GPUs: logcnt per (mode, file), the GPU balancedness of its
phy2log, and its output on the README example (see tests/data/moe_eplb_reference.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evolve.evaluators.moe import Shapes, balance, validate
from evolve.problems.moe_placement.problem import seed_function
from evolve.problems.moe_placement.workloads import real_statistics

REF = np.load(Path(__file__).parent / "data" / "moe_eplb_reference.npz")
MODES = {"hierarchical": Shapes(288, 8, 4, 32), "global": Shapes(288, 1, 1, 32)}


@pytest.fixture(scope="module")
def deepseek():
    return seed_function("deepseek")


def moe(name: str) -> np.ndarray:
    return real_statistics()[name][3:].astype(np.float64)


def plan(deepseek, name: str, sh: Shapes):
    return deepseek(moe(name), sh.num_replicas, sh.num_groups, sh.num_nodes, sh.num_gpus)


def test_readme_example_matches_exactly(deepseek):
    weight = np.array([[90, 132, 40, 61, 104, 165, 39, 4, 73, 56, 183, 86],
                       [20, 107, 104, 64, 19, 197, 187, 157, 172, 86, 16, 27]])
    phy2log, log2phy, logcnt = deepseek(weight, 16, 4, 2, 8)
    # The expected output printed in the EPLB README.
    assert phy2log.tolist() == [[5, 6, 5, 7, 8, 4, 3, 4, 10, 9, 10, 2, 0, 1, 11, 1],
                                [7, 10, 6, 8, 6, 11, 8, 9, 2, 4, 5, 1, 5, 0, 3, 1]]
    assert np.array_equal(log2phy, REF["example_log2phy"])
    assert np.array_equal(logcnt, REF["example_logcnt"])


@pytest.mark.parametrize("mode", list(MODES))
def test_logcnt_and_balancedness_identical_on_all_files(deepseek, mode):
    m = list(REF["modes"]).index(mode)
    sh = MODES[mode]
    for i, name in enumerate(REF["names"]):
        phy2log, _log2phy, logcnt = validate(*plan(deepseek, str(name), sh), moe(str(name)), sh)
        assert np.array_equal(logcnt, REF["logcnt"][m, i]), name
        got = balance(phy2log, logcnt, moe(str(name)), sh).gpu
        assert got == pytest.approx(REF["balancedness_gpu"][m, i], rel=1e-12, abs=0), name


@pytest.mark.parametrize("mode,name,expected", [
    ("hierarchical", "decode_in1000out1000", 0.7591),
    ("hierarchical", "prefill_in1024", 0.8573),
    ("hierarchical", "prefill_in4096", 0.7592),
    ("hierarchical", "prefill_in512", 0.8872),
    ("global", "decode_in1000out1000", 0.9930),
    ("global", "prefill_in4096", 0.9939),
])
def test_in_sample_balancedness_matches_the_issue(deepseek, mode, name, expected):
    phy2log, _, logcnt = plan(deepseek, name, MODES[mode])
    assert round(balance(phy2log, logcnt, moe(name), MODES[mode]).gpu, 4) == expected


@pytest.mark.parametrize("mode,plan_on,score_on,expected", [
    ("hierarchical", "prefill_in1024", "prefill_in4096", 0.6678),
    ("global", "prefill_in1024", "prefill_in4096", 0.8165),
    ("hierarchical", "decode_in1000out1000", "decode_in2000out100", 0.6813),
    ("global", "decode_in1000out1000", "decode_in2000out100", 0.7942),
])
def test_out_of_sample_balancedness_matches_the_issue(deepseek, mode, plan_on, score_on, expected):
    sh = MODES[mode]
    phy2log, _log2phy, logcnt = validate(*plan(deepseek, plan_on, sh), moe(score_on), sh)
    assert round(balance(phy2log, logcnt, moe(score_on), sh).gpu, 4) == expected


def test_ties_are_broken_by_lowest_index(deepseek):
    # Four equal experts, 8 slots, 4 GPUs: extra replicas go to experts 0, 1, 2, 3 in turn; the
    # 8 equal replicas (first copies, then second copies) are packed in index order onto the
    # lightest GPU with the lowest index, so GPU g ends up with both replicas of expert g.
    phy2log, log2phy, logcnt = deepseek(np.full((1, 4), 10.0), 8, 1, 1, 4)
    assert logcnt.tolist() == [[2, 2, 2, 2]]
    assert phy2log.tolist() == [[0, 0, 1, 1, 2, 2, 3, 3]]
    assert log2phy.tolist() == [[[0, 1], [2, 3], [4, 5], [6, 7]]]


def test_loads_are_compared_in_float32(deepseek):
    # 2**24 + 1 rounds to 2**24 in float32: the two experts tie and the lower index gets the
    # extra replica, as in the reference (float64 would pick expert 1).
    phy2log, log2phy, logcnt = deepseek(np.array([[2.0**24, 2.0**24 + 1]]), 3, 1, 1, 1)
    assert logcnt.tolist() == [[2, 1]] and phy2log.tolist() == [[1, 0, 0]]
    phy2log, log2phy, logcnt = deepseek(np.array([[2.0**24, 2.0**24 + 1, 5, 7]]), 6, 1, 1, 2)
    assert logcnt.tolist() == [[2, 2, 1, 1]] and phy2log.tolist() == [[0, 0, 3, 1, 1, 2]]
    # eplb.py's output, torch 2.13 CPU
    assert log2phy.tolist() == [[[0, 1], [3, 4], [5, -1], [2, -1]]]
