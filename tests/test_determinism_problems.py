"""Every shipped problem declares whether the same program always gets the same score."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evolve.problem import make_problem

CONF = Path(__file__).resolve().parents[1] / "evolve/conf/problem"
EXPECTED = {"smtt": True, "smtt_weighted": True, "spot_single": True, "spot_multi": True,
            "moe_placement": False}


def config(name: str) -> dict:
    """The problem's YAML with its Hydra `defaults` (other problem files) merged in first."""
    cfg = yaml.safe_load((CONF / f"{name}.yaml").read_text())
    out: dict = {}
    for base in cfg.pop("defaults", []):
        if base != "_self_":
            out.update(config(base))
    return {**out, **cfg}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_problem_declares_determinism(name):
    problem = make_problem(config(name))
    assert problem.deterministic is EXPECTED[name]
    # deterministic exactly when nothing is timed: a measured runtime is what varies
    assert (problem.timed_calls == 0) is problem.deterministic


def test_every_shipped_problem_is_listed():
    assert {p.stem for p in CONF.glob("*.yaml") if not p.stem.startswith("_")} == set(EXPECTED)
