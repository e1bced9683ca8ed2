"""Mode and model selection (weights, UCB bandit from the archive's history) and the novelty
filter."""

import asyncio
import math

import numpy as np
import pytest

from evolve.llm.novelty import NoveltyFilter, shingles, similarity
from evolve.llm.selection import choose_mode, choose_model, model_stats, ucb_index, ucb_scores
from evolve.llm.settings import parse_settings
from evolve.proposers.base import ProposalContext
from evolve.proposers.llm import LLMProposer
from tests.llm_server import LLMServer
from tests.test_llm_proposer import INFO, PARENT, sr, view

# litellm's types make pydantic warn at the first call; pytest resets the filter litellm() sets.
pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly. qualifier:UserWarning")


def child(id, mode="diff", status="ok", model="m", improved=False, cost=0.01):
    return view(id, status=status, proposer=f"llm_{mode}", operator=mode, model=model,
                improved=improved, cost=cost)


def settings(**over):
    return parse_settings({"model": "m", **over})


def test_fix_only_for_failed_parents():
    s = settings()
    rng = np.random.default_rng(0)
    failed = view(3, status="runtime_error", error="boom")
    assert {choose_mode(s, failed, [], rng) for _ in range(50)} == {"fix"}
    assert "fix" not in {choose_mode(s, view(1), [], rng) for _ in range(200)}
    not_evaluated = view(4, status="diff_failed", error="edit 1: SEARCH does not match")
    assert "fix" not in {choose_mode(s, not_evaluated, [], rng) for _ in range(200)}
    no_fix = settings(modes={"fix": 0.0})
    assert "fix" not in {choose_mode(no_fix, failed, [], rng) for _ in range(200)}


def test_modes_adapt_to_their_success_rate():
    s = settings(modes={"diff": 0.5, "rewrite": 0.5})
    history = ([child(i, "diff") for i in range(20)]
               + [child(100 + i, "rewrite", status="syntax_error") for i in range(20)])
    rng = np.random.default_rng(1)
    share = np.mean([choose_mode(s, view(1), history, rng) == "rewrite" for _ in range(4000)])
    # weights 0.5 * 21/22 (diff) vs 0.5 * 1/22 (rewrite): P(rewrite) = 1/22 = 0.045
    assert 0.03 < share < 0.065
    fixed = settings(modes={"diff": 0.5, "rewrite": 0.5, "adapt": False})
    share = np.mean([choose_mode(fixed, view(1), history, rng) == "rewrite" for _ in range(4000)])
    assert 0.46 < share < 0.54


def test_static_weights_and_determinism():
    s = settings(models=[{"model": "a", "weight": 3}, {"model": "b", "weight": 1}])
    rng1, rng2 = np.random.default_rng(7), np.random.default_rng(7)
    picks = [choose_model(s, [], rng1).model for _ in range(30)]
    assert picks == [choose_model(s, [], rng2).model for _ in range(30)]
    assert set(picks) == {"a", "b"}
    rng = np.random.default_rng(2)
    share_a = np.mean([choose_model(s, [], rng).model == "a" for _ in range(4000)])
    assert 0.72 < share_a < 0.78


def test_ucb_tries_every_model_then_prefers_improvement_per_dollar():
    s = settings(models=["cheap", "dear", "new"], selection={"strategy": "ucb", "ucb_c": 0.1})
    history = ([child(i, model="cheap", improved=i % 2 == 0, cost=0.001) for i in range(10)]
               + [child(20 + i, model="dear", improved=i % 2 == 0, cost=0.05) for i in range(10)])
    rng = np.random.default_rng(0)
    assert s.models[ucb_index(s, history, rng)].model == "new"  # untried first
    history += [child(40, model="new", improved=False, cost=0.01)]
    scores = ucb_scores(s, history)
    assert scores[0] > scores[1] and scores[0] > scores[2]
    assert s.models[ucb_index(s, history, rng)].model == "cheap"
    stats = model_stats(history, ["cheap", "dear", "new"])
    assert (stats["dear"].calls, stats["dear"].improved) == (10, 5)
    assert stats["dear"].cost_usd == pytest.approx(0.5)


