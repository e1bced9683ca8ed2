"""The in-memory population: archived programs as ProgramViews, and the deterministic lagged
view."""

from __future__ import annotations

from evolve.archive import Program
from evolve.proposers.base import ProgramView

# Rows that repeat another program but still belong to an island's pool.
POOL_COPIES = ("seed", "migration")


def view_of(row: Program, cost: float = 0.0) -> ProgramView:
    return ProgramView(
        id=row.id, iteration=row.iteration, island=row.island, generation=row.generation,
        parent_id=row.parent_id, code=row.code, status=row.status, score=row.score,
        metrics=dict(row.metrics or {}), feedback=row.feedback or "", error=row.error or "",
        proposer=row.proposer, operator=row.operator, model=row.model, behaviour=row.behaviour,
        improved=bool(row.improved), cost_usd=cost, duplicate_of=row.duplicate_of,
    )


class Population:
    """All programs of a run, oldest first; `view(i)` is what iteration i may see.

    Iteration i sees the seeds and every program of iteration <= i - lag. With at most `lag`
    proposals in flight, that view does not depend on which evaluation finished first, so the
    same seed gives the same run however the workers are scheduled (and after a resume).
    """

    def __init__(self, lag: int):
        self.lag = max(1, int(lag))
        self.programs: list[ProgramView] = []

    def add(self, p: ProgramView) -> None:
        self.programs.append(p)

    def view(self, iteration: int) -> list[ProgramView]:
        horizon = iteration - self.lag
        return sorted((p for p in self.programs if p.iteration <= horizon or p.iteration == 0),
                      key=lambda p: (p.iteration, p.island, p.proposer))

    def best(self) -> ProgramView | None:
        scored = [p for p in self.programs if p.ok and p.proposer != "migration"]
        return max(scored, key=lambda p: (p.score, -p.id)) if scored else None

    def done_iterations(self) -> set[int]:
        return {p.iteration for p in self.programs if p.proposer not in POOL_COPIES}
