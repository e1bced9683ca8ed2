"""Selection strategies: parent sampling, the MAP-Elites grid, islands, inspirations.

Every strategy is a small class chosen by config and is a pure function of the programs it is
shown and the iteration's RNG, so that a run is reproducible and resumes without saved state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from evolve.program import NO_CHILD, NO_GAIN, split_blocks
from evolve.proposers.base import ProgramView


def order_key(p: ProgramView) -> tuple:
    """A tie-break that does not depend on row ids (ids follow evaluation completion order)."""
    return (p.iteration, p.island, p.proposer)


def _ranked(pool: Sequence[ProgramView]) -> list[ProgramView]:
    return sorted(pool, key=lambda p: (-(p.score if p.score is not None else -np.inf),
                                       order_key(p)))


class ParentSelector:
    """Picks one parent among scored programs (exploitation)."""

    def pick(self, pool: Sequence[ProgramView], rng: np.random.Generator) -> ProgramView:
        raise NotImplementedError


class PowerLawSelector(ParentSelector):
    """Rank-based: P(rank r) ~ (r + 1) ** -alpha (FunSearch / OpenEvolve style)."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = float(alpha)

    def pick(self, pool, rng):
        ranked = _ranked(pool)
        w = (np.arange(len(ranked)) + 1.0) ** -self.alpha
        return ranked[int(rng.choice(len(ranked), p=w / w.sum()))]


class WeightedSelector(ParentSelector):
    """Sigmoid of the score's distance to the median, scaled by spread (ShinkaEvolve style)."""

    def __init__(self, sharpness: float = 10.0):
        self.sharpness = float(sharpness)

    def pick(self, pool, rng):
        ranked = _ranked(pool)
        s = np.array([p.score for p in ranked], dtype=float)
        spread = float(np.std(s)) or 1.0
        w = 1.0 / (1.0 + np.exp(-self.sharpness * (s - np.median(s)) / spread))
        w = np.maximum(w, 1e-12)
        return ranked[int(rng.choice(len(ranked), p=w / w.sum()))]


class TournamentSelector(ParentSelector):
    """Best of k uniformly drawn programs."""

    def __init__(self, k: int = 3):
        self.k = max(1, int(k))

    def pick(self, pool, rng):
        idx = rng.choice(len(pool), size=min(self.k, len(pool)), replace=False)
        return _ranked([pool[int(i)] for i in idx])[0]


class UniformSelector(ParentSelector):
    """Any scored program, equally likely."""

    def pick(self, pool, rng):
        return pool[int(rng.integers(len(pool)))]


SELECTORS = {
    "power_law": lambda cfg: PowerLawSelector(cfg["power_law_alpha"]),
    "weighted": lambda cfg: WeightedSelector(cfg["weighted_sharpness"]),
    "tournament": lambda cfg: TournamentSelector(cfg["tournament_k"]),
    "uniform": lambda cfg: UniformSelector(),
}


def make_selector(cfg: dict) -> ParentSelector:
    name = cfg["parent_selection"]
    if name not in SELECTORS:
        raise ValueError(f"search.parent_selection={name!r}: choose one of {', '.join(SELECTORS)}")
    return SELECTORS[name](cfg)


def code_length(p: ProgramView) -> float:
    """Length of the evolvable block in characters (a cheap complexity descriptor)."""
    try:
        return float(len(split_blocks(p.code).block))
    except Exception:  # noqa: BLE001 - broken markers: whole code
        return float(len(p.code))


FEATURES = {
    "code_length": code_length,
    "behaviour": lambda p: p.behaviour,
    "score": lambda p: p.score,
}


