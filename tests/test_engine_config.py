"""Bad config input gets one line naming the problem, and exit code 2."""

from __future__ import annotations

import pytest

from tests.engine_util import SORTING, run_evolve


@pytest.mark.parametrize("args, needle", [
    (["problem=nope"], "unknown problem 'nope' (valid problem choices:"),
    (["search.iteratons=3"], "unknown config key 'search.iteratons' (valid keys under search:"),
    (["search.iterations=abc"], "search.iterations='abc': expected an integer"),
    (["evaluator.workers=0"], "evaluator.workers=0: must be positive"),
    (["llm=zzz"], "unknown llm 'zzz'"),
    (["problem.seed_program=no_such_seed"], "problem.seed_program='no_such_seed'"),
    (["oops"], "Error parsing override 'oops'"),
])
def test_bad_config_one_line(args, needle, tmp_path):
    extra = SORTING if args[0].startswith("problem.seed") else []
    proc = run_evolve(*extra, *args, f"run_dir={tmp_path / 'r'}", check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0], lines[0]
    assert not (tmp_path / "r").exists()


def test_show_prints_composed_config():
    proc = run_evolve(*SORTING, "search.iterations=7", "--show", timeout=120)
    assert "iterations: 7" in proc.stdout and "name: sorting" in proc.stdout
