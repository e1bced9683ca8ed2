"""The structured schema is the one source of config keys and defaults.

* every key the code reads (attribute, `[...]` and `.get(...)` reads on config objects, found with
  `ast`) is declared in the schema, and a `.get(key, default)` default is the schema's default;
* the defaults that other modules keep for their own use equal the schema's;
* every shipped preset composes and validates; mistakes are one line naming key and value, whether
  Hydra's compose, a plain dict (make_problem, parse_settings) or a resumed run's config finds them;
* `problem=smtt_weighted` runs under its own name.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from omegaconf import MISSING, OmegaConf

from evolve import config
from evolve.config import ConfigError, compose, config_error, load_saved, problem_config, validate
from evolve.config_schema import ProblemBase, RootConfig, problem_schemas
from evolve.problem import ProblemError, make_problem

ROOT = Path(__file__).resolve().parents[1]

# Which config section a receiver holds, per file ("" = the root; "problem@x": problem x's
# schema, "problem@x+y" either; "problem": any problem's section). A new config read under
# another name fails test_every_config_receiver_is_known until it is added here.
RECEIVERS: dict[str, dict[str, str]] = {
    "evolve/app.py": {"cfg": ""},
    "evolve/prelaunch.py": {"cfg": ""},
    "evolve/session.py": {"cfg": "", "ev": "evaluator", "search": "search",
                          "problem_cfg": "problem"},
    "evolve/run_folder.py": {"cfg": ""},
    "evolve/selection.py": {"cfg": "search", "me": "search.map_elites"},
    "evolve/proposers/__init__.py": {"proposer_cfg": "proposer", "llm_cfg": "llm"},
    "evolve/proposers/builtin/proposer.py": {"cfg": "proposer", "self.cfg": "proposer.builtin",
                                    "b": "proposer.builtin.bandit"},
    "evolve/proposers/builtin/tuner.py": {"self.cfg": "proposer.builtin.tune",
                                  "t": "proposer.builtin.tune"},
    "evolve/proposers/scripted.py": {"cfg": "proposer"},
    "evolve/proposers/llm.py": {"self.settings.selection": "llm.selection",
                                "s.novelty": "llm.novelty"},
    "evolve/llm/local.py": {"self.cfg": "llm.local_server"},
    "evolve/llm/prompts.py": {"prompt_cfg": "llm.prompt", "self.cfg": "llm.prompt"},
    "evolve/llm/selection.py": {"cfg": "llm.modes", "settings.selection": "llm.selection"},
    "evolve/worker.py": {"problem_cfg": "problem"},
    "evolve/problem.py": {"cfg": "problem", "self.cfg": "problem"},
    "evolve/problem_loading.py": {"cfg": "problem"},
    "evolve/trust.py": {"cfg": ""},
    "evolve/ray_backend.py": {"cfg": "", "ev": "evaluator"},
    "evolve/cli/replay.py": {"problem_cfg": "problem", "root": ""},
    "evolve/cli/replay_target.py": {"problem_cfg": "problem", "cfg": ""},
    "evolve/cli/archive_export.py": {"config": "", "problem_cfg": "problem"},
    "evolve/cli/compare_heldout.py": {"cfg": "problem", "problem_cfg": "problem"},
    "evolve/preflight.py": {"cfg": "", "problem_cfg": "problem"},
    "evolve/resume.py": {"cfg": ""},
    "problems/smtt/problem.py": {"self.conf": "problem@smtt"},
    "problems/openevolve/adapter.py": {"self.cfg": "problem@openevolve+shinka"},
    "problems/openevolve/problem.py": {"self.cfg": "problem@openevolve"},
    "problems/shinka/problem.py": {"self.cfg": "problem@shinka"},
    "problems/spot/problem.py": {"c": "problem@spot_single+spot_multi",
                                 "self.conf": "problem@spot_single+spot_multi",
                                 "self.cfg": "problem@spot_single+spot_multi"},
    "problems/moe_placement/problem.py": {"c": "problem@moe_placement",
                                          "self.conf": "problem@moe_placement",
                                          "g": "problem@moe_placement.gate"},
}
# The schema itself (and the checker) read schema nodes by construction.
SKIP = {"evolve/config.py", "evolve/config_check.py", "evolve/config_schema.py",
        "evolve/llm/settings.py", "problems/smtt/schema.py", "problems/spot/schema.py",
        "problems/moe_placement/schema.py",
        "evolve/llm/errors.py",  # `config` there is the evolve.config module
        "evolve/hydra_app.py"}  # `config` there is Hydra's own (hydra.run.dir, hydra.overrides)
METHODS = {"get", "items", "keys", "values", "pop", "setdefault", "update", "copy"}
CONFIG_NAME = re.compile(r"^(self\.)?(cfg|conf|config|\w+_cfg)$")


def _sources() -> list[Path]:
    return sorted(p for d in ("evolve", "problems") for p in (ROOT / d).rglob("*.py")
                  if p.relative_to(ROOT).as_posix() not in SKIP)


def _reads(tree: ast.AST):
    """(receiver text, key, literal default or MISSING, line) of every constant-key read."""
    for n in ast.walk(tree):
        if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant) \
                and isinstance(n.slice.value, str):
            yield ast.unparse(n.value), n.slice.value, MISSING, n.lineno
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) \
                and n.func.attr == "get" and n.args and isinstance(n.args[0], ast.Constant) \
                and isinstance(n.args[0].value, str):
            default: Any = MISSING
            if len(n.args) > 1:
                try:
                    default = ast.literal_eval(n.args[1])
                except ValueError:  # cfg.get("builtin", cfg): a fallback, not a default value
                    pass
            yield ast.unparse(n.func.value), n.args[0].value, default, n.lineno
        elif isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Load) \
                and n.attr not in METHODS:
            yield ast.unparse(n.value), n.attr, MISSING, n.lineno


def _section(receivers: dict[str, str], text: str) -> str | None:
    """The section `text` holds: a mapped receiver, or one followed by .attr / ["key"] steps."""
    if text in receivers:
        return receivers[text]
    m = re.match(r"^(.*?)(?:\.(\w+)|\[['\"](\w+)['\"]\])$", text)
    if not m:
        return None
    base = _section(receivers, m.group(1))
    return None if base is None else f"{base}.{m.group(2) or m.group(3)}".lstrip(".")


def _schema_type(section: str) -> list[Any]:
    """The dataclass(es) a section path names."""
    head, _, rest = section.partition(".")
    if head.startswith("problem@"):
        types: list[Any] = [problem_schemas()[n] for n in head.split("@")[1].split("+")]
    elif head == "problem":
        types = [ProblemBase, *problem_schemas().values()]
    else:
        types, rest = [RootConfig], section
    for part in [p for p in rest.split(".") if p]:
        types = [_inner(typing.get_type_hints(t)[part]) for t in types
                 if part in typing.get_type_hints(t)]
        types = [t for t in types if t is not None]
    return types


def _inner(t: Any) -> Any:
    """The dataclass inside Optional[...] / list[...] (or the runtime type of an Any field)."""
    for a in (t, *typing.get_args(t)):
        if isinstance(a, type) and dataclasses.is_dataclass(a):
            return a
        inner = [x for x in typing.get_args(a) if isinstance(x, type)
                 and dataclasses.is_dataclass(x)]
        if inner:
            return inner[0]
    return t


def _default(cls: Any, key: str) -> Any:
    f = {f.name: f for f in dataclasses.fields(cls)}[key]
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc]


def _same(a: Any, b: Any) -> bool:
    if b == MISSING:  # a required key: the code may only fall back to "no value" (its error)
        return a in ("", None)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    if dataclasses.is_dataclass(b) and isinstance(a, dict):
        return a == dataclasses.asdict(b)  # type: ignore[arg-type]
    return bool(a == b) or (a in (None, (), []) and b in (None, (), []))


def test_every_key_the_code_reads_is_declared_with_the_schema_default():
    bad = []
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        receivers = RECEIVERS.get(rel, {})
        for text, key, default, line in _reads(ast.parse(path.read_text())):
            section = _section(receivers, text)
            if section is None:
                continue
            types = [t for t in _schema_type(section) if dataclasses.is_dataclass(t)]
            owners = [t for t in types if key in typing.get_type_hints(t)]
            if not owners:
                bad.append(f"{rel}:{line}: reads {section or '<root>'}.{key}, which no schema "
                           "declares")
            elif default is not MISSING and not any(_same(default, _default(t, key))
                                                    for t in owners):
                bad.append(f"{rel}:{line}: default {default!r} for {section}.{key} differs from "
                           f"the schema's {_default(owners[0], key)!r}")
    assert not bad, "\n".join(bad)


def test_every_config_receiver_is_known():
    """A config object read under a name this test does not map would escape the check above."""
    unknown = set()
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        for text, _key, _default, line in _reads(ast.parse(path.read_text())):
            if CONFIG_NAME.match(text) and _section(RECEIVERS.get(rel, {}), text) is None:
                unknown.add(f"{rel}:{line}: {text}")
    assert not unknown, "map these in RECEIVERS:\n" + "\n".join(sorted(unknown))


def test_the_walker_catches_an_undeclared_key(tmp_path):
    tree = ast.parse("def f(cfg):\n    return cfg['islands'], cfg.get('itrations', 3), "
                     "cfg.get('islands', 1)\n")
    reads = [(t, k, d) for t, k, d, _ in _reads(tree) if t == "cfg"]
    assert ("cfg", "itrations", 3) in reads and ("cfg", "islands", 1) in reads
    search = _schema_type("search")[0]
    assert "itrations" not in typing.get_type_hints(search)
    assert not _same(1, _default(search, "islands"))  # a second default (1 vs 2) is caught


def test_defaults_kept_elsewhere_equal_the_schemas():
    from evolve.config_schema import Builtin
    from evolve.evaluators import spot
    from evolve.llm import local
    from evolve.llm.settings import LLMConfig, LocalServer, ModelSpec
    from evolve.problems.moe_placement import scoring
    from evolve.problems.moe_placement.schema import MoeSchema
    from evolve.problems.smtt import generator, reference, splits
    from evolve.problems.smtt.schema import SmttSchema
    from evolve.problems.spot.schema import SpotMultiSchema, SpotSingleSchema
    from evolve.proposers.builtin import proposer as builtin

    assert builtin.DEFAULTS == OmegaConf.to_container(OmegaConf.structured(Builtin),
                                                      enum_to_str=True)
    assert local.DEFAULTS == dataclasses.asdict(LocalServer())
    llm = LLMConfig()
    assert (ModelSpec("m").temperature, ModelSpec("m").max_tokens) == (llm.temperature,
                                                                       llm.max_tokens)
    smtt = SmttSchema()
    assert reference.DEFAULTS == dataclasses.asdict(smtt.reference)
    assert splits.DEFAULT_PARAMS == {"train": dataclasses.asdict(smtt.train),
                                     "validation": dataclasses.asdict(smtt.validation)}
    assert (list(generator.RDD_GRID), list(generator.TF_GRID)) == (smtt.rdd, smtt.tf)
    for cls in (SpotSingleSchema, SpotMultiSchema):
        assert (cls().on_demand_price, cls().spot_anchor_price) == (spot.OD_PRICE,
                                                                    spot.SPOT_PRICE)
    assert SpotSingleSchema().spot_price == spot.SPOT_PRICE
    assert dataclasses.asdict(scoring.Weights()) == dataclasses.asdict(MoeSchema().score)


def _choices():
    choices = config.group_choices()
    for group in ("problem", "proposer", "search"):
        for name in choices[group]:
            yield [f"{group}={name}"]
    for name in choices["llm"]:
        yield [f"llm={name}"]


@pytest.mark.parametrize("overrides", list(_choices()), ids=lambda o: o[0])
def test_every_shipped_choice_composes_typed(overrides):
    cfg = compose(overrides)
    validate(cfg)
    assert dataclasses.is_dataclass(OmegaConf.get_type(cfg, "search"))
    assert dataclasses.is_dataclass(OmegaConf.get_type(cfg, "llm"))
    if overrides[0].startswith("problem="):  # a shipped problem composes its own schema
        assert issubclass(OmegaConf.get_type(cfg, "problem"), ProblemBase)  # type: ignore[arg-type]


@pytest.mark.parametrize("overrides, message", [
    (["search.islands=0"], "search.islands=0: must be > 0"),
    (["search.itrations=5"], "unknown config key 'search.itrations' (valid keys under search: "),
    (["problem=x"], "unknown problem 'x' (valid problem choices: moe_placement, openevolve, "),
    (["search.iterations=many"], "search.iterations='many': expected an integer"),
    (["search.parent_selection=best"], "search.parent_selection='best': choose one of "
                                       "power_law, weighted, tournament, uniform"),
    (["+search.extra=1"], "unknown config key 'search.extra'"),
    (["problem=smtt_weighted", "problem.weighted=maybe"],
     "problem.weighted='maybe': expected true or false"),
    (["problem=spot_single", "problem.suite=x"], "problem.suite='x': choose one of leaderboard"),
    (["problem=spot_multi", "problem.deadline_hours=10"],
     "problem.deadline_hours=10: shorter than the job (48 h)"),
    (["problem=moe_placement", "problem.shapes.num_gpus=0"],
     "problem.shapes.num_gpus=0: must be >= 1"),
    (["llm=ensemble", "llm.models.1.weight=-1"], "llm.models[1].weight=-1: must be >= 0"),
    (["llm=openai", "llm.modes.diff=0", "llm.modes.rewrite=0"],
     "llm.modes: diff and rewrite probabilities are both 0"),
])
def test_mistakes_are_one_line(overrides, message):
    with pytest.raises(ConfigError) as e:
        validate(compose(overrides))
    assert str(e.value).startswith(message), str(e.value)
    assert "\n" not in str(e.value)


def test_config_error_turns_hydras_own_exceptions_into_the_same_line():
    """What a hydra.main app gets from Hydra's own compose, config_error makes one line of."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    config.register()
    for overrides, message in ((["search.islands=abc"], "search.islands='abc': expected an "),
                               (["search.islandz=2"], "unknown config key 'search.islandz'"),
                               (["llm=nope"], "unknown llm 'nope'"),
                               (["search.islands"], "Error parsing override 'search.islands'")):
        GlobalHydra.instance().clear()
        with initialize_config_module("evolve.conf", version_base=None), \
                pytest.raises(Exception) as e:
            hydra_compose("config", overrides=overrides)
        GlobalHydra.instance().clear()
        assert str(config_error(e.value)).startswith(message), str(config_error(e.value))


