"""Size gates: a gated update equals the update at full weight and does nothing at weight 0."""

from __future__ import annotations

import ast

import numpy as np
import pytest

from evolve.proposers.builtin.gating import gate_sites, gated, ramp, sizes
from evolve.proposers.builtin.proposer import DEFAULTS, BuiltinProposer, _parse
from evolve.result import evaluate_in_process
from tests.builtin_toys import MDD, ToySmtt, context, info, propose, view

PROBLEM = ToySmtt({})

UPDATES = [
    "v *= 1.0 + m * m / (1.0 + m * m)",
    "v *= 0.5 + m",
    "v += m / (t + 1.0)",
    "v -= 2.0 * m",
    "v = max(v, t + m)",
]


def run(stmt: str, **env: float) -> float:
    scope = dict(env)
    exec(stmt, {}, scope)  # trusted test text
    return float(scope["v"])


@pytest.mark.parametrize("update", UPDATES)
@pytest.mark.parametrize("shape", ["up", "down"])
def test_gate_is_the_update_at_weight_one_and_nothing_at_weight_zero(update, shape):
    g = ast.unparse(gated(ast.parse(update).body[0], ramp("n", 50.0, shape)))
    full, none = (80, 0) if shape == "up" else (0, 80)
    rng = np.random.default_rng(0)
    for _ in range(20):
        env = {"v": rng.uniform(1, 100), "m": rng.uniform(0, 1), "t": rng.uniform(0, 50)}
        assert run(g, n=full, **env) == pytest.approx(run(update, **env))
        assert run(g, n=none, **env) == pytest.approx(env["v"])
        half = run(g, n=25, **env)  # halfway along the ramp: strictly between the two
        lo, hi = sorted((env["v"], run(update, **env)))
        assert lo - 1e-9 <= half <= hi + 1e-9


def test_a_definition_is_not_an_update():
    assert gated(ast.parse("v = max(d_j, t + p_j)").body[0], ramp("n", 50.0, "up")) is None


MATE = MDD.replace("            if v < best_v:", "            v *= 1.0 + 0.1 * p[j] / (t + 1.0)\n"
                   "            if v < best_v:")


def test_sizes_are_never_loop_counters_or_ids():
    src, facts = _parse(MATE, "schedule")
    sites = {ast.unparse(st): names for st, names in gate_sites(src, facts)}
    assert set(sites) == {"v *= 1.0 + 0.1 * p[j] / (t + 1.0)", "t += p[best]"}
    assert all(names == ["n"] for names in sites.values())  # not k, j (counters), best (an id)
    assert sizes(facts.funcs[0], frozenset({"n", "k", "j", "best", "t"})) == ["n"]


def test_update_gate_operator_makes_children_that_run():
    weights = {k: 0.0 for k in DEFAULTS["operators"]}
    weights["update_gate"] = 1.0
    bp = BuiltinProposer({"builtin": {"operators": weights}}, info(PROBLEM))
    codes = set()
    for s in range(6):
        prop = propose(bp, context(view(1, MATE), s, PROBLEM))
        assert prop.operator == "update_gate" and prop.code is not None
        codes.add(prop.code)
        assert "n / " in prop.code and prop.code.count("n / ") == 1
        assert evaluate_in_process(PROBLEM, prop.code, "train").status == "ok"
    assert len(codes) > 1
