"""Instance file loaders: accepted formats, one-line errors naming file, line and field."""

import json

import numpy as np
import pytest

from evolve.problem import ProblemError, make_problem
from evolve.problems.smtt.exact import lawler_value
from evolve.problems.smtt.loaders import load_file


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def error_of(path, weighted=False) -> str:
    with pytest.raises(ProblemError) as e:
        load_file(path, weighted)
    msg = str(e.value)
    assert "\n" not in msg and str(path.parent) in msg
    return msg


def test_jsonl_accepts_negative_due_dates(tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl",
                    [{"p": [3, 2], "d": [-4, 5], "opt": 9, "rdd": 0.2, "tf": 0.4},
                                           {"p": [1.5], "d": [0]}])
    inst = load_file(f, False)
    assert inst.m == 2 and inst.source == "a"
    assert inst.d[0] == -4 and inst.ref[0] == 9 and inst.ref_exact[0]
    assert np.isnan(inst.ref[1]) and inst.rdd[0] == 0.2 and np.isnan(inst.tf[1])


@pytest.mark.parametrize("row,needle", [
    ({"p": [3, 0], "d": [1, 2]}, ":2: field 'p[1]' = 0 must be > 0"),
    ({"p": [3, -1], "d": [1, 2]}, "field 'p[1]' = -1"),
    ('{"p": [3, NaN], "d": [1, 2]}', "field 'p[1]' is nan"),
    ('{"p": [3, 1], "d": [1, Infinity]}', "field 'd[1]' is inf"),
    ({"p": [3, 1, 2], "d": [1, 2]}, "field 'd' has 2 values but 'p' has 3"),
    ({"p": [3, 1], "d": [1, 2], "w": [1]}, "field 'w' has 1 values"),
    ({"p": [3, [1]], "d": [1, 2]}, "field 'p[1]' is [1], not a number"),
    ({"p": [3, 1]}, "missing field 'd'"),
    ('{"p": [3, 1], "d": [1,', "invalid JSON"),
    ({"p": [3, 1], "d": [1, 2], "n": 3}, "field 'n' = 3"),
    ({"p": [3, 1], "d": [1, 2], "opt": -2}, "field 'opt' = -2"),
])
def test_jsonl_errors(tmp_path, row, needle):
    f = write_jsonl(tmp_path / "bad.jsonl", [{"p": [1], "d": [1]}, row])
    msg = error_of(f)
    assert needle in msg, msg
    assert ":2:" in msg


def test_weighted_optimum_is_not_an_unweighted_reference(tmp_path):
    f = write_jsonl(tmp_path / "w.jsonl", [{"p": [3, 2], "d": [1, 1], "w": [5, 1], "opt": 17}])
    assert load_file(f, True).ref[0] == 17
    plain = load_file(f, False)
    assert np.isnan(plain.ref[0]) and np.all(plain.w == 1)


def orlib(tmp_path, numbers, opt=None):
    (tmp_path / "wt3.txt").write_text("\n".join(" ".join(str(x) for x in numbers[i:i + 5])
                                                for i in range(0, len(numbers), 5)) + "\n")
    if opt is not None:
        (tmp_path / "wtopt3.txt").write_text("\n".join(str(v) for v in opt) + "\n")
    return tmp_path / "wt3.txt"


def test_orlib_weighted_and_unweighted(tmp_path):
    # two instances of n=3: p, w, d each
    f = orlib(tmp_path, [5, 3, 4, 2, 1, 1, 6, -2, 8] + [1, 1, 1, 1, 1, 1, 3, 3, 3], opt=[40, 0])
    w = load_file(f, True)
    assert w.m == 2 and w.weighted and list(w.w[:3]) == [2, 1, 1] and list(w.d[:3]) == [6, -2, 8]
    assert list(w.ref) == [40, 0] and w.ref_exact.all()
    u = load_file(f, False)  # trap: weighted optima are not unweighted optima
    assert np.isnan(u.ref).all() and np.all(u.w == 1)


def test_orlib_errors(tmp_path):
    msg = error_of(orlib(tmp_path, [5, 3, 4, 2, 1, 1, 6, 7, 8, 1]))
    assert "not whole instances of 3 x 3" in msg and ":2:" in msg
    msg = error_of(orlib(tmp_path, [5, 0, 4, 2, 1, 1, 6, 7, 8]))
    assert ":1: instance 1 field 'p[1]' = 0 must be > 0" in msg
    msg = error_of(orlib(tmp_path, [5, 3, 4, 2, 1, 1, 6, 7, 8], opt=[1, 2]), weighted=True)
    assert "wtopt3.txt: 2 values for 1 instances" in msg
    (tmp_path / "wt3.txt").write_text("5 3 x\n")
    assert ":1: 'x' is not a number" in error_of(tmp_path / "wt3.txt")


def test_jobs_txt(tmp_path):
    f = tmp_path / "SDT_4.txt"
    f.write_text("79 4126\n35 -3\n")
    inst = load_file(f, False)
    assert inst.m == 1 and list(inst.p) == [79, 35] and list(inst.d) == [4126, -3]
    f.write_text("79 4126\n35 3839 2\n")
    assert ":2: 3 fields, earlier lines have 2" in error_of(f)
    f.write_text("79 4126\n0 3839\n")
    assert ":2: field 'p' = 0 must be > 0" in error_of(f)
    f.write_text("79 4126\nnan 3839\n")
    assert ":2: field 'p' = 'nan' is not finite" in error_of(f)


def test_unknown_and_missing_files(tmp_path):
    (tmp_path / "x.csv").write_text("1,2\n")
    assert "unknown instance format" in error_of(tmp_path / "x.csv")
    assert "no such file" in error_of(tmp_path / "nope.jsonl")


def test_load_instances_fills_missing_references(tmp_path):
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(3):
        p = rng.integers(1, 100, 12)
        rows.append({"p": p.tolist(), "d": rng.integers(0, int(p.sum()), 12).tolist()})
    f = write_jsonl(tmp_path / "mine.jsonl", rows)
    problem = make_problem({"name": "smtt", "target": "evolve.problems.smtt:SmttProblem",
                            "cache_dir": str(tmp_path / "cache")})
    (iset,) = problem.load_instances([str(f)])
    assert iset.name == "mine" and iset.size == 3
    want = [lawler_value(np.array(r["p"], float), np.array(r["d"], float), 10**6) for r in rows]
    assert list(iset.data.ref) == want and iset.data.ref_exact.all()
    assert list((tmp_path / "cache").glob("refs-*.npz"))  # cached for the next replay