def test_problems_built_from_plain_dicts_get_the_same_checks_and_defaults():
    with pytest.raises(ProblemError, match=r"^problem\.gate_instances=-1: must be >= 0$"):
        make_problem({"target": "evolve.problems.smtt:SmttProblem", "gate_instances": -1})
    with pytest.raises(ProblemError, match=r"^unknown config key 'problem\.gate_instance'"):
        make_problem({"target": "evolve.problems.smtt:SmttProblem", "gate_instance": 3})
    p = make_problem({"target": "evolve.problems.smtt:SmttProblem"})
    assert p.conf.gate_instances == 20 and list(p.conf.tf) == [0.2, 0.4, 0.6, 0.8]


def test_a_user_problem_without_schema_is_open_but_its_engine_keys_are_typed():
    dirs = [str(ROOT / "tests" / "conf")]
    cfg = compose(["problem=sorting", "problem.n=12"], dirs)
    validate(cfg)
    assert cfg.problem.n == 12 and cfg.problem.name == "sorting"
    with pytest.raises(ConfigError, match=r"^problem\.preload='x': expected a list$"):
        validate(compose(["problem=sorting", "+problem.preload=x"], dirs))
    with pytest.raises(ConfigError, match=r"^unknown config key 'problem\.nn'"):
        compose(["problem=sorting", "problem.nn=3"], dirs)
    plain = OmegaConf.create(OmegaConf.to_container(cfg))
    del plain.problem["seed_program"]
    with pytest.raises(ConfigError, match=r"^problem\.seed_program: missing"):
        validate(plain)


