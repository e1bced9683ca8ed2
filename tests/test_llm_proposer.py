"""LLMProposer against a loopback OpenAI-compatible server, through the real openai and litellm
clients.

Each scripted reply must give the right Proposal (child or failure kind), and every outcome carries
its CallRecord (prompt, reply, tokens, cost, latency, attempts, error) without raising.
"""

import asyncio

import numpy as np
import pytest

from evolve.llm import ConfigError
from evolve.program import check_syntax, split_blocks
from evolve.proposers.base import ProblemInfo, ProgramView, ProposalContext
from evolve.proposers.llm import LLMProposer
from tests.llm_server import LLMServer, Reply, edit_generator

PARENT = '''"""Single-machine total tardiness: the order in which to run the jobs."""
import numpy as np

# litellm's types make pydantic warn at the first call; pytest resets the filter litellm() sets.
pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly. qualifier:UserWarning")


# EVOLVE-BLOCK-START
def schedule(p, d):
    """Earliest due date, ties broken by a share of the processing time."""
    n = p.shape[0]
    key = np.empty(n)
    for j in range(n):
        key[j] = d[j] + 0.5 * p[j]
    return np.argsort(key, kind="stable")
# EVOLVE-BLOCK-END
'''

INFO = ProblemInfo(
    name="toy_smtt",
    entry="schedule",
    signature="def schedule(p: np.ndarray[int], d: np.ndarray[int]) -> np.ndarray[int]",
    description="Order n jobs on one machine to minimise the total tardiness sum(max(0, C_j - "
                "d_j)).",
)


def view(id, code=PARENT, status="ok", score=0.8, error="", proposer="seed", model=None,
         improved=False, cost=0.0, operator=None):
    return ProgramView(id=id, iteration=id, island=0, generation=0, parent_id=None, code=code,
                       status=status, score=score if status == "ok" else None,
                       metrics={"gap_pct": 12.5, "tardiness": 3021.0} if status == "ok" else {},
                       feedback="worst set: n=100, gap 31% to the optimum", error=error,
                       proposer=proposer, operator=operator, model=model, behaviour=None,
                       improved=improved, cost_usd=cost)


def context(parent=None, failures=(), history=None, seed=0):
    parent = parent or view(1)
    return ProposalContext(iteration=5, island=0, rng=np.random.default_rng(seed), parent=parent,
                           inspirations=[view(2, code=PARENT + "\n# another program\n",
                                              score=0.7)], history=history or [parent],
                           problem=INFO, failures=list(failures))


@pytest.fixture(scope="module")
def server():
    with LLMServer() as srv:
        yield srv


@pytest.fixture
def srv(server):
    server.queue.clear()
    server.requests.clear()
    server.usages.clear()
    server.auth.clear()
    server.default = None
    return server


@pytest.fixture(params=["openai", "litellm"])
def client_kind(request):
    """The library that sends the requests: the openai SDK (the default for `openai/` models)
    or litellm (every other provider); both must map each outcome the same way."""
    return request.param


def make(srv, **over):
    cfg = {"model": "openai/test-model", "api_base": srv.url,
           "price": {"input": 2.0, "output": 8.0},
           "timeout_s": 2.0, "retries": 2, "backoff_s": 0.01, "max_backoff_s": 0.05,
           "modes": {"diff": 1.0, "rewrite": 0.0}}
    cfg.update(over)
    return LLMProposer(cfg, {}, INFO)


def propose(prop, ctx=None):
    return asyncio.run(prop.propose(ctx or context()))


def sr(search, replace):
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


KEY_LINE = "        key[j] = d[j] + 0.5 * p[j]"
GOOD = "Weigh processing times more.\n" + sr(KEY_LINE, "        key[j] = d[j] + 0.9 * p[j]")


def test_good_diff_makes_a_child_with_tokens_and_cost(srv):
    srv.push(GOOD)
    prop = make(srv)
    out = propose(prop)
    assert out.failure is None and out.error is None
    assert (out.proposer == "llm_diff" and out.operator == "diff"
            and out.model == "openai/test-model")
    assert "0.9 * p[j]" in out.code
    check_syntax(out.code)
    assert "+        key[j] = d[j] + 0.9 * p[j]" in out.diff
    (rec,) = out.calls
    usage = srv.usages[-1]
    assert (rec.prompt_tokens, rec.completion_tokens) == (usage["prompt_tokens"],
                                                          usage["completion_tokens"])
    assert rec.cost_usd == pytest.approx((2.0 * rec.prompt_tokens
                                          + 8.0 * rec.completion_tokens) / 1e6)
    assert rec.reply == GOOD and rec.error is None and rec.attempts == 1 and rec.latency_s > 0
    # The prompt sent is the one recorded, and it shows the parent, its score and feedback.
    assert srv.requests[-1]["messages"] == rec.prompt
    user = rec.prompt[1]["content"]
    assert "## Parent program (program 1" in user and "Score: 0.8" in user and "gap 31%" in user
    assert "### Program 2: score 0.7" in user and "<<<<<<< SEARCH" in user
    assert "minimise the total tardiness" in rec.prompt[0]["content"]
    assert INFO.signature in rec.prompt[0]["content"]


