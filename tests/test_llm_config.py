"""The llm/ presets compose, validate and build an LLMProposer; bad keys and missing keys are one
line."""

import asyncio

import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra

from evolve import config as engine_config
from evolve.llm import ConfigError
from evolve.llm.settings import parse_settings
from evolve.proposers.llm import LLMProposer
from tests.test_llm_proposer import INFO

# litellm's types make pydantic warn at the first call; pytest resets the filter litellm() sets.
pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly. qualifier:UserWarning")

PRESETS = ["openai", "anthropic", "gemini", "ollama", "vllm", "openai_compatible", "ensemble"]
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY",
           "ensemble": "OPENAI_API_KEY"}


def llm_section(*overrides):
    GlobalHydra.instance().clear()
    with initialize_config_module("evolve.conf", version_base=None):
        cfg = compose("config", overrides=list(overrides))
    GlobalHydra.instance().clear()
    return cfg.llm


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_compose_and_build(preset, monkeypatch):
    section = llm_section(f"llm={preset}")
    assert "model" in section and "max_cost_usd" in section
    s = parse_settings(section)
    assert s.models and all(m.model for m in s.models)
    prop = LLMProposer(section, {}, INFO)
    env = KEY_ENV.get(preset)
    if env:
        monkeypatch.delenv(env, raising=False)
        with pytest.raises(ConfigError, match=f"^{env} is not set"):
            asyncio.run(prop.start())
        monkeypatch.setenv(env, "sk-test")
    asyncio.run(prop.start())  # keys present, largest prompt fits every window
    assert all(n > 1000 for n in prop.check_context().values())


def test_llm_config_error_is_the_engines_config_error():
    assert issubclass(ConfigError, engine_config.ConfigError)


def test_offline_default_has_no_model():
    section = llm_section()
    assert section.model is None and section.max_cost_usd is None
    with pytest.raises(ConfigError, match=r"llm\.model is not set"):
        parse_settings(section)


def test_command_line_overrides_reach_the_settings():
    s = parse_settings(llm_section("llm=openai_compatible", "llm.api_base=http://127.0.0.1:1234/v1",
                                   "llm.model=openai/qwen", "llm.retries=1",
                                   "llm.modes.rewrite=0.5"))
    (m,) = s.models
    assert (m.model, m.api_base, m.api_key_env) == ("openai/qwen", "http://127.0.0.1:1234/v1", None)
    assert s.retries == 1 and s.modes["rewrite"] == 0.5 and s.modes["diff"] == 0.8


def test_ensemble_entries_inherit_top_level_keys():
    s = parse_settings({"models": [{"model": "a", "weight": 2, "temperature": 0.1}, "b"],
                        "api_base": "http://127.0.0.1:1/v1", "temperature": 0.9,
                        "price": {"input": 1, "output": 2}})
    a, b = s.models
    assert (a.weight, a.temperature, b.weight, b.temperature) == (2.0, 0.1, 1.0, 0.9)
    assert a.api_base == b.api_base == "http://127.0.0.1:1/v1"
    assert b.price == {"input": 1.0, "output": 2.0}


@pytest.mark.parametrize("cfg, message", [
    ({"model": "m", "tempreature": 0.1},
     "unknown config key 'llm.tempreature' .valid keys under llm:"),
    ({"model": "m", "retries": "many"}, "llm.retries='many': expected an integer"),
    ({"model": "m", "timeout_s": -1}, "llm.timeout_s=-1: must be > 0"),
    ({"model": "m", "modes": {"dif": 1.0}}, "unknown config key 'llm.modes.dif'"),
    ({"model": "m", "modes": {"diff": 0, "rewrite": 0}}, "both 0"),
    ({"model": "m", "selection": {"strategy": "thompson"}},
     "llm.selection.strategy='thompson': choose one of weights, ucb"),
    ({"model": "m", "price": {"in": 1}}, "unknown config key 'llm.price.in'"),
    ({"models": [{"model": "a", "wieght": 1}]}, r"unknown config key 'llm.models\[0\].wieght'"),
    ({"models": [{"weight": 1}]}, r"llm.models\[0\].model: a litellm model string is required"),
    ({"model": "m", "novelty": {"threshold": 1.5}}, "llm.novelty.threshold=1.5"),
    ({"models": ["a", {"model": "a", "api_base": "http://127.0.0.1:2/v1"}]}, "a is listed twice"),
])
def test_bad_values_name_the_key(cfg, message):
    with pytest.raises(ConfigError, match=message):
        parse_settings(cfg)
