"""Bad config input gets one line naming key and value, exit code 2, and nothing is written."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from evolve import app
from evolve.config import ConfigError, compose, group_choices, validate
from tests.engine_util import SORTING, run_evolve


@pytest.mark.parametrize("args, needle", [
    (["problem=nope"], "unknown problem 'nope' (valid problem choices:"),
    (["search.iteratons=3"], "unknown config key 'search.iteratons' (valid keys under search:"),
    (["search.iterations=abc"], "search.iterations='abc': expected an integer"),
    (["evaluator.workers=0"], "evaluator.workers=0: must be > 0"),
    (["evaluator.memory_mb=-5"], "evaluator.memory_mb=-5: must be > 0"),
    (["search.parent_selection=foo"], "search.parent_selection='foo': choose one of power_law,"),
    (["proposer=builtin", "proposer.builtin.operators.op_swap=heavy"],
     "proposer.builtin.operators.op_swap='heavy': expected a finite number"),
    (["llm=zzz"], "unknown llm 'zzz'"),
    (["problem.seed_program=no_such_seed"], "problem.seed_program='no_such_seed'"),
    (["oops"], "Error parsing override 'oops'"),
])
def test_bad_config_one_line(args, needle, tmp_path, capsys):
    # In process (real Hydra, real app.main): the message, the exit code and that nothing is
    # written do not need a new interpreter; test_bad_config_one_line_from_a_real_process proves
    # that the process as a whole prints that one line and nothing else.
    extra = SORTING if args[0].startswith("problem.seed") else []
    latest = tmp_path / "latest"
    latest.symlink_to("elsewhere")
    rc = app.main([*extra, *args, f"run_dir={tmp_path / 'r'}"])
    stderr = capsys.readouterr().err
    assert rc == 2, stderr
    lines = [l for l in stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, stderr
    assert needle in lines[0], lines[0]
    assert not (tmp_path / "r").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"]
    assert latest.is_symlink() and str(latest.readlink()) == "elsewhere"


@pytest.mark.parametrize("args, needle", [
    (["search.iterations=abc"], "search.iterations='abc': expected an integer"),
    (["problem.seed_program=no_such_seed"], "problem.seed_program='no_such_seed'"),
])
def test_bad_config_one_line_from_a_real_process(args, needle, tmp_path):
    extra = SORTING if args[0].startswith("problem.seed") else []
    latest = tmp_path / "latest"
    latest.symlink_to("elsewhere")
    proc = run_evolve(*extra, *args, f"run_dir={tmp_path / 'r'}", check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0], lines[0]
    assert not (tmp_path / "r").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest"]
    assert latest.is_symlink() and str(latest.readlink()) == "elsewhere"


@pytest.mark.parametrize("override, message", [
    ("evaluator.timeout_s=0", "evaluator.timeout_s=0: must be > 0"),
    ("evaluator.memory_mb=0", "evaluator.memory_mb=0: must be > 0"),
    ("evaluator.max_output_kb=-1", "evaluator.max_output_kb=-1: must be > 0"),
    ("evaluator.gate=maybe", "evaluator.gate='maybe': expected true or false"),
    ("search.iterations=-1", "search.iterations=-1: must be >= 0"),
    ("search.seed=-3", "search.seed=-3: must be >= 0"),
    ("search.islands=0", "search.islands=0: must be > 0"),
    ("search.concurrency=1.5", "search.concurrency=1.5: expected an integer"),
    ("search.exploration=1.5", "search.exploration=1.5: must be <= 1"),
    ("search.tournament_k=0", "search.tournament_k=0: must be > 0"),
    ("search.weighted_sharpness=0", "search.weighted_sharpness=0: must be > 0"),
    ("search.max_seconds=0", "search.max_seconds=0: must be > 0"),
    ("search.target_score=nan", "search.target_score=nan: expected a finite number"),
    ("search.map_elites.features=[foo]",
     "search.map_elites.features[0]='foo': choose one of code_length, behaviour, score"),
    ("search.map_elites.features=[]", "search.map_elites.features=[]: name at least one of"),
    ("search.map_elites.bins=0", "search.map_elites.bins=0: must be > 0"),
    ("llm.max_cost_usd=-1", "llm.max_cost_usd=-1: must be > 0"),
    ("log_level=loud", "log_level='loud': choose one of"),
    ("proposer.builtin.tune.sets=test",
     "proposer.builtin.tune.sets='test': choose one of train, gate"),
    ("proposer.builtin.bandit.floor=2", "proposer.builtin.bandit.floor=2: must be <= 1"),
    ("proposer.builtin.operators.cmaes=-1", "proposer.builtin.operators.cmaes=-1: must be >= 0"),
])
def test_every_value_is_checked_against_the_schema(override, message):
    with pytest.raises(ConfigError) as e:
        validate(compose([override]))
    assert str(e.value).startswith(message), str(e.value)


def _presets():
    choices = group_choices()
    yield []
    for group in ("problem", "proposer", "search"):
        for name in choices[group]:
            yield [f"{group}={name}"]
    for name in choices["llm"]:
        yield [f"llm={name}", "proposer=llm"] if name != "none" else ["llm=none"]


@pytest.mark.parametrize("overrides", list(_presets()), ids=lambda o: ",".join(o) or "default")
def test_shipped_configs_define_every_key_the_engine_reads(overrides):
    cfg = compose(overrides)
    validate(cfg)  # every value has its schema default or the preset's value, and passes
    if overrides and overrides[0].startswith("problem="):
        assert OmegaConf.select(cfg, "problem.preload") == []


# `--show` (composed config, resolved) from a real process: tests/test_cli_hydra.py::
# test_cfg_job_show_and_package, with the same SORTING and search.iterations=7.