def test_multi_block_diff(srv):
    srv.push("Two edits.\n```\n" + sr("    n = p.shape[0]", "    n = p.shape[0]\n    w = 0.25")
             + "```\n```\n" + sr(KEY_LINE, "        key[j] = d[j] + w * p[j]") + "```")
    out = propose(make(srv))
    assert out.failure is None
    assert "    w = 0.25\n" in out.code and "d[j] + w * p[j]" in out.code
    check_syntax(out.code)


def test_fenced_full_rewrite(srv):
    blocks = split_blocks(PARENT)
    new = "def schedule(p, d):\n    return np.argsort(np.maximum(d, p), kind=\"stable\")\n"
    srv.push(f"Modified due dates.\n\n```python\n{blocks.prefix}{new}{blocks.suffix}```\n")
    out = propose(make(srv, modes={"diff": 0.0, "rewrite": 1.0}))
    assert out.failure is None and out.proposer == "llm_rewrite" and out.operator == "rewrite"
    assert split_blocks(out.code).block == new
    assert "complete new program" in out.calls[0].prompt[1]["content"]


@pytest.mark.parametrize("reply, reason", [
    ("Sure! Here is a better heuristic: sort by due date.", "neither SEARCH/REPLACE"),
    (sr("    n = p.shape[0]\n    key = np.zeros(n)", "    n = len(p)"), "np.zeros(n)"),
    ("<<<<<<< SEARCH\n    n = p.shape[0]\n>>>>>>> REPLACE\n", "no ======= line"),
    (sr("import numpy as np", "import numpy as np\nimport os"), "outside the EVOLVE-BLOCK"),
    (sr("# EVOLVE-BLOCK-END", "x = 1\n# EVOLVE-BLOCK-END"), "markers"),
])
def test_bad_diffs_are_diff_failed_with_reason(srv, reply, reason):
    srv.push(reply)
    out = propose(make(srv))
    assert out.code is None and out.failure == "diff_failed"
    assert reason in out.error
    (rec,) = out.calls
    assert rec.reply == reply and rec.error == f"diff_failed: {out.error}"
    assert rec.prompt_tokens > 0 and rec.cost_usd > 0  # the call was paid for


def test_partial_diff_cut_at_max_tokens(srv):
    srv.push(Reply(content="Idea.\n<<<<<<< SEARCH\n    n = p.shape[0]\n=======\n    n = le",
                   finish_reason="length"))
    out = propose(make(srv, max_tokens=64))
    assert out.failure == "diff_failed"
    assert "incomplete" in out.error and "max_tokens=64" in out.error
    assert srv.requests[-1]["max_tokens"] == 64


def test_rate_limit_then_success_is_retried(srv, client_kind):
    srv.push(Reply(status=429), Reply(status=503), GOOD)
    out = propose(make(srv, client=client_kind))
    assert out.failure is None and out.calls[0].attempts == 3 and len(srv.requests) == 3


def test_retry_after_header_is_honoured(srv, client_kind):
    srv.push(Reply(status=429, headers={"Retry-After": "0.4"}), GOOD)
    out = propose(make(srv, client=client_kind, backoff_s=0.001, max_backoff_s=5.0))
    assert out.failure is None and out.calls[0].attempts == 2
    assert out.calls[0].latency_s >= 0.2  # 0.4 s with -50% jitter at most


def test_persistent_500s_give_llm_error_after_retries(srv, client_kind):
    srv.push(*[Reply(status=500)] * 3)
    out = propose(make(srv, client=client_kind, retries=2))
    assert out.code is None and out.failure == "llm_error"
    assert "InternalServerError" in out.error and "after 3 attempts" in out.error
    (rec,) = out.calls
    assert rec.attempts == 3 and rec.error == out.error and rec.reply is None and rec.cost_usd == 0
    assert len(srv.requests) == 3


def test_client_errors_are_not_retried(srv, client_kind):
    srv.push(Reply(status=400), GOOD)
    out = propose(make(srv, client=client_kind))
    assert out.failure == "llm_error" and out.calls[0].attempts == 1 and len(srv.requests) == 1
    srv.queue.clear()


