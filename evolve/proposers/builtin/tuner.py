"""Proposer side of constant tuning: lift the literals, one sandbox call, write the best back."""

from __future__ import annotations

import logging
from typing import Any

from evolve.program import NO_GAIN, CandidateError, code_hash
from evolve.proposers.base import Proposal, ProposalContext, unified_diff
from evolve.proposers.builtin.lifting import lift
from evolve.proposers.builtin.scope import BlockFacts
from evolve.proposers.builtin.source import BlockSource, valid_child

log = logging.getLogger(__name__)

TUNE_FN = "evolve.proposers.builtin.tuning:tune_in_sandbox"


class Tuner:
    """Tunes a program's literals with CMA-ES inside one sandbox call (see tuning.py)."""

    def __init__(self, cfg: dict[str, Any], entry: str):
        self.cfg = cfg
        self.entry = entry

    def _comparable(self, res: dict[str, Any]) -> bool:
        """Whether tuning scores equal the engine's train scores (same sets, same summary, and
        no runtime term: tuning never times calls)."""
        return (str(self.cfg["sets"]) == "train" and not self.cfg.get("max_sets")
                and not res.get("timed"))

    async def tune(self, ctx: ProposalContext, src: BlockSource, facts: BlockFacts,
                   operator: str) -> Proposal | None:
        """A child with tuned literals of `src` (the parent, or a grown parent), a "tune" proposal
        without code when tuning found nothing better (`no_gain`) or the grown program fails
        (`diff_failed`), or None when tuning cannot run here."""
        t = self.cfg
        lifted = lift(src, facts, self.entry, ctx.rng, int(t["max_params"]))
        if lifted is None:
            return None
        payload = {
            "entry": self.entry, "template": lifted.template,
            "theta_code": lifted.theta_code, "x0": lifted.x0,
            # the budget is evaluations only (no seconds): tuning replays on any machine
            "seed": int(ctx.rng.integers(1, 2**31 - 1)), "max_evals": int(t["max_evals"]),
            "sigma0": float(t["sigma0"]),
            "sets": str(t["sets"]), "max_sets": t.get("max_sets"),
        }
        try:
            res = await ctx.sandbox.call(TUNE_FN, payload)
        except CandidateError as e:
            log.info("constant tuning failed in the sandbox: %s: %s", e.kind, e.message)
            return None
        if not res.get("ok"):
            if src.code != ctx.parent.code:  # the grown program fails: a failed proposal
                return Proposal(None, "tune", operator=operator, failure="diff_failed",
                                error=f"the grown program fails: {res.get('error')}")
            log.info("constant tuning could not start: %s", res.get("error"))
            return None
        # beat the parent: its archived train score when the tuning sets are the train split
        bar = res["base_score"]
        if self._comparable(res) and ctx.parent.score is not None:
            bar = max(bar, float(ctx.parent.score))
        summary = (f"{res['evals']} evaluations ({res['mode']} mode) on the {res['sets']} sets: "
                   f"score {res['base_score']:.6g} -> {res['score']:.6g} (to beat: {bar:.6g})")
        child = lifted.write(res["values"])
        if res["score"] <= bar or code_hash(child) == code_hash(ctx.parent.code):
            # a step that worked and found nothing better: `no_gain`, not a failure
            return Proposal(None, "tune", operator=operator, failure=NO_GAIN,
                            error=f"constant tuning found no improvement: {summary}")
        why = valid_child(child)
        if why is not None:
            return Proposal(None, "tune", operator=operator, failure="diff_failed", error=why)
        log.debug("constant tuning: %s", summary)
        return Proposal(child, "tune", operator=operator, diff=unified_diff(ctx.parent.code, child))