def test_ucb_explores_a_rarely_tried_model():
    s = settings(models=["a", "b"], selection={"strategy": "ucb", "ucb_c": 1.0})
    history = ([child(i, model="a", improved=True, cost=0.01) for i in range(200)]
               + [child(500, model="b", improved=False, cost=0.01)])
    a, b = ucb_scores(s, history)
    assert b == pytest.approx(0 + math.sqrt(2 * math.log(201) / 1))
    assert b > a  # one try is not enough evidence against b


def test_free_models_get_a_finite_rate():
    s = settings(models=["local", "paid"], selection={"strategy": "ucb", "cost_floor_usd": 0.01})
    history = ([child(i, model="local", improved=i < 3, cost=0.0) for i in range(10)]
               + [child(20 + i, model="paid", improved=i < 3, cost=0.02) for i in range(10)])
    local, paid = ucb_scores(s, history)
    assert math.isfinite(local) and local > paid


def test_bandit_state_lives_in_the_history():
    """Two proposers (a run and its resumption) given the same history choose alike."""
    cfg = {"models": ["a", "b"], "api_base": "http://127.0.0.1:9/v1",
           "selection": {"strategy": "ucb"}}
    history = [view(1)] + [child(10 + i, model="a", improved=True) for i in range(5)] + \
              [child(30 + i, model="b") for i in range(5)]
    choices = []
    for _ in range(2):
        prop = LLMProposer(cfg, {}, INFO)
        ctx = ProposalContext(3, 0, np.random.default_rng(5), view(1), [], history, INFO)
        choices.append(choose_model(prop.settings, ctx.history, ctx.rng).model)
        assert model_stats(ctx.history, prop.settings.model_names)["a"].as_dict() == {
            "calls": 5, "ok": 5, "improved": 5, "cost_usd": 0.05}
        assert len(ucb_scores(prop.settings, ctx.history)) == 2
    assert choices == ["a", "a"]


# ---- novelty ---------------------------------------------------------------------------------
def test_similarity_ignores_comments_and_layout():
    a = shingles(PARENT)
    b = shingles(PARENT.replace("    n = p.shape[0]", "    n  =  p.shape[0]   # size"))
    assert similarity(a, b) == 1.0
    other = PARENT.replace("key[j] = d[j] + 0.5 * p[j]",
                           "key[j] = max(d[j], p[j]) - 0.5 * p[j] / (j + 1)")
    assert 0.5 < similarity(a, shingles(other)) < 0.95


def test_novelty_filter_rejects_near_duplicates_only():
    f = NoveltyFilter(threshold=0.95)
    history = [view(1), view(2, code=PARENT.replace("0.5 * p[j]", "0.9 * p[j]"))]
    dup = PARENT.replace("0.5 * p[j]", "0.9 * p[j]").replace("n = p.shape[0]",
                                                             "n = p.shape[0]  # n")
    assert "similar to program 2" in f.reject_reason(dup, history)
    new = PARENT.replace("np.argsort(key, kind=\"stable\")",
                         "np.argsort(key - p, kind=\"stable\")[::-1]")
    sim, _who = f.nearest(new, history)
    assert sim < 0.95 and f.reject_reason(new, history) is None


def test_proposer_skips_near_duplicate_children():
    twin = PARENT.replace("0.5 * p[j]", "0.9 * p[j]")
    with LLMServer() as srv:
        srv.push(sr("        key[j] = d[j] + 0.5 * p[j]", "        key[j] = d[j] + 0.9 * p[j]"))
        prop = LLMProposer({"model": "openai/t", "api_base": srv.url,
                            "price": {"input": 1, "output": 1},
                            "novelty": {"enabled": True, "threshold": 0.95}}, {}, INFO)
        history = [view(1), view(2, code=twin)]
        ctx = ProposalContext(3, 0, np.random.default_rng(0), view(1), [], history, INFO)
        out = asyncio.run(prop.propose(ctx))
    assert out.code is None and out.failure == "diff_failed"
    assert out.error.startswith("novelty filter") and "program 2" in out.error
    assert out.calls[0].error == f"diff_failed: {out.error}" and out.diff