def test_hang_past_the_timeout(srv, client_kind):
    srv.push(Reply(hang_s=5, content=GOOD), Reply(hang_s=5, content=GOOD))
    out = propose(make(srv, client=client_kind, timeout_s=0.4, retries=1))
    assert out.failure == "llm_error" and "Timeout" in out.error
    (rec,) = out.calls
    assert rec.attempts == 2 and 0.8 <= rec.latency_s < 4.0


def test_hang_then_success(srv, client_kind):
    srv.push(Reply(hang_s=5, content=GOOD), GOOD)
    out = propose(make(srv, client=client_kind, timeout_s=0.4, retries=1))
    assert out.failure is None and out.calls[0].attempts == 2


@pytest.mark.parametrize("content", ["", "   \n", None])
def test_empty_reply_is_llm_error(srv, content, client_kind):
    srv.push(Reply(content=content))
    out = propose(make(srv, client=client_kind))
    assert out.failure == "llm_error" and "empty reply" in out.error
    assert out.calls[0].error == out.error and out.calls[0].prompt_tokens > 0


def test_reply_over_the_size_cap_is_refused(srv):
    srv.push("x" * 5000 + "\n" + GOOD)
    out = propose(make(srv, max_reply_chars=1000))
    assert out.failure == "llm_error" and "max_reply_chars=1000" in out.error
    assert len(out.calls[0].reply) == 1000


def test_malformed_json_body_is_llm_error(srv, client_kind):
    srv.push(*[Reply(body="{not json")] * 3)
    out = propose(make(srv, client=client_kind))
    assert out.failure == "llm_error" and out.calls[0].error


def test_failed_parent_gets_a_fix_prompt_with_its_error(srv):
    broken = PARENT.replace("np.empty(n)", "np.emty(n)")
    parent = view(7, code=broken, status="runtime_error",
                  error="AttributeError: module 'numpy' has no attribute 'emty'")
    srv.push(sr("    key = np.emty(n)", "    key = np.empty(n)"))
    out = propose(make(srv), context(parent=parent))
    assert out.failure is None and out.proposer == "llm_fix" and out.operator == "fix"
    assert "np.empty(n)" in out.code
    user = out.calls[0].prompt[1]["content"]
    assert "Status: runtime_error" in user and "has no attribute 'emty'" in user
    assert "smallest change" in user


def test_lineage_failures_are_fed_back(srv):
    failures = [view(11, status="diff_failed", proposer="llm_diff", operator="diff",
                     error="edit 1: SEARCH does not match the EVOLVE-BLOCK: its first line 'foo' "
                           "is not in it"),
                view(12, status="timeout", proposer="llm_rewrite", operator="rewrite",
                     error="evaluation exceeded 60 s")]
    srv.push(GOOD)
    out = propose(make(srv), context(failures=failures))
    user = out.calls[0].prompt[1]["content"]
    assert "Recent failed attempts" in user
    assert "program 11 (diff): diff_failed: edit 1: SEARCH does not match" in user
    assert "program 12 (rewrite): timeout: evaluation exceeded 60 s" in user


def test_known_model_is_priced_from_litellms_map(srv, client_kind):
    from evolve.llm.client import litellm

    srv.push(GOOD)
    out = propose(make(srv, client=client_kind, model="openai/gpt-4.1-mini", price=None))
    rec = out.calls[0]
    info = litellm().model_cost["gpt-4.1-mini"]  # the map as litellm itself loads it
    expect = (rec.prompt_tokens * info["input_cost_per_token"]
              + rec.completion_tokens * info["output_cost_per_token"])
    assert rec.cost_usd == pytest.approx(expect) and rec.cost_usd > 0


def test_a_run_of_mixed_outcomes_keeps_going(srv, client_kind):
    """The scripted sequence a run may meet, through one proposer: every outcome recorded."""
    srv.default = edit_generator()
    srv.push(GOOD, "no diff at all", Reply(status=429), GOOD, Reply(content=""), Reply(status=500),
             Reply(status=500), Reply(status=500))
    prop = make(srv, client=client_kind)
    kinds = [propose(prop, context(seed=i)).failure for i in range(6)]
    assert kinds == [None, "diff_failed", None, "llm_error", "llm_error", None]
    assert len(srv.requests) == 9


def test_missing_api_key_refuses_to_start(srv, monkeypatch):
    monkeypatch.delenv("EVOLVE_TEST_KEY", raising=False)
    prop = make(srv, api_key_env="EVOLVE_TEST_KEY")
    with pytest.raises(ConfigError, match=r"^EVOLVE_TEST_KEY is not set"):
        asyncio.run(prop.start())
    monkeypatch.setenv("EVOLVE_TEST_KEY", "sk-test")
    asyncio.run(prop.start())
    srv.push(GOOD)
    assert propose(prop).failure is None


