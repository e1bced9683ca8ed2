"""The built-in (no-LLM) proposer: AST mutation, crossover and constant tuning of the block."""

from __future__ import annotations

import copy
import functools
import logging
from typing import Any, NamedTuple

from evolve.program import CandidateError, code_hash
from evolve.proposers.base import (
    ProblemInfo,
    Proposal,
    ProposalContext,
    Proposer,
    unified_diff,
)
from evolve.proposers.builtin.bandit import OperatorBandit
from evolve.proposers.builtin.blocks import BlockLibrary, mine, seed_codes
from evolve.proposers.builtin.crossover import Crossover
from evolve.proposers.builtin.exprgen import ExprGen
from evolve.proposers.builtin.grow import GROWTH_OPS, BlockGrower
from evolve.proposers.builtin.lifting import tunable
from evolve.proposers.builtin.mutation import Mutator
from evolve.proposers.builtin.novelty import NoveltyFilter, canonical
from evolve.proposers.builtin.probe import PROBE_FN
from evolve.proposers.builtin.scope import BlockFacts, analyze
from evolve.proposers.builtin.source import BlockSource, valid_child
from evolve.proposers.builtin.tuner import Tuner

log = logging.getLogger(__name__)

TUNE = "cmaes"  # tune the parent's literals (the arm and the operator its children record)
GROW = "grow_cmaes"  # one structural mutation, then tune the literals of the result
GROWERS = ("expr_wrap", "feature_add", "expr_replace", "op_swap", "block_grow")
MUTATIONS = ("const_perturb", "op_swap", "cmp_swap", "expr_replace", "expr_wrap",
             "stmt_delete", "stmt_duplicate", "feature_add", "update_gate", *GROWTH_OPS)
CROSSOVERS = ("xo_function", "xo_statement", "xo_subtree", "xo_append")
PLAIN = ("const_perturb", "expr_wrap", "expr_replace")  # fallback when no configured arm applies

DEFAULTS: dict[str, Any] = {
    "operators": {  # prior weight per operator; 0 switches one off
        "const_perturb": 1.0, "op_swap": 0.5, "cmp_swap": 0.3, "expr_replace": 1.0,
        "expr_wrap": 1.0, "stmt_delete": 0.2, "stmt_duplicate": 0.2, "feature_add": 0.5,
        "update_gate": 0.5,
        "xo_function": 0.3, "xo_statement": 0.5, "xo_subtree": 0.5, "xo_append": 0.5,
        "cmaes": 0.5,
        "grow_cmaes": 0.5, "block_grow": 1.0, "block_swap": 0.5,
    },
    "bandit": {"window": 200, "prior_n": 4.0, "floor": 0.1},
    "expr_depth": 2,
    "const_prob": 0.25,
    "rel_step": 0.3,
    "abs_step": 1.0,
    "depth_bias": 2.0,
    "key_bias": 3.0,
    "max_attempts": 16,
    "seed_blocks": True,  # the problem's seeds (seeds/<problem>/*.py) give building blocks
    "seed_mates": True,  # ... and are crossover mates beside the archive's inspirations
    "gate_prob": 0.5,  # how often xo_append weights the update it brings by a size ramp
    "elite_blocks": 3,  # the best N programs of the history add their sub-expressions as blocks
    "novelty": True,  # reject children equal to a known program up to algebra (novelty.py)
    "probe": False,  # ... and children whose outputs equal the parent's on the gate set (probe.py)
    # tuning's budget is max_evals alone (no clock): see tuning.py
    "tune": {"max_params": 6, "max_evals": 64, "sigma0": 0.3, "sets": "train", "max_sets": None},
}


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


# Parsed programs, shared by every proposal: one iteration parses the parent, each mate and the
# grown child, and the same parents and mates come back iteration after iteration (analyze takes
# ~70 ms on an SMTT seed). Callers only read a BlockSource / BlockFacts (operators return text
# edits), so sharing them is safe; tests/test_builtin_cache.py checks children are unchanged.
PARSE_CACHE_SIZE = 256


@functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
def _parse(code: str, entry: str = "") -> tuple[BlockSource, BlockFacts] | None:
    """The program's block and its analysis, or None when the block does not parse."""
    try:
        src = BlockSource(code)
    except (CandidateError, SyntaxError, ValueError):
        return None
    return src, analyze(src.tree, src.module, src.block_line, entry)


class Mate(NamedTuple):
    """A crossover mate: an archived program (id) or a packaged seed (id None)."""

    id: int | None
    origin: str  # named in the child's diff header
    src: BlockSource
    facts: BlockFacts


