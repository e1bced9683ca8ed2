"""The web UI's MAP-Elites grid is the loop's grid: `block_length` is `code_length` and `cells`
is `MapElites.cells`, on random programs (markers indented, missing, doubled, out of order)."""

from __future__ import annotations

import random

from evolve.population import ProgramView
from evolve.selection import FEATURES, MapElites, code_length
from evolve.web.grid import Elite, block_length, cells

PIECES = ["# EVOLVE-BLOCK-START", "# EVOLVE-BLOCK-END", "  ", "\t", "\n", "x = 1", "# note",
          " # EVOLVE-BLOCK-START tail", "y # EVOLVE-BLOCK-END", "\r\n", "#", "EVOLVE-BLOCK-"]


def _code(rng: random.Random) -> str:
    text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 14)))
    if rng.random() < 0.5:  # mostly well-formed: a marked block inside random text
        cut = rng.randint(0, len(text))
        text = (text[:cut] + "\n" + rng.choice(["", " ", "\t "]) + PIECES[0]
                + rng.choice(["", " x"])
                + "\n" + "".join(rng.choice(PIECES[2:]) for _ in range(rng.randint(0, 6)))
                + rng.choice(["\n", "\n  "]) + PIECES[1] + text[cut:])
    return text


def _view(**kw) -> ProgramView:
    base = dict(id=0, iteration=0, island=0, generation=0, parent_id=None, code="", status="ok",
                score=0.0, metrics={}, feedback="", error="", proposer="seed", operator=None,
                model=None, behaviour=None, improved=False, cost_usd=0.0, duplicate_of=None)
    base.update(kw)
    return ProgramView(**base)


def test_block_length_is_code_length():
    rng = random.Random(0)
    for _ in range(5000):
        code = _code(rng)
        assert block_length(code) == code_length(_view(code=code)), repr(code)


def test_cells_are_the_loops_cells():
    assert set(FEATURES) == {"code_length", "behaviour", "score"}  # grid.py knows each one
    rng = random.Random(1)
    for trial in range(200):
        views = []
        for i in range(rng.randint(0, 40)):
            views.append(_view(id=i + 1, iteration=rng.randint(0, 9), island=rng.randint(0, 2),
                               proposer=f"p{i}", code=_code(rng),
                               score=rng.choice([rng.random(), 0.5, -1.0]),
                               behaviour=rng.choice([None, float("nan"), rng.random(), 0.25])))
        features = rng.sample(sorted(FEATURES), rng.randint(1, 3))
        bins = rng.randint(1, 9)
        want = MapElites(features, bins).cells(views)
        got = cells(features, bins, [Elite(v.id, v.iteration, v.island, v.proposer,
                                           float(v.score or 0.0), v.behaviour, code_length(v))
                                     for v in views])
        assert {k: p.id for k, p in want.items()} == {k: p.id for k, p in got.items()}, trial
