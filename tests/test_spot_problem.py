"""The spot problems' contract: seeds, sandbox outputs and trusted replay, fallback, user data."""

import json
from pathlib import Path

import numpy as np
import pytest

from evolve.config import problem_config
from evolve.evaluators import spot
from evolve.problem import Candidate, InvalidOutput, ProblemError, make_problem
from evolve.problems.spot import SpotMultiProblem, SpotSingleProblem, data
from evolve.problems.spot import baselines as B
from evolve.program import load_candidate, split_blocks
from evolve.result import evaluate_in_process


@pytest.fixture(scope="module")
def single():
    return SpotSingleProblem({"report_optimum": False})


@pytest.fixture(scope="module")
def multi():
    return SpotMultiProblem({})


def _load_cfg(name):
    return problem_config(name)


@pytest.mark.parametrize("name", ["spot_single", "spot_multi"])
def test_config_and_seed_evaluate(name):
    p = make_problem(_load_cfg(name))
    code = p.seed_path(_load_cfg(name)["seed_program"]).read_text()
    assert "decide" in split_blocks(code).block
    for sets in (p.gate_sets(), None):
        r = evaluate_in_process(p, code, split="validation", sets=sets)
        assert r.ok, r.error
        assert not r.compile_fallback
        assert {"mean_cost", "std_cost", "score_0_100"} <= set(r.metrics)
        assert r.score == pytest.approx(-r.metrics["mean_cost"])
        assert r.metrics["deadline_misses"] == 0
    assert "Worst scenarios" in r.feedback
    assert any(k.startswith("cost/") for k in r.metrics)


def test_splits_are_disjoint(single, multi):
    names = {s: {lab for i in single.instance_sets(s) for lab in i.data.labels}
             for s in ("train", "validation", "test")}
    assert not names["train"] & names["test"] and not names["validation"] & names["test"]
    assert not set(data.MULTI_TRAIN_WINDOWS) & set(range(8))
    assert not set(data.MULTI_VALIDATION_WINDOWS) & set(range(8))


def test_std_penalty_and_score_anchors(multi):
    r0 = evaluate_in_process(multi, B.greedy_round_robin, split="test")
    r1 = evaluate_in_process(SpotMultiProblem({"std_penalty": 0.25, "report_optimum": False}),
                             B.greedy_round_robin, split="test")
    assert r1.score == pytest.approx(-(r0.metrics["mean_cost"] + 0.25 * r0.metrics["std_cost"]))
    assert r0.metrics["optimum_mean_cost"] <= r0.metrics["mean_cost"]
    od_only = evaluate_in_process(multi, lambda *a: (2, a[9]), split="test")
    assert od_only.metrics["score_0_100"] == pytest.approx(0.0, abs=1.0)


def test_replay_decides_the_cost(single):
    """score_set re-simulates the proposals: it agrees with the child's own run, and forged
    or broken outputs cannot lower the cost."""
    iset = single.instance_sets("validation")[0]
    cand = Candidate(module=None, py=B.greedy)
    out = single.run(cand, iset)
    _, _, live = spot.run_policy(iset.data, spot.compile_policy(B.greedy), single.sim)
    score = single.score_set(iset, out)
    assert score.metrics["cost_sum"] == pytest.approx(live[:, spot.ST_COST].sum())
    idle = {k: np.zeros_like(v) for k, v in out.items()}
    forged = single.score_set(iset, idle)  # "never run anything": the guarantee bills on-demand
    assert forged.metrics["cost_sum"] > score.metrics["cost_sum"]
    with pytest.raises(InvalidOutput, match="shape"):
        single.score_set(iset, {"actions": out["actions"][:3], "regions": out["regions"]})
    with pytest.raises(InvalidOutput, match="no proposal"):
        single.score_set(iset, {k: v[:, :5] for k, v in out.items()})
    bad = {k: v.copy() for k, v in out.items()}
    bad["actions"][2, 0] = 7
    with pytest.raises(InvalidOutput, match="action=7"):
        single.score_set(iset, bad)
    with pytest.raises(InvalidOutput, match="dtype"):
        single.score_set(iset, {k: v.astype(np.float64) for k, v in out.items()})