class MapElites:
    """A grid over feature axes keeping the best program per cell (diversity for exploration).

    Bin edges adapt to the range seen so far (a pure function of the pool), equal-width per axis.
    """

    def __init__(self, features: Sequence[str] = ("code_length", "behaviour"), bins: int = 8):
        unknown = [f for f in features if f not in FEATURES]
        if unknown:
            raise ValueError(f"search.map_elites.features: unknown {unknown}; choose from "
                             f"{', '.join(FEATURES)}")
        self.features = list(features)
        self.bins = max(1, int(bins))

    def cells(self, pool: Sequence[ProgramView]) -> dict[tuple, ProgramView]:
        if not pool:
            return {}
        values = []
        for f in self.features:
            v = np.array([np.nan if FEATURES[f](p) is None else float(FEATURES[f](p))
                          for p in pool])
            values.append(v)
        keys = []
        for v in values:
            finite = v[np.isfinite(v)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
            width = (hi - lo) / self.bins or 1.0
            ok = np.isfinite(v)
            # Cells of finite values only: casting NaN/inf to int is undefined (and warns).
            b = np.full(v.shape, -1, dtype=int)
            b[ok] = np.clip(((v[ok] - lo) / width).astype(int), 0, self.bins - 1)
            keys.append(b)
        grid: dict[tuple, ProgramView] = {}
        for i, p in enumerate(pool):
            key = tuple(int(k[i]) for k in keys)
            best = grid.get(key)
            if best is None or _beats(p, best):
                grid[key] = p
        return grid


def _beats(p: ProgramView, q: ProgramView) -> bool:
    """p scores higher than q, ties broken by order_key."""
    # MapElites.cells gets scored programs only (IslandSelector.scored: ProgramView.ok)
    ps, qs = cast(float, p.score), cast(float, q.score)
    return ps > qs or (ps == qs and order_key(p) < order_key(q))


@dataclass
class Selection:
    """What the selector hands to one proposal."""

    island: int
    parent: ProgramView
    inspirations: list[ProgramView]
    failures: list[ProgramView]


class IslandSelector:
    """Islands with ring migration; parents by exploitation or from the MAP-Elites grid.

    `cfg` is the validated `search` section: its defaults live in conf/search/default.yaml only.
    """

    def __init__(self, cfg: dict, fix_probability: float = 0.0):
        self.islands = max(1, int(cfg["islands"]))
        self.exploration = float(cfg["exploration"])
        self.n_top = int(cfg["num_top_inspirations"])
        self.n_diverse = int(cfg["num_diverse_inspirations"])
        self.migration_interval = int(cfg["migration_interval"] or 0)
        self.migration_count = int(cfg["migration_count"])
        me = cfg["map_elites"]
        self.grid = MapElites(me["features"], me["bins"])
        self.parent_selector = make_selector(cfg)
        self.fix_probability = float(fix_probability)
        self.parallel = str(cfg["strategy"]) == "parallel"

    @staticmethod
    def scored(pool: Sequence[ProgramView]) -> list[ProgramView]:
        return [p for p in pool if p.ok and (p.duplicate_of is None
                                             or p.proposer in ("seed", "migration"))]

    def select(self, iteration: int, history: Sequence[ProgramView],
               rng: np.random.Generator) -> Selection:
        island = iteration % self.islands
        members = [p for p in history if p.island == island]
        scored = self.scored(members) or self.scored(history)
        if not scored:
            raise RuntimeError("no evaluated program to select a parent from (did the seed fail?)")
        if self.parallel:
            return self._from_seed(island, history)
        # rows without a child of their own carry the parent's valid code: nothing to fix there
        failures = [p for p in members if not p.ok and p.status not in NO_CHILD]
        if failures and rng.random() < self.fix_probability:
            parent = failures[-1]
        elif rng.random() < self.exploration:
            cells = self.grid.cells(scored)
            elites = sorted(cells.values(), key=order_key)
            parent = elites[int(rng.integers(len(elites)))]
        else:
            parent = self.parent_selector.pick(scored, rng)
        top = [p for p in _ranked(scored) if p.id != parent.id][: self.n_top]
        taken = {parent.id, *(p.id for p in top)}
        others = sorted((p for p in self.grid.cells(self.scored(history)).values()
                         if p.id not in taken), key=order_key)
        diverse = []
        if others and self.n_diverse > 0:
            idx = rng.choice(len(others), size=min(self.n_diverse, len(others)), replace=False)
            diverse = [others[int(i)] for i in sorted(idx)]
        # a tuning step that found no gain is no failure to learn from (the prompt's "failures")
        lineage_fails = [p for p in members if not p.ok and p.status != NO_GAIN
                         and p.parent_id == parent.id][-3:]
        return Selection(island, parent, top + diverse, lineage_fails)

    def _from_seed(self, island: int, history: Sequence[ProgramView]) -> Selection:
        """The parallel-sampling arm: the seed is every parent and nothing else is shown."""
        seeds = sorted((p for p in history if p.proposer == "seed" and p.ok),
                       key=lambda p: (p.island != island, order_key(p)))  # this island's first
        if not seeds:
            raise RuntimeError("search.strategy=parallel: the seed has no score (did it fail?)")
        return Selection(island, seeds[0], [], [])

    def migration_due(self, iteration: int) -> bool:
        return not self.parallel and self.islands > 1 and bool(self.migration_interval) and \
            iteration % self.migration_interval == 0

    def migrants(self, iteration: int,
                 history: Sequence[ProgramView]) -> list[tuple[ProgramView, int]]:
        """(program, target island) pairs to copy at this iteration (ring: k -> k+1)."""
        if not self.migration_due(iteration):
            return []
        moves = []
        for k in range(self.islands):
            target = (k + 1) % self.islands
            present = {p.code for p in history if p.island == target}
            best = [p for p in _ranked(self.scored([p for p in history if p.island == k]))
                    if p.code not in present][: self.migration_count]
            moves += [(p, target) for p in best]
        return moves
