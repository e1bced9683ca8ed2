"""The LLM proposer: prompt from parent, inspirations and failures; model reply to child program.

`propose()` never raises for a bad reply or a failed call: it returns a Proposal whose `failure` is
`llm_error` (the call failed, was empty or too long) or `diff_failed` (the reply could not be
applied, or the child is a near-duplicate), with the reason in `error` and the CallRecord(s).
"""

from __future__ import annotations

import logging
from typing import Any

from evolve.llm.client import Completion, LLMClient, preload
from evolve.llm.edits import DiffError, child_from_reply
from evolve.llm.errors import ConfigError
from evolve.llm.local import LocalServer
from evolve.llm.novelty import NoveltyFilter
from evolve.llm.prompts import PromptBuilder
from evolve.llm.selection import choose_mode, choose_model
from evolve.llm.settings import LLMSettings, ModelSpec, parse_settings
from evolve.program import BLOCK_END, BLOCK_START
from evolve.proposers.base import (
    CallRecord,
    ProblemInfo,
    ProgramView,
    Proposal,
    ProposalContext,
    Proposer,
    unified_diff,
)

log = logging.getLogger(__name__)


def _view(id: int, code: str, status: str = "ok", score: float | None = 1.0, metrics=None,
          feedback: str = "", error: str = "") -> ProgramView:
    return ProgramView(id=id, iteration=id, island=0, generation=id, parent_id=None, code=code,
                       status=status, score=score, metrics=metrics or {}, feedback=feedback,
                       error=error, proposer="llm_diff", operator="diff", model=None,
                       behaviour=None, improved=False)


def synthetic_program(chars: int, entry: str) -> str:
    """A Python-like program of about `chars` characters (for the start-up window check)."""
    lines = ["import numpy as np", "", BLOCK_START, f"def {entry}(a, b):"]
    i, size = 0, 0
    while size < chars:
        line = f"    acc_{i + 1} = acc_{i} * 0.5 + a[{i % 7}] - b[{i % 5}]  # step {i}"
        lines.append(line)
        size += len(line) + 1
        i += 1
    lines += [f"    return acc_{i}", BLOCK_END, ""]
    return "\n".join(lines)


