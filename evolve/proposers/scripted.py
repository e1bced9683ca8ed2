"""A proposer that replays given programs in order: benchmarking fixed candidates, tests."""

from __future__ import annotations

import difflib
from pathlib import Path

from evolve.config import ConfigError
from evolve.proposers.base import Proposal, ProposalContext, Proposer


class ScriptedProposer(Proposer):
    """Returns program i mod N at iteration i (files named in `proposer.programs`)."""

    def __init__(self, cfg: dict):
        paths = [Path(p) for p in (cfg.get("programs") or [])]
        if not paths:
            raise ConfigError("proposer=scripted needs proposer.programs=[file.py,...]")
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise ConfigError(f"proposer.programs: no such file {missing[0]}")
        self.programs = [(p.name, p.read_text()) for p in paths]

    async def propose(self, ctx: ProposalContext) -> Proposal:
        name, code = self.programs[(ctx.iteration - 1) % len(self.programs)]
        diff = "".join(difflib.unified_diff(ctx.parent.code.splitlines(True), code.splitlines(True),
                                            "parent", name))
        return Proposal(code=code, proposer="scripted", operator=name, diff=diff)
