"""Parent selectors, the MAP-Elites grid and ring migration, as pure functions of a pool."""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from evolve.selection import (
    IslandSelector,
    MapElites,
    PowerLawSelector,
    TournamentSelector,
    UniformSelector,
    WeightedSelector,
)
from tests.unit.inprocess import config
from tests.unit.test_population import _view


def _pool(n: int = 10) -> list:
    # ids in reverse score order, so that no selector can pass by picking the lowest id
    return [_view(100 - i, i + 1, score=float(i)) for i in range(n)]


def _counts(selector, pool, draws: int = 4000) -> Counter:
    rng = np.random.default_rng(0)
    return Counter(selector.pick(pool, rng).score for _ in range(draws))


def test_power_law_prefers_rank_and_alpha_sharpens():
    pool = _pool()
    mild, sharp = _counts(PowerLawSelector(0.5), pool), _counts(PowerLawSelector(3.0), pool)
    assert mild[9.0] > mild[5.0] > mild[0.0] > 0
    assert sharp[9.0] > mild[9.0] and sharp[0.0] < mild[0.0]
    # rank 0 vs rank 1 follows (r + 1) ** -alpha: 2 ** 3 = 8 for alpha 3
    assert 5 < sharp[9.0] / sharp[8.0] < 12


def test_weighted_prefers_scores_above_the_median():
    c = _counts(WeightedSelector(10.0), _pool())
    above = sum(c[s] for s in (5.0, 6.0, 7.0, 8.0, 9.0))
    assert above > 0.9 * sum(c.values())
    # equal scores: no division by a zero spread, every program reachable
    flat = [_view(i + 1, i + 1, score=1.0) for i in range(4)]
    assert len(_counts(WeightedSelector(10.0), flat, 400)) == 1  # all have score 1.0
    assert len({WeightedSelector(10.0).pick(flat, np.random.default_rng(s)).id
                for s in range(50)}) == 4


def test_tournament_never_picks_the_k_minus_1_worst():
    c = _counts(TournamentSelector(3), _pool())
    assert c[0.0] == c[1.0] == 0 and c[9.0] > c[5.0]
    one = _counts(TournamentSelector(1), _pool())  # k = 1 is uniform
    assert min(one.values()) > 0.07 * 4000


def test_uniform_reaches_every_program_about_equally():
    c = _counts(UniformSelector(), _pool())
    assert len(c) == 10 and max(c.values()) < 1.4 * min(c.values())


def test_selectors_are_deterministic_given_the_rng():
    pool = _pool()
    for sel in (PowerLawSelector(1.0), WeightedSelector(5.0), TournamentSelector(3),
                UniformSelector()):
        a = [sel.pick(pool, np.random.default_rng(7)).id for _ in range(3)]
        b = [sel.pick(list(pool), np.random.default_rng(7)).id for _ in range(3)]
        assert a == b


def test_map_elites_keeps_the_best_per_cell_and_skips_unknown_features():
    # three behaviour bins, three programs each
    pool = [replace(_view(i + 1, i + 1, score=float(i % 3)), behaviour=float(i // 3))
            for i in range(9)]
    cells = MapElites(("behaviour",), bins=3).cells(pool)
    assert sorted(cells) == [(0,), (1,), (2,)]
    assert all(p.score == 2.0 for p in cells.values())
    # a missing feature value goes to its own bin (-1), it is not dropped
    pool[0] = replace(pool[0], behaviour=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NaN-to-int cast on the way
        assert (-1,) in MapElites(("behaviour",), bins=3).cells(pool)
    with pytest.raises(ValueError, match="unknown"):
        MapElites(("nope",))


def _search(**over) -> dict:
    from evolve.config import to_dict

    cfg = to_dict(config().search)
    cfg.update(over)
    return cfg


def test_island_selector_uses_the_island_of_the_iteration():
    sel = IslandSelector(_search(islands=3, exploration=0.0))
    history = [_view(i + 1, 0, score=float(i), island=i, proposer="seed") for i in range(3)]
    for it in range(1, 7):
        got = sel.select(it, history, np.random.default_rng(it))
        assert got.island == it % 3 and got.parent.island == it % 3


def test_ring_migration_copies_each_islands_best_to_the_next():
    sel = IslandSelector(_search(islands=3, migration_interval=5, migration_count=1))
    history = [_view(10 * k + j + 1, j + 1, score=float(10 * k + j), island=k)
               for k in range(3) for j in range(3)]
    assert not sel.migration_due(4) and sel.migrants(4, history) == []
    moves = sel.migrants(5, history)
    assert sorted((p.island, target, p.score) for p, target in moves) == [
        (0, 1, 2.0), (1, 2, 12.0), (2, 0, 22.0)]
    # a program already on the target island is not copied again: the next best goes instead
    history.append(replace(_view(99, 4, score=22.0, island=0), code=moves[-1][0].code))
    into_0 = [p.score for p, target in sel.migrants(5, history) if target == 0]
    assert into_0 == [21.0]
    assert not IslandSelector(_search(islands=1, migration_interval=5)).migration_due(5)