def test_policy_errors_surface(multi):
    code = "def decide(*a):\n    return 1, 5\n"
    r = evaluate_in_process(multi, code, split="train", sets=multi.gate_sets())
    assert r.status == "invalid_output" and "region=5" in r.error
    code = ("def decide(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type,\n"
            "           last_type, region, avail, price, mem):\n"
            "    return 1, 1 // int(elapsed)\n")
    r = evaluate_in_process(multi, code, split="train", sets=multi.gate_sets())
    assert r.status == "runtime_error" and "ZeroDivision" in r.error


def test_python_fallback_matches_numba(single, multi):
    """A candidate numba cannot type runs in the plain-Python twin, with identical results."""
    for p in (single, multi):
        seed = p.seed_path("greedy").read_text()
        code = (seed.replace("# EVOLVE-BLOCK-START",
                             "# EVOLVE-BLOCK-START\ndef plain(x):\n    return x\n")
                .replace("    if work_left <= 1e-9:", "    if plain(work_left) <= 1e-9:"))
        sets = p.instance_sets("validation")[:1]
        fast = evaluate_in_process(p, seed, sets=sets)
        cand = load_candidate(code, p.entry, jit=True)
        outs = p.run(cand, sets[0])
        assert cand.jit is None and cand.fallback_reason
        slow = p.score_set(sets[0], outs)
        assert slow.metrics["cost_sum"] == pytest.approx(fast.sets[0]["metrics"]["cost_sum"])
        r = evaluate_in_process(p, code, sets=sets)
        assert r.ok and r.compile_fallback


@pytest.mark.parametrize("flags", [0, spot.spot_sim.PUB_PRICING | spot.spot_sim.PUB_SWITCH,
                                   spot.spot_sim.PUB_SAFETY | spot.spot_sim.OBS_ALL])
def test_python_twin_matches_numba_kernel(multi, flags):
    batch = multi.instance_sets("validation")[5].data
    cfg = spot.SimConfig(published_pricing=bool(flags & 1), free_region_switch=bool(flags & 2),
                         published_safety_net=bool(flags & 4), observe_all_regions=bool(flags & 8))
    for pol in (B.uniform_progress_global, B.greedy_round_robin):
        a1, r1, s1 = spot.run_policy(batch, spot.compile_policy(pol), cfg, jitted=True)
        a2, r2, s2 = spot.run_policy(batch, pol, cfg, jitted=False)
        assert (a1 == a2).all() and (r1 == r2).all()
        np.testing.assert_allclose(s1, s2)


def test_observe_all_regions_switch():
    code = ("def decide(elapsed, gap, deadline, job, work_left, overhead, pending, cur_type,\n"
            "           last_type, region, avail, price, mem):\n"
            "    if avail[(region + 1) % avail.shape[0]] == -1:\n"
            "        return 9, region\n"
            "    return 2, region\n")
    for flag, status in ((True, "ok"), (False, "invalid_output")):
        p = SpotMultiProblem({"observe_all_regions": flag, "report_optimum": False})
        assert evaluate_in_process(p, code, sets=p.gate_sets()).status == status


def test_config_errors():
    with pytest.raises(ProblemError, match=r"problem.suite=.nope.: choose one of leaderboard"):
        SpotSingleProblem({"suite": "nope"})
    with pytest.raises(ProblemError, match=r"problem\.std_penalty=-1: must be >= 0"):
        SpotMultiProblem({"std_penalty": -1})
    with pytest.raises(ProblemError, match=r"problem\.published_accounting=.maybe."):
        SpotMultiProblem({"published_accounting": "maybe"})
    with pytest.raises(ProblemError, match=r"problem\.deadlines_hours=.52.: expected a list"):
        SpotSingleProblem({"deadlines_hours": "52"})
    with pytest.raises(ProblemError, match=r"problem.deadline_hours=40: shorter than the job"):
        SpotMultiProblem({"deadline_hours": 40})
    with pytest.raises(ProblemError, match=r"unknown config key .problem\.deadline_hour."):
        SpotMultiProblem({"deadline_hour": 60})


# ---- evolve-replay --instances -------------------------------------------------------------
def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _export_multi(root: Path, regions=("us-east-1a", "us-east-1c"), windows=(0, 1)):
    """Packaged windows written back in the ADRS multi-region file format (1 = unavailable)."""
    avail, prices = data.multi_windows(regions, windows)
    for wi, w in enumerate(windows):
        for ri, r in enumerate(regions):
            _write(root / f"{r}_v100_1" / f"{w}.json",
                   {"metadata": {"gap_seconds": 195}, "data": (1 - avail[wi, :, ri]).tolist(),
                    "prices": prices[wi, :, ri].tolist()})


