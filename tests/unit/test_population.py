"""The population's lagged view: what iteration i may see does not depend on scheduling."""

from __future__ import annotations

from evolve.population import Population
from evolve.proposers.base import ProgramView


def _view(pid: int, iteration: int, score: float | None = 1.0, island: int = 0,
          proposer: str = "builtin", status: str = "ok") -> ProgramView:
    return ProgramView(id=pid, iteration=iteration, island=island, generation=0, parent_id=None,
                       code=f"# {pid}", status=status, score=score, metrics={}, feedback="",
                       error="", proposer=proposer, operator=None, model=None, behaviour=None,
                       improved=False, cost_usd=0.0, duplicate_of=None)


def test_view_hides_the_last_lag_iterations_but_never_the_seeds():
    pop = Population(lag=3)
    pop.add(_view(1, 0, proposer="seed"))
    for i in range(1, 8):
        pop.add(_view(i + 1, i))
    assert [p.iteration for p in pop.view(1)] == [0]
    assert [p.iteration for p in pop.view(4)] == [0, 1]
    assert [p.iteration for p in pop.view(8)] == [0, 1, 2, 3, 4, 5]


def test_view_order_does_not_depend_on_insertion_order():
    a, b = Population(lag=1), Population(lag=1)
    views = [_view(i + 1, i % 4, island=i % 2) for i in range(8)]
    for v in views:
        a.add(v)
    for v in reversed(views):
        b.add(v)
    key = [(p.iteration, p.island) for p in a.view(10)]
    assert key == [(p.iteration, p.island) for p in b.view(10)] == sorted(key)


def test_best_skips_failures_and_migration_copies_and_breaks_ties_by_age():
    pop = Population(lag=1)
    pop.add(_view(1, 0, score=-5, proposer="seed"))
    pop.add(_view(2, 1, score=-1))
    pop.add(_view(3, 2, score=None, status="timeout"))
    pop.add(_view(4, 3, score=9, proposer="migration"))
    pop.add(_view(5, 4, score=-1))
    best = pop.best()
    assert best is not None and best.id == 2


def test_done_iterations_excludes_pool_copies():
    pop = Population(lag=1)
    pop.add(_view(1, 0, proposer="seed"))
    pop.add(_view(2, 5, proposer="migration"))
    pop.add(_view(3, 5))
    pop.add(_view(4, 6, status="diff_failed", score=None))
    assert pop.done_iterations() == {5, 6}
