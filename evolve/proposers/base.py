"""The proposer contract: given a parent and context, return a child program and how it was made."""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ProgramView:
    """Read-only summary of an archived program, as proposers and selectors see it."""

    id: int
    iteration: int
    island: int
    generation: int
    parent_id: int | None
    code: str
    status: str  # ok | failure kind
    score: float | None
    metrics: dict[str, float]
    feedback: str
    error: str
    proposer: str
    operator: str | None
    model: str | None
    behaviour: float | None
    improved: bool
    cost_usd: float = 0.0
    duplicate_of: int | None = None  # set when an identical earlier program answered this one

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.score is not None


@dataclass
class ProblemInfo:
    """What a proposer may know about the problem (prompt text and contract)."""

    name: str
    entry: str
    signature: str
    description: str
    primitives: tuple[str, ...] = ()
    jitted: bool = True  # the entry is compiled with numba (the prompt gives numba advice)
    background: str = ""  # extra prompt text: problem.prompt, or prompt.md next to the problem


@dataclass
class ProposalContext:
    """Everything one proposal may use. `history` is the deterministic view of the archive."""

    iteration: int
    island: int
    rng: np.random.Generator
    parent: ProgramView
    inspirations: list[ProgramView]
    history: list[ProgramView]  # programs visible at this iteration (lagged view), oldest first
    problem: ProblemInfo
    failures: list[ProgramView] = field(default_factory=list)  # recent failures of this lineage
    # Runs trusted code inside a sandboxed child next to the warm problem (used by constant
    # tuning): `await ctx.sandbox.call("module:function", payload)` -> dict; the function is called
    # as function(problem, payload) in the child and must return a JSON-able dict. Raises
    # evolve.program.CandidateError (with .kind) when the child fails.
    sandbox: Any = None


@dataclass
class CallRecord:
    """One LLM call as the archive stores it (see archive.LLMCall)."""

    model: str
    mode: str | None
    prompt: list[dict]
    reply: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    attempts: int = 1
    error: str | None = None


@dataclass
class Proposal:
    """A child program, or none (`failure` = diff_failed / llm_error / no_gain)."""

    code: str | None
    proposer: str  # mutation | crossover | tune | llm_diff | llm_rewrite | llm_fix
    operator: str | None = None  # the specific operator / mode / arm
    model: str | None = None
    diff: str | None = None
    mates: list[int] = field(default_factory=list)  # extra parents (crossover)
    calls: list[CallRecord] = field(default_factory=list)
    failure: str | None = None
    error: str | None = None

    @property
    def cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.calls)


class Proposer(ABC):
    """Turns a parent (plus inspirations and feedback) into a child program."""

    @abstractmethod
    async def propose(self, ctx: ProposalContext) -> Proposal:
        """Make one child. Never raises for a bad reply: returns a Proposal with `failure`."""

    async def start(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Checks before the run starts (keys, context length); raise ConfigError to refuse."""

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release clients and servers."""


def unified_diff(parent: str, child: str, mate: str | None = None) -> str:
    """Unified diff parent -> child (what the archive stores for every child); a crossover's
    mate is named in the child's header."""
    a = parent.splitlines(keepends=True)
    b = child.splitlines(keepends=True)
    a = [x if x.endswith("\n") else x + "\n" for x in a]
    b = [x if x.endswith("\n") else x + "\n" for x in b]
    return "".join(difflib.unified_diff(a, b, "parent",
                                           f"child (mate: {mate})" if mate else "child"))