def test_the_key_is_sent_to_the_server(srv, monkeypatch, client_kind):
    monkeypatch.setenv("EVOLVE_TEST_KEY", "sk-secret-123")
    srv.push(GOOD, GOOD)
    propose(make(srv, client=client_kind, api_key_env="EVOLVE_TEST_KEY"))
    assert srv.auth[-1] == "Bearer sk-secret-123"
    # no key variable: a placeholder, as local servers expect some key
    propose(make(srv, client=client_kind))
    assert srv.auth[-1] == "Bearer sk-no-key-required"


def test_context_window_check(srv):
    prop = make(srv, context_window=2000)
    with pytest.raises(ConfigError, match="exceeds its 2000-token window"):
        asyncio.run(prop.start())
    tokens = make(srv, context_window=200_000).check_context()["openai/test-model"]
    # 3 inspirations + 3 failures + parent, each a program of ~6000 chars: thousands of tokens.
    assert 8_000 < tokens < 40_000


def test_prompt_is_trimmed_to_fit_the_window(srv):
    ctx = context()
    ctx.inspirations = [view(20 + i, code=f"{PARENT}\n# variant {i}\n", score=0.5)
                        for i in range(3)]
    probe = make(srv)
    client = probe.clients["openai/test-model"]
    full = client.count_tokens(probe.prompts.messages("diff", ctx.parent, ctx.inspirations, []))
    bare = client.count_tokens(probe.prompts.messages("diff", ctx.parent, [], []))
    assert bare < full
    srv.push(GOOD)
    prop = make(srv, context_window=1000 + (bare + full) // 2, max_tokens=1000)
    out = propose(prop, ctx)
    assert out.failure is None
    user = out.calls[0].prompt[1]["content"]
    assert "### Program 20" in user and "### Program 22" not in user  # the last ones went first
    too_small = make(srv, context_window=1000 + bare - 1, max_tokens=1000)
    out = propose(too_small, ctx)
    assert out.failure == "llm_error" and f"exceeds the {999 + bare}-token window" in out.error
    assert out.calls[0].attempts == 0 and out.calls[0].error == out.error


def test_rule_based_server_edits_any_parent_in_both_modes(srv):
    """The reply generator the end-to-end run uses: valid, distinct children from diffs and
    rewrites."""
    srv.default = edit_generator()
    prop = make(srv, modes={"diff": 0.5, "rewrite": 0.5, "adapt": False})
    outs = [propose(prop, context(seed=i)) for i in range(8)]
    assert all(o.failure is None for o in outs), [o.error for o in outs]
    assert {o.operator for o in outs} == {"diff", "rewrite"}
    for o in outs:
        check_syntax(o.code)
        assert split_blocks(o.code).prefix == split_blocks(PARENT).prefix
    assert len({o.code for o in outs}) >= 6
    rewrites = [o for o in outs if o.operator == "rewrite"]
    assert all(o.calls[0].completion_tokens > 60 for o in rewrites)  # the whole program came back


def test_openai_compatible_models_never_import_litellm():
    """litellm's import (about 5 s) is what a run with a local server waited for before its first
    request: the openai SDK path must not load it, for the window check, the call or the price."""
    import subprocess
    import sys

    from tests.engine_util import ROOT

    code = """
import asyncio, sys, threading
from tests.llm_server import LLMServer
from tests.test_llm_proposer import GOOD, INFO, context
from evolve.proposers.llm import LLMProposer
with LLMServer() as srv:
    srv.push(GOOD)
    prop = LLMProposer({"model": "openai/gpt-4.1-mini", "api_base": srv.url,
                        "modes": {"diff": 1.0, "rewrite": 0.0}}, {}, INFO)
    asyncio.run(prop.start())
    out = asyncio.run(prop.propose(context()))
    for t in threading.enumerate():
        if t.name.startswith("evolve-import"):
            t.join()
    assert out.failure is None, out.error
    assert out.calls[0].cost_usd > 0 and out.calls[0].prompt_tokens > 0
print(sorted(m for m in sys.modules if m.split(".")[0] == "litellm"))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_the_window_check_remembers_its_count_across_runs(tmp_path, monkeypatch):
    from evolve.llm import pricemap

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    msgs = [{"role": "system", "content": "sys"}, {"role": "user", "content": "hello world " * 50}]
    n = pricemap.count_messages_cached(msgs)
    assert n == pricemap.count_messages(msgs) > 100
    assert (tmp_path / "adrs-evolve" / "prompt_tokens.json").is_file()

    def no_tokenizer(messages):
        raise AssertionError("counted again")

    monkeypatch.setattr(pricemap, "count_messages", no_tokenizer)
    assert pricemap.count_messages_cached(msgs) == n  # the next run: no tokenizer needed
    with pytest.raises(AssertionError, match="counted again"):
        pricemap.count_messages_cached(msgs[1:])  # another prompt is counted
