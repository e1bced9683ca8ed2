"""The built-in (no-LLM) proposer: AST mutation, crossover and constant tuning of the block."""

from __future__ import annotations

import copy
import logging
from typing import Any

from evolve.program import CandidateError, code_hash
from evolve.proposers.bandit import OperatorBandit
from evolve.proposers.base import ProblemInfo, Proposal, ProposalContext, Proposer, ProgramView
from evolve.proposers.crossover import Crossover
from evolve.proposers.exprgen import ExprGen
from evolve.proposers.lifting import lift, tunable
from evolve.proposers.mutation import Mutator
from evolve.proposers.scope import BlockFacts, analyze
from evolve.proposers.source import BlockSource, unified_diff, valid_child

log = logging.getLogger(__name__)

TUNE = "cmaes"  # the tuning arm and the operator its children record
TUNE_FN = "evolve.proposers.tuning:tune_in_sandbox"
MUTATIONS = ("const_perturb", "op_swap", "cmp_swap", "expr_replace", "expr_wrap",
             "stmt_delete", "stmt_duplicate")
CROSSOVERS = ("xo_function", "xo_statement", "xo_subtree")
PLAIN = ("const_perturb", "expr_wrap", "expr_replace")  # fallback when no configured arm applies

DEFAULTS: dict[str, Any] = {
    "operators": {  # prior weight per operator; 0 switches one off
        "const_perturb": 1.0, "op_swap": 0.5, "cmp_swap": 0.3, "expr_replace": 1.0,
        "expr_wrap": 1.0, "stmt_delete": 0.2, "stmt_duplicate": 0.2,
        "xo_function": 0.3, "xo_statement": 0.5, "xo_subtree": 0.5, "cmaes": 0.5,
    },
    "bandit": {"window": 200, "prior_n": 4.0, "floor": 0.1},
    "expr_depth": 2,
    "const_prob": 0.25,
    "rel_step": 0.3,
    "abs_step": 1.0,
    "max_attempts": 16,
    "tune": {"max_params": 6, "max_evals": 48, "max_seconds": 20.0, "sigma0": 0.3,
             "sets": "gate", "max_sets": None},
}


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def _parse(code: str) -> tuple[BlockSource, BlockFacts] | None:
    try:
        src = BlockSource(code)
    except (CandidateError, SyntaxError, ValueError):
        return None
    return src, analyze(src.tree, src.module, src.block_line)