def test_a_saved_config_from_before_loads_on_the_schema(monkeypatch):
    saved = OmegaConf.to_container(compose([]), enum_to_str=True)
    assert isinstance(saved, dict)
    del saved["search"]["tournament_k"]  # a key added since
    saved["search"]["old_knob"] = 3  # a key since removed
    saved["search"]["islnds"] = 3  # a key since renamed
    saved["problem"].pop("preload")
    monkeypatch.setattr(config, "RENAMED", {"search.islnds": "search.islands"})
    cfg = load_saved(saved)
    validate(cfg)
    assert cfg.search.tournament_k == 3 and cfg.search.islands == 3
    assert "old_knob" not in cfg.search and list(cfg.problem.preload) == []
    assert OmegaConf.get_type(cfg, "problem").__name__ == "SmttSchema"
    user = dict(saved, problem={"name": "sorting", "target": "x.py:S", "seed_program": "a",
                                "n": 3})
    assert load_saved(user).problem.n == 3


def test_smtt_weighted_is_its_own_problem_name():
    cfg = problem_config("smtt_weighted")
    assert (cfg["name"], cfg["weighted"], cfg["seed_program"]) == ("smtt_weighted", True, "wmdd")
    p = make_problem(cfg)
    assert p.name == "smtt_weighted" and p.seeds_root().name == "smtt"
    assert p.seed_path("wmdd").parent.name == "smtt"
    from evolve.trust import registered_targets, trusted_problem_cfg

    assert any(where == "built-in:smtt" for _, where in registered_targets().values())
    assert trusted_problem_cfg(cfg)["name"] == "smtt_weighted"


@pytest.mark.slow
def test_smtt_weighted_runs_under_its_own_folder(tmp_path):
    """A real run: the folder, `latest` and the archive's problem say smtt_weighted."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "evolve.app", "problem=smtt_weighted", "search.iterations=1",
           "evaluator.workers=1", "progress=false"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs" / "smtt_weighted" / "latest").is_symlink()
    assert not (tmp_path / "runs" / "smtt").exists()
    out = subprocess.run([sys.executable, "-m", "evolve.cli.archive", "runs",
                          str(tmp_path / "runs"), "--json"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert [r["problem"] for r in json.loads(out.stdout)] == ["smtt_weighted"]


# `evolve resume=` merging the saved config onto the typed schema (bad values are one line) is
# checked on the run of tests/test_engine_resume.py::test_resume_can_extend_the_budget (it had a
# run of its own here).