class LLMProposer(Proposer):
    """Asks a model, or one model of an ensemble, for a child: SEARCH/REPLACE diff, rewrite or
    fix."""

    def __init__(self, llm_cfg: dict, proposer_cfg: dict, problem_info: ProblemInfo):
        self.settings: LLMSettings = parse_settings(llm_cfg)
        self.proposer_cfg = dict(proposer_cfg or {})
        self.problem = problem_info
        s = self.settings
        self.clients: dict[str, LLMClient] = {}
        for spec in s.models:
            self.clients.setdefault(spec.model, LLMClient(spec, s.timeout_s, s.retries, s.backoff_s,
                                                          s.max_backoff_s, s.max_reply_chars))
        preload({c.transport for c in self.clients.values()})
        self.prompts = PromptBuilder(problem_info, s.prompt)
        self.novelty = (NoveltyFilter(float(s.novelty["threshold"])) if s.novelty["enabled"]
                        else None)
        self.local = LocalServer(s.local_server) if s.local_server else None

    # ---- start-up -------------------------------------------------------------------------
    async def start(self, sample_code: str | None = None) -> None:
        """Refuse to start without API keys or when the largest prompt overflows a model window."""
        for client in self.clients.values():
            client.api_key()
        self.check_context(sample_code)
        if self.local is not None:
            url = await self.local.start()
            for client in self.clients.values():
                client.spec.api_base = url

    async def close(self) -> None:
        if self.local is not None:
            await self.local.close()

    def largest_prompt(self, sample_code: str | None = None) -> list[dict]:
        """The biggest messages the config allows: every inspiration and failure at full size."""
        p = self.settings.prompt
        chars = max(int(p["check_code_chars"]), len(sample_code or ""))
        code = synthetic_program(chars, self.problem.entry or "solve")
        feedback = "x " * (int(p["max_feedback_chars"]) // 2)
        metrics = {f"metric_{i}": 0.123456 * i for i in range(12)}
        parent = _view(0, code, metrics=metrics, feedback=feedback)
        # distinct code each: the prompt drops an inspiration that repeats the parent
        insp = [_view(i + 1, f"{code}\n# variant {i + 1}\n", metrics=metrics)
                for i in range(int(p["max_inspirations"]))]
        fails = [_view(100 + i, code, status="runtime_error", score=None, error=feedback)
                 for i in range(int(p["max_failures"]))]
        failed_parent = _view(0, code, status="runtime_error", score=None, error=feedback,
                              feedback=feedback)
        candidates = [self.prompts.messages(m, parent, insp, fails) for m in ("diff", "rewrite")]
        candidates.append(self.prompts.messages("fix", failed_parent, insp, fails))
        return max(candidates, key=lambda msgs: sum(len(m["content"]) for m in msgs))

    def check_context(self, sample_code: str | None = None) -> dict[str, int]:
        """Tokens of the largest prompt per model; ConfigError when it does not fit a window."""
        messages = self.largest_prompt(sample_code)
        p = self.settings.prompt
        out = {}
        for name, client in self.clients.items():
            tokens = client.count_tokens(messages, remember=True)
            out[name] = tokens
            window = client.context_window()
            if window is None:
                log.info("%s: context window unknown (set llm.context_window); check skipped", name)
                continue
            if tokens + client.spec.max_tokens > window:
                raise ConfigError(
                    f"{name}: the largest prompt (~{tokens} tokens: {p['max_inspirations']} "
                    f"inspirations, {p['max_failures']} failures, programs of "
                    f"{p['check_code_chars']} chars) plus max_tokens={client.spec.max_tokens} "
                    f"exceeds its {window}-token window; lower llm.prompt.max_inspirations / "
                    "llm.max_tokens or raise llm.context_window")
        return out

    # ---- proposing ------------------------------------------------------------------------
    def _fit(self, client: LLMClient, mode: str,
             ctx: ProposalContext) -> tuple[list[dict], str | None]:
        """Messages that fit the window: inspirations, then failures, are dropped while too long."""
        p = self.settings.prompt
        insp = list(ctx.inspirations[: int(p["max_inspirations"])])
        fails = list(ctx.failures[-int(p["max_failures"]):]) if int(p["max_failures"]) else []
        window = client.context_window()
        while True:
            messages = self.prompts.messages(mode, ctx.parent, insp, fails)
            if window is None:
                return messages, None
            tokens = client.count_tokens(messages)
            if tokens + client.spec.max_tokens <= window:
                return messages, None
            if insp:
                insp.pop()
            elif fails:
                fails.pop(0)
            else:
                return messages, (f"prompt of ~{tokens} tokens plus "
                                  f"max_tokens={client.spec.max_tokens} exceeds the {window}-token "
                                  f"window of {client.spec.model}")

    async def propose(self, ctx: ProposalContext) -> Proposal:
        s = self.settings
        mode = choose_mode(s, ctx.parent, ctx.history, ctx.rng)
        spec: ModelSpec = choose_model(s, ctx.history, ctx.rng)
        client = self.clients[spec.model]
        kind = f"llm_{mode}"
        messages, too_long = self._fit(client, mode, ctx)
        if too_long:
            rec = CallRecord(model=spec.model, mode=mode, prompt=messages, reply=None, attempts=0,
                             error=too_long)
            return Proposal(None, kind, mode, spec.model, calls=[rec], failure="llm_error",
                            error=too_long)
        done: Completion = await client.complete(messages)
        rec = CallRecord(model=spec.model, mode=mode, prompt=messages, reply=done.text,
                         prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens,
                         cost_usd=done.cost_usd, latency_s=done.latency_s, attempts=done.attempts,
                         error=done.error)
        base: dict[str, Any] = dict(proposer=kind, operator=mode, model=spec.model, calls=[rec])
        if done.error:
            log.info("iteration %d: %s llm_error: %s", ctx.iteration, spec.model, done.error[:200])
            return Proposal(None, failure="llm_error", error=done.error, **base)
        try:
            # an empty reply (content None, no error) is a diff failure, not a crash
            result = child_from_reply(done.text or "", ctx.parent.code)
        except DiffError as e:
            reason = str(e)
            if done.finish_reason == "length":
                reason += f" (the reply stopped at max_tokens={spec.max_tokens})"
            rec.error = f"diff_failed: {reason}"
            return Proposal(None, failure="diff_failed", error=reason, **base)
        diff = unified_diff(ctx.parent.code, result.code)
        if self.novelty is not None:
            rejected = self.novelty.reject_reason(result.code, ctx.history)
            if rejected:
                rec.error = f"diff_failed: {rejected}"
                return Proposal(None, diff=diff, failure="diff_failed", error=rejected, **base)
        if result.notes:
            log.debug("iteration %d: %s", ctx.iteration, "; ".join(result.notes))
        return Proposal(result.code, diff=diff, **base)
