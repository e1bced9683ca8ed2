"""`evolve ... llm=openai_compatible` against a loopback OpenAI-compatible server: LLM children with
tokens and cost recorded, and the scripted failures recorded without stopping the run."""

from __future__ import annotations

import importlib.util

import pytest

from tests.engine_util import SORTING, rows, run_evolve
from tests.llm_server import Reply, edit_generator, start_server

HAS_SMTT = hasattr(importlib.import_module("evolve.problems.smtt"), "SmttProblem")


@pytest.mark.parametrize("problem", [SORTING, ["problem=smtt"]], ids=["sorting", "smtt"])
def test_llm_run_records_children_tokens_and_cost(problem, tmp_path):
    if problem == ["problem=smtt"] and not HAS_SMTT:
        pytest.skip("smtt problem not available")
    scripted = ["no edit in this reply", Reply(status=429), Reply(status=500), Reply(content="")]
    srv = start_server(scripted, default=edit_generator())
    try:
        run_dir = tmp_path / "run"
        run_evolve(*problem, "llm=openai_compatible", f"llm.api_base={srv.url}",
                   "llm.model=openai/test-model", "llm.price.input=1", "llm.price.output=2",
                   "llm.retries=1", "llm.backoff_s=0.01", "search.iterations=8",
                   "search.concurrency=2", f"run_dir={run_dir}", "progress=false", timeout=600)
    finally:
        srv.stop()
    progs = rows(run_dir, "select proposer, status, model from programs where proposer != 'seed'")
    assert len(progs) == 8
    assert {p[0] for p in progs} <= {"llm_diff", "llm_rewrite", "llm_fix"}
    assert sum(p[1] == "ok" for p in progs) >= 4
    assert any(p[1] in ("diff_failed", "llm_error") for p in progs)
    calls = rows(run_dir, "select prompt_tokens, completion_tokens, cost_usd, error, program_id "
                          "from llm_calls")
    assert len(calls) >= 8
    good = [c for c in calls if c[3] is None]
    assert good and all(c[0] > 100 and c[1] > 0 and c[2] > 0 for c in good)
    assert all(c[4] is not None for c in calls)  # every call is tied to the program it made