class BuiltinProposer(Proposer):
    """Edits the EVOLVE-BLOCK directly; a bandit over operators picks what has worked."""

    def __init__(self, cfg: dict, problem_info: ProblemInfo):
        cfg = dict(cfg or {})
        section = cfg.get("builtin", cfg)  # the `proposer` section, or its `builtin` part
        self.cfg = _merge(DEFAULTS, dict(section or {}))
        unknown = set(self.cfg["operators"]) - set(MUTATIONS) - set(CROSSOVERS) - {TUNE, GROW}
        if unknown:
            raise ValueError(f"proposer.builtin.operators: unknown operator(s) {sorted(unknown)}")
        self.problem = problem_info
        b = self.cfg["bandit"]
        self.bandit = OperatorBandit(self.cfg["operators"], b["window"], b["prior_n"], b["floor"])
        self._hashes: dict[int, str] = {}
        self.novelty = NoveltyFilter() if self.cfg["novelty"] else None
        self.tuner = Tuner(self.cfg["tune"], problem_info.entry)
        self._seed_blocks: BlockLibrary | None = None
        self._seed_codes: list[tuple[str, str]] | None = None
        self._digests: dict[str, str | None] = {}  # code hash -> probe digest (pure function)

    # ---- the proposal ---------------------------------------------------------------------
    async def propose(self, ctx: ProposalContext) -> Proposal:
        parsed = _parse(ctx.parent.code, self.problem.entry)
        if parsed is None:
            return Proposal(None, "mutation", failure="diff_failed",
                            error="the parent's EVOLVE-BLOCK does not parse")
        src, facts = parsed
        rng = ctx.rng
        gen = ExprGen(facts, rng, ctx.problem.primitives, int(self.cfg["expr_depth"]),
                      float(self.cfg["const_prob"]))
        mut = Mutator(src, facts, gen, rng, float(self.cfg["rel_step"]),
                      float(self.cfg["abs_step"]), float(self.cfg["depth_bias"]),
                      float(self.cfg["key_bias"]))
        grower = BlockGrower(src, facts, gen, self._library(ctx), rng, mut.site)
        ops = {**mut.ops, **grower.ops}
        applicable = {op: (grower.applicable(op) if op in GROWTH_OPS else mut.applicable(op))
                      for op in ops}
        mates = self._mates(ctx)
        arms = [op for op in MUTATIONS if applicable[op]]
        if mates:
            arms += list(CROSSOVERS)
        if ctx.sandbox is not None and ctx.parent.ok:
            # a tuned parent already sits at a local optimum of the same tuning sets
            if ctx.parent.proposer != "tune" and tunable(facts):
                arms.append(TUNE)
            if any(applicable[op] for op in GROWERS):
                arms.append(GROW)
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
            if op in (TUNE, GROW):
                arms.remove(op)
                prop = await (self.tuner.tune(ctx, src, facts, TUNE) if op == TUNE
                              else self._grow_and_tune(ctx, src, ops, applicable, seen))
                if prop is not None:
                    return prop
                last = "constant tuning could not run"
                if not arms:  # tuning was all that applied: a plain mutation instead
                    fallback, arms = True, [op for op in PLAIN if mut.applicable(op)]
                continue
            mate = mates[int(rng.integers(len(mates)))] if op in CROSSOVERS else None
            try:
                if mate is not None:
                    xo = Crossover(src, facts, mate.src, mate.facts, rng,
                                   float(self.cfg["gate_prob"]))
                    edits = xo.ops[op]()
                else:
                    edits = ops[op]()
                child = src.apply(edits) if edits else None
            except Exception as e:  # an operator bug must not stop the run
                log.debug("operator %s failed: %s", op, e, exc_info=True)
                child, last = None, f"{op}: {type(e).__name__}: {e}"
            if child is not None:
                why = valid_child(child)
                if why is None and self._known(child, seen):
                    why = "the child repeats a known program"
                if why is None and await self._neutral(ctx, child):
                    why = "the child behaves as its parent on the probe"
                if why is None:
                    kind = "crossover" if mate is not None else "mutation"
                    return Proposal(child, kind, operator=op,
                                    diff=unified_diff(ctx.parent.code, child,
                                                      mate.origin if mate else None),
                                    mates=[mate.id] if mate and mate.id is not None else [])
                last = f"{op}: {why}"
            fails[op] = fails.get(op, 0) + 1
            if fails[op] >= 3:
                arms.remove(op)
        return Proposal(None, "mutation", failure="diff_failed", error=last)

    # ---- helpers --------------------------------------------------------------------------
    def _mates(self, ctx: ProposalContext) -> list[Mate]:
        """The inspirations, then (`seed_mates`) the problem's packaged seeds, parsed."""
        out = []
        for p in ctx.inspirations:
            if p.id == ctx.parent.id or p.code == ctx.parent.code:
                continue
            parsed = _parse(p.code, self.problem.entry)
            if parsed is not None:
                out.append(Mate(p.id, f"program {p.id}", *parsed))
        if self.cfg["seed_mates"]:
            for origin, code in self._seeds():
                parsed = _parse(code, self.problem.entry) if code != ctx.parent.code else None
                if parsed is not None:
                    out.append(Mate(None, origin, *parsed))
        return out

    def _seen(self, ctx: ProposalContext) -> set[str]:
        """Hashes of the parent and every program in the history (no re-evaluating them): their
        normal forms (novelty.py) when `novelty` is on, else their code hashes."""
        if self.novelty is not None:
            return self.novelty.known(ctx.parent, ctx.history)
        for p in [ctx.parent, *ctx.history]:
            if p.id not in self._hashes:
                self._hashes[p.id] = code_hash(p.code)
        return {self._hashes[p.id] for p in [ctx.parent, *ctx.history]}

    def _known(self, child: str, seen: set[str]) -> bool:
        return (canonical(child) if self.novelty is not None else code_hash(child)) in seen

    async def _neutral(self, ctx: ProposalContext, child: str) -> bool:
        """Whether the child's outputs equal the parent's on the probe (`probe` on); False
        whenever that cannot be told (no sandbox, a failing program, a failed call)."""
        if not self.cfg["probe"] or ctx.sandbox is None or not ctx.parent.ok:
            return False
        keys = [code_hash(ctx.parent.code), code_hash(child)]
        todo = [(k, c) for k, c in zip(keys, (ctx.parent.code, child)) if k not in self._digests]
        if todo:
            try:
                res = await ctx.sandbox.call(PROBE_FN, {"entry": self.problem.entry,
                                                        "codes": [c for _, c in todo]})
                digests = list(res["digests"])
            except Exception as e:  # noqa: BLE001 - the probe only saves evaluations
                log.info("behaviour probe failed: %s: %s", type(e).__name__, e)
                return False
            for (k, _), d in zip(todo, digests):
                self._digests[k] = d if isinstance(d, str) else None
        a, b = (self._digests.get(k) for k in keys)
        return a is not None and a == b

    def _seeds(self) -> list[tuple[str, str]]:
        """(origin, code) of the problem's packaged seeds, read once per proposer."""
        if self._seed_codes is None:
            self._seed_codes = seed_codes(self.problem.name)
        return self._seed_codes

    def _library(self, ctx: ProposalContext) -> BlockLibrary:
        """Blocks of the problem's seeds, then of the history's best `elite_blocks` programs."""
        if self._seed_blocks is None:
            codes = self._seeds() if self.cfg["seed_blocks"] else []
            self._seed_blocks = BlockLibrary.from_codes(
                codes, lambda c: _parse(c, self.problem.entry))
        k = int(self.cfg["elite_blocks"])
        if k <= 0:
            return self._seed_blocks
        scored = [(p.score, p) for p in ctx.history if p.ok and p.score is not None]
        elites = [p for _, p in sorted(scored, key=lambda sp: (-sp[0], sp[1].id))]
        lib = BlockLibrary(self._seed_blocks.blocks)
        for p in elites[:k]:
            parsed = _parse(p.code, self.problem.entry)
            if parsed is not None:
                lib.add(mine(f"program:{p.id}", parsed[1]))
        return lib

    async def _grow_and_tune(self, ctx: ProposalContext, src: BlockSource, ops: dict,
                             applicable: dict[str, bool], seen: set[str]) -> Proposal | None:
        """A structural mutation whose new constants are tuned before anyone judges them
        (a random constant in a new term is rarely right, so the bare mutant would lose)."""
        growers = [op for op in GROWERS if applicable[op]]
        for _ in range(4):
            op = growers[int(ctx.rng.integers(len(growers)))]
            edits = ops[op]()
            child = src.apply(edits) if edits else None
            if child is None or valid_child(child) is not None or self._known(child, seen):
                continue
            parsed = _parse(child, self.problem.entry)
            if parsed is not None and tunable(parsed[1]):
                return await self.tuner.tune(ctx, parsed[0], parsed[1], GROW)
        return None