def test_load_multi_instances_matches_packaged_scenario(tmp_path, multi):
    _export_multi(tmp_path / "two")
    (tmp_path / "two" / "us-east-1c_v100_1" / "1.json").unlink()  # only window 0 is shared
    sets = multi.load_instances([str(tmp_path / "two")])
    assert [s.size for s in sets] == [1]
    r = evaluate_in_process(multi, B.greedy_round_robin, sets=sets)
    assert r.metrics["mean_cost"] == pytest.approx(_first_job_cost(multi), rel=1e-9)
    assert {"mean_cost", "std_cost", "score_0_100", "cost/two"} <= set(r.metrics)


def _first_job_cost(p):
    """Greedy round-robin on the packaged 2-zone test window 0."""
    batch = p.instance_sets("test")[0].data.subset([0])
    return spot.run_policy(batch, spot.compile_policy(B.greedy_round_robin), p.sim)[2][0, 0]


def test_load_single_instances(tmp_path, single):
    d = data.load()
    e = d["single_envs"].index("us-west-2a_v100_1")
    for k in range(3):
        _write(tmp_path / "mine" / f"{k}.json",
               {"metadata": {"gap_seconds": 600}, "data": (1 - d["single_test"][e, k]).tolist()})
    sets = single.load_instances([str(tmp_path / "mine")])
    assert sets[0].size == 3 * len(single.deadlines) * len(single.overheads)
    r = evaluate_in_process(single, B.greedy, sets=sets)
    assert r.ok and "score_0_100" in r.metrics


@pytest.mark.parametrize("mutate,match", [
    (lambda o: o["metadata"].pop("gap_seconds"), "metadata.gap_seconds"),
    (lambda o: o["data"].__setitem__(3, 2), r"data\[3\] = 2"),
    (lambda o: o.__setitem__("prices", [1.0]), "prices"),
    (lambda o: o["prices"].__setitem__(0, "x"), r"prices\[0\]"),
])
def test_load_errors_name_file_and_field(tmp_path, multi, mutate, match):
    _export_multi(tmp_path / "bad")
    f = tmp_path / "bad" / "us-east-1a_v100_1" / "0.json"
    obj = json.loads(f.read_text())
    mutate(obj)
    f.write_text(json.dumps(obj))
    with pytest.raises(ProblemError, match=match) as e:
        multi.load_instances([str(tmp_path / "bad")])
    assert "0.json" in str(e.value)


def test_load_errors_folder_level(tmp_path, multi, single):
    with pytest.raises(ProblemError, match="not a folder"):
        multi.load_instances([str(tmp_path / "missing")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProblemError, match="no <region>"):
        multi.load_instances([str(tmp_path / "empty")])
    with pytest.raises(ProblemError, match=r"no <index>\.json"):
        single.load_instances([str(tmp_path / "empty")])
    _export_multi(tmp_path / "apart", windows=(0,))
    (tmp_path / "apart" / "us-east-1c_v100_1" / "0.json").rename(
        tmp_path / "apart" / "us-east-1c_v100_1" / "5.json")
    with pytest.raises(ProblemError, match="share no window"):
        multi.load_instances([str(tmp_path / "apart")])
    _export_multi(tmp_path / "named", windows=(0,))
    (tmp_path / "named" / "us-east-1a_v100_1" / "first.json").write_text("{}")
    with pytest.raises(ProblemError, match=r"<index>\.json"):
        multi.load_instances([str(tmp_path / "named")])
    _write(tmp_path / "short" / "r1" / "0.json",
           {"metadata": {"gap_seconds": 195}, "data": [0] * 50})
    with pytest.raises(ProblemError, match="shorter than the deadline"):
        multi.load_instances([str(tmp_path / "short")])
    _write(tmp_path / "gaps" / "r1" / "0.json",
           {"metadata": {"gap_seconds": 195}, "data": [0] * 1000})
    _write(tmp_path / "gaps" / "r2" / "0.json",
           {"metadata": {"gap_seconds": 600}, "data": [0] * 1000})
    with pytest.raises(ProblemError, match="differs"):
        multi.load_instances([str(tmp_path / "gaps")])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "0.json").write_text("{not json")
    with pytest.raises(ProblemError, match="not a readable JSON"):
        single.load_instances([str(tmp_path / "broken")])
