"""The shifted-distribution SMTT sets (problems/smtt/shifted.py): generated through the CLI module,
optima proven, files reproducible, and `evolve-replay` scores a program on the shipped files."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evolve.problems.smtt import generator, shifted
from evolve.problems.smtt.exact import lawler_value, subset_dp_value
from evolve.problems.smtt.loaders import load_jsonl

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "problems" / "smtt" / "data"
SHIPPED = {e["file"]: e for e in json.loads((DATA / "manifest.json").read_text())["shifted"]}
MODULE = [sys.executable, "-m", "evolve.problems.smtt.shifted"]
REPLAY = Path(sys.executable).parent / "evolve-replay"  # the installed entry point
HANG_GUARD_S = 900


def _cli(*args, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([*MODULE, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=HANG_GUARD_S)


def _brute_force(p: np.ndarray, d: np.ndarray) -> int:
    best = None
    for order in itertools.permutations(range(p.size)):
        t, total = 0, 0
        for j in order:
            t += int(p[j])
            total += max(0, t - int(d[j]))
        best = total if best is None or total < best else best
    return int(best)


def test_cli_writes_proven_optima_that_match_brute_force(tmp_path):
    r = _cli("--out", tmp_path, "--sizes", 6, 8, "--per-class", 1, "--seed", 3, "--manifest")
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())["shifted"]
    assert [e["params"]["dist"] for e in manifest] == list(shifted.DISTRIBUTIONS)
    for entry in manifest:
        inst = load_jsonl(tmp_path / entry["file"], weighted=False)
        assert inst.m == entry["instances"] == 2 * 20
        assert inst.ref_exact.all() and sorted(set(inst.sizes.tolist())) == [6, 8]
        for i in range(0, inst.m, 3):  # brute force over n! orders on every third instance
            p, d, _ = inst.arrays(i)
            assert inst.ref[i] == _brute_force(p, d), (entry["file"], i)


def test_the_distributions_differ_from_training_and_keep_its_due_date_scheme():
    bi = shifted.generate("bimodal", [25], 4, 0)
    ln = shifted.generate("lognormal", [25], 4, 0)
    assert set(np.unique(bi.p)) <= set(range(1, 21)) | set(range(100, 201))
    assert (bi.p >= 100).mean() == pytest.approx(0.25, abs=0.05)
    assert ln.p.min() >= 1 and ln.p.max() > 100  # the tail reaches past training's U{1..100}
    assert np.median(ln.p) == pytest.approx(np.exp(3.5), rel=0.2)
    for inst in (bi, ln):
        assert inst.m == 80 and len(set(zip(inst.rdd, inst.tf))) == 20
        for i in range(inst.m):
            p, d, _ = inst.arrays(i)
            P, rdd, tf = p.sum(), inst.rdd[i], inst.tf[i]
            assert d.max() <= np.floor(P * (1 - tf + rdd / 2))
            assert d.min() >= max(0, np.floor(P * (1 - tf - rdd / 2)))
            assert np.all(p == np.round(p))


def test_samples_follow_the_training_and_the_published_n20_generators():
    """`uniform` is training's scheme; `published_n20` the published n = 20 set's notebook: p in
    1..99, continuous due dates truncated toward zero, negative ones kept (that set has 157 of
    800 instances with some)."""
    uni = shifted.generate("uniform", [20], 20, 0)
    pub = shifted.generate("published_n20", [20], 20, 0)
    assert uni.source == "smtt_sample_uniform_400" and pub.m == 400
    assert uni.p.min() >= 1 and uni.p.max() == 100 and (uni.d >= 0).all()
    assert pub.p.min() >= 1 and pub.p.max() == 99 and np.all(pub.p == np.round(pub.p))
    negative = [i for i in range(pub.m) if (pub.arrays(i)[1] < 0).any()]
    assert 0.12 < len(negative) / pub.m < 0.28
    for i in range(pub.m):
        p, d, _ = pub.arrays(i)
        P, rdd, tf = p.sum(), pub.rdd[i], pub.tf[i]
        lo, hi = P * (1 - tf - rdd / 2), P * (1 - tf + rdd / 2)
        assert np.all(d == np.round(d)) and not np.any(np.signbit(d) & (d == 0))
        assert d.min() >= np.trunc(lo) and d.max() <= np.trunc(hi)
        if i in negative:
            assert lo < 0  # only classes whose range reaches below zero
    # every distribution draws from its own stream: adding samplers moved no shipped file
    assert list(shifted.ALL)[:2] == list(shifted.DISTRIBUTIONS) == ["bimodal", "lognormal"]


def test_lawler_agrees_with_the_subset_dp_on_shifted_instances():
    for dist in shifted.ALL:
        inst = shifted.generate(dist, [12, 16], 1, 5)
        for i in range(inst.m):
            p, d, _ = inst.arrays(i)
            assert lawler_value(p, d, shifted.MEMO_BUDGET) == subset_dp_value(p, d, np.ones(p.size))


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    args = ("--sizes", 10, "--per-class", 1, "--dists", "lognormal")
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        assert _cli("--out", tmp_path / name, *args, "--seed", seed).returncode == 0
    file = "smtt_shift_lognormal_20.jsonl.gz"
    a, b, c = ((tmp_path / x / file).read_bytes() for x in "abc")
    assert a == b and gzip.decompress(a) != gzip.decompress(c)


def test_shipped_files_are_what_the_command_regenerates(tmp_path):
    """Default parameters = the shipped ones; the uncompressed text is compared (and hashed in
    the manifest), so a different zlib build cannot fail the test."""
    r = _cli("--out", tmp_path, "--manifest", "--verify-dp-max-n", 0)
    assert r.returncode == 0, r.stderr
    fresh = json.loads((tmp_path / "manifest.json").read_text())["shifted"]
    assert {e["file"] for e in fresh} == set(SHIPPED)
    for entry in fresh:
        text = gzip.decompress((DATA / entry["file"]).read_bytes())
        assert text == gzip.decompress((tmp_path / entry["file"]).read_bytes()), entry["file"]
        assert hashlib.sha256(text).hexdigest() == SHIPPED[entry["file"]]["sha256"]
        assert SHIPPED[entry["file"]] == entry
        assert entry["params"]["rdd"] == list(generator.RDD_GRID)
        assert entry["params"]["sizes"] == [15, 20, 25] and entry["instances"] >= 200


@pytest.mark.parametrize("args, message", [
    (["--sizes", "1"], "--sizes 1: must be 2..200"),
    (["--per-class", "0"], "--per-class 0: must be >= 1"),
    (["--verify-dp-max-n", "30"], "--verify-dp-max-n 30: must be 0..25"),
    (["--dists", "normal"], "argument --dists: invalid choice: 'normal'"),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, args, message):
    r = _cli("--out", tmp_path, *args)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_a_broken_manifest_or_a_file_as_out_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    r = _cli("--out", tmp_path, "--manifest", "--sizes", 5)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert f"{tmp_path / 'manifest.json'}: not a JSON manifest" in r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
    r = _cli("--out", tmp_path / "manifest.json", "--sizes", 5)
    assert r.returncode == 2 and f"--out {tmp_path / 'manifest.json'}: not a folder" in r.stderr


def test_replay_scores_the_mdd_seed_on_the_shipped_files_like_the_mdd_baseline():
    files = [str(DATA / name) for name in SHIPPED]
    r = subprocess.run(
        [str(REPLAY), "seeds/smtt/mdd.py", "--problem", "smtt", "--instances", *files,
         "--baselines", "edd,mdd", "--json", "--progress", "never"],
        cwd=REPO, capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["program"]["status"] == "ok"
    assert [s["name"] for s in out["sets"]] == [Path(f).name.removesuffix(".jsonl.gz")
                                                for f in files]
    for k, s in enumerate(out["sets"]):
        m = s["metrics"]
        base = {n: out["baselines"][n]["sets"][k]["metrics"] for n in ("edd", "mdd")}
        assert m["exact_ref_fraction"] == 1.0 and m["below_ref"] == 0
        assert m["mean_gap_pct"] == pytest.approx(base["mdd"]["mean_gap_pct"], abs=1e-9)
        assert m["total_tardiness"] == base["mdd"]["total_tardiness"]
        assert base["edd"]["mean_gap_pct"] > m["mean_gap_pct"] > 0
        assert all(b["below_ref"] == 0 for b in base.values())


def test_rewriting_the_generated_splits_keeps_the_shifted_entries(tmp_path):
    """splits.main rewrites the `generated` list; the `shifted` one must survive, byte for byte."""
    from evolve.problems.smtt.splits import write_manifest

    path = tmp_path / "manifest.json"
    path.write_bytes((DATA / "manifest.json").read_bytes())
    write_manifest(json.loads(path.read_text())["generated"], path=path)
    assert path.read_bytes() == (DATA / "manifest.json").read_bytes()
    write_manifest([], key="generated", path=path)
    assert json.loads(path.read_text()) == {"generated": [], "shifted": list(SHIPPED.values())}
