"""The built-in proposer's parse cache changes nothing: the same children, parsed once."""

from __future__ import annotations

from evolve.proposers.builtin import proposer as builtin
from tests.builtin_toys import MDD, FakeSandbox, ToySmtt, context, info, propose, view

PROBLEM = ToySmtt({})
ROUNDS = 24


def chain(clear_each_time: bool) -> list[tuple]:
    """ROUNDS proposals, each child the next parent, earlier children as mates (crossover) and
    a sandbox (constant tuning and grow-and-tune)."""
    prop = builtin.BuiltinProposer({"builtin": {"tune": {"max_evals": 6}}}, info(PROBLEM))
    programs = [view(1, MDD)]
    made = []
    for i in range(ROUNDS):
        if clear_each_time:
            builtin._parse.cache_clear()
        parent = programs[-1]
        ctx = context(parent, i, PROBLEM, inspirations=programs[-3:-1], history=programs,
                      sandbox=FakeSandbox(PROBLEM))
        p = propose(prop, ctx)
        made.append((p.code, p.proposer, p.operator, tuple(p.mates), p.failure))
        if p.code is not None:
            programs.append(view(len(programs) + 1, p.code, proposer=p.proposer,
                                 operator=p.operator))
    return made


def test_cached_parses_give_the_same_children():
    builtin._parse.cache_clear()
    cached = chain(clear_each_time=False)
    hits = builtin._parse.cache_info().hits
    assert chain(clear_each_time=True) == cached
    assert sum(code is not None for code, *_ in cached) >= ROUNDS // 2
    assert hits >= ROUNDS  # the parent (a child of the previous round) and the mates come back