class BuiltinProposer(Proposer):
    """Edits the EVOLVE-BLOCK directly; a bandit over operators picks what has worked."""

    def __init__(self, cfg: dict, problem_info: ProblemInfo):
        cfg = dict(cfg or {})
        section = cfg.get("builtin", cfg)  # the `proposer` section, or its `builtin` part
        self.cfg = _merge(DEFAULTS, dict(section or {}))
        unknown = set(self.cfg["operators"]) - set(MUTATIONS) - set(CROSSOVERS) - {TUNE}
        if unknown:
            raise ValueError(f"proposer.builtin.operators: unknown operator(s) {sorted(unknown)}")
        self.problem = problem_info
        b = self.cfg["bandit"]
        self.bandit = OperatorBandit(self.cfg["operators"], b["window"], b["prior_n"], b["floor"])
        self._hashes: dict[int, str] = {}

    # ---- the proposal ---------------------------------------------------------------------
    async def propose(self, ctx: ProposalContext) -> Proposal:
        parsed = _parse(ctx.parent.code)
        if parsed is None:
            return Proposal(None, "mutation", failure="diff_failed",
                            error="the parent's EVOLVE-BLOCK does not parse")
        src, facts = parsed
        rng = ctx.rng
        gen = ExprGen(facts, rng, ctx.problem.primitives, int(self.cfg["expr_depth"]),
                      float(self.cfg["const_prob"]))
        mut = Mutator(src, facts, gen, rng, float(self.cfg["rel_step"]),
                      float(self.cfg["abs_step"]))
        mates = self._mates(ctx)
        arms = [op for op in MUTATIONS if mut.applicable(op)]
        if mates:
            arms += list(CROSSOVERS)
        if self._can_tune(ctx, facts):
            arms.append(TUNE)
        seen = self._seen(ctx)
        arms = [a for a in arms if a in self.bandit.weights]
        fallback = not arms
        if fallback:  # nothing configured applies (e.g. only tuning, no sandbox): plain mutation
            arms = [op for op in PLAIN if mut.applicable(op)]
        fails: dict[str, int] = {}
        last = "no operator applies to this block"
        for _ in range(int(self.cfg["max_attempts"])):
            if not arms:
                break
            op = arms[0] if fallback else self.bandit.choose(ctx.history, arms, rng)
            if op == TUNE:
                arms.remove(TUNE)
                prop = await self._tune(ctx, src, facts)
                if prop is not None:
                    return prop
                last = "constant tuning could not run"
                if not arms:  # tuning was all that applied: a plain mutation instead
                    fallback, arms = True, [op for op in PLAIN if mut.applicable(op)]
                continue
            mate = mates[int(rng.integers(len(mates)))] if op in CROSSOVERS else None
            try:
                if mate is not None:
                    xo = Crossover(src, facts, mate[1], mate[2], rng)
                    edits = xo.ops[op]()
                else:
                    edits = mut.ops[op]()
                child = src.apply(edits) if edits else None
            except Exception as e:  # noqa: BLE001 - an operator bug must not stop the run
                log.debug("operator %s failed: %s", op, e, exc_info=True)
                child, last = None, f"{op}: {type(e).__name__}: {e}"
            if child is not None:
                why = valid_child(child)
                if why is None and code_hash(child) in seen:
                    why = "the child repeats a known program"
                if why is None:
                    kind = "crossover" if mate is not None else "mutation"
                    return Proposal(child, kind, operator=op, diff=unified_diff(ctx.parent.code, child),
                                    mates=[mate[0].id] if mate is not None else [])
                last = f"{op}: {why}"
            fails[op] = fails.get(op, 0) + 1
            if fails[op] >= 3:
                arms.remove(op)
        return Proposal(None, "mutation", failure="diff_failed", error=last)

    # ---- helpers --------------------------------------------------------------------------
    def _mates(self, ctx: ProposalContext) -> list[tuple[ProgramView, BlockSource, BlockFacts]]:
        out = []
        for p in ctx.inspirations:
            if p.id == ctx.parent.id or p.code == ctx.parent.code:
                continue
            parsed = _parse(p.code)
            if parsed is not None:
                out.append((p, *parsed))
        return out

    def _seen(self, ctx: ProposalContext) -> set[str]:
        """Hashes of the parent and every program in the history (no re-evaluating them)."""
        for p in [ctx.parent, *ctx.history]:
            if p.id not in self._hashes:
                self._hashes[p.id] = code_hash(p.code)
        return {self._hashes[p.id] for p in [ctx.parent, *ctx.history]}

    def _can_tune(self, ctx: ProposalContext, facts: BlockFacts) -> bool:
        # a tuned parent already sits at a local optimum of the same tuning sets
        return (ctx.sandbox is not None and ctx.parent.ok and ctx.parent.proposer != "tune"
                and bool(tunable(facts)))

    async def _tune(self, ctx: ProposalContext, src: BlockSource, facts: BlockFacts) -> Proposal | None:
        """One sandbox call running CMA-ES on the lifted literals; None when it cannot run."""
        t = self.cfg["tune"]
        lifted = lift(src, facts, self.problem.entry, ctx.rng, int(t["max_params"]))
        if lifted is None:
            return None
        payload = {
            "entry": self.problem.entry, "template": lifted.template,
            "theta_code": lifted.theta_code, "x0": lifted.x0,
            "seed": int(ctx.rng.integers(1, 2**31 - 1)), "max_evals": int(t["max_evals"]),
            "max_seconds": float(t["max_seconds"]), "sigma0": float(t["sigma0"]),
            "sets": str(t["sets"]), "max_sets": t.get("max_sets"),
        }
        try:
            res = await ctx.sandbox.call(TUNE_FN, payload)
        except CandidateError as e:
            log.info("constant tuning failed in the sandbox: %s: %s", e.kind, e.message)
            return None
        if not res.get("ok"):
            log.info("constant tuning could not start: %s", res.get("error"))
            return None
        summary = (f"{res['evals']} evaluations ({res['mode']} mode) on the {res['sets']} sets: "
                   f"score {res['base_score']:.6g} -> {res['score']:.6g}")
        child = lifted.write(res["values"])
        if res["score"] <= res["base_score"] or code_hash(child) == code_hash(ctx.parent.code):
            return Proposal(None, "tune", operator=TUNE, failure="diff_failed",
                            error=f"constant tuning found no improvement: {summary}")
        why = valid_child(child)
        if why is not None:
            return Proposal(None, "tune", operator=TUNE, failure="diff_failed", error=why)
        log.debug("constant tuning: %s", summary)
        return Proposal(child, "tune", operator=TUNE, diff=unified_diff(ctx.parent.code, child))
