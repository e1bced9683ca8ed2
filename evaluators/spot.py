"""Spot scheduling evaluator: job batches, policy runs, trusted replay and the omniscient bound.

The simulator itself lives in `spot_sim` (numba kernel and its plain-Python twin), the dynamic
programme in `spot_optimum`. A policy is any function with the signature of
`spot_sim.POLICY_SIG`:

    decide(elapsed, gap, deadline, job, work_left, overhead, pending,
           cur_type, last_type, region, avail, price, mem) -> (action, region)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba.core.types import WrapperAddressProtocol
from numba.experimental.function_type import _get_wrapper_address

from evolve.evaluators import spot_optimum, spot_sim
from evolve.evaluators.spot_sim import (  # noqa: F401 - re-exported for problems and tests
    MEM_SIZE,
    N_STATS,
    NONE,
    ON_DEMAND,
    POLICY_SIG,
    SPOT,
    ST_COST,
    ST_FORCED,
    ST_IDLE,
    ST_MISS,
    ST_OD,
    ST_REGION,
    ST_RESTARTS,
    ST_SPOT,
    ST_STATUS,
    ST_TICKS,
)

OD_PRICE = 3.06  # $/h, p3.2xlarge on-demand (every trace of the published suites)
SPOT_PRICE = 0.9731  # $/h, the published single-region spot price (3.06 / COST_K)


@dataclass(frozen=True)
class SimConfig:
    """Accounting switches of the simulator (defaults = the corrected model)."""

    od_price: float = OD_PRICE
    published_pricing: bool = False  # all spot time at the final region's first-tick price
    free_region_switch: bool = False  # region moves pay no overhead (published)
    published_safety_net: bool = False  # guarantee looks at the type before preemption
    observe_all_regions: bool = True
    guarantee: bool = True  # False only to test the optimum against exhaustive search

    @property
    def flags(self) -> int:
        return (spot_sim.PUB_PRICING * self.published_pricing
                + spot_sim.PUB_SWITCH * self.free_region_switch
                + spot_sim.PUB_SAFETY * self.published_safety_net
                + spot_sim.OBS_ALL * self.observe_all_regions
                + spot_sim.NO_GUARANTEE * (not self.guarantee))


@dataclass
class SpotBatch:
    """Jobs on trace windows. Windows: avail (n_win, H, R) int8 1 = spot available, prices
    (n_win, H, R) $/h, win_ticks / win_regions / win_gap (n_win,). Jobs (n,): inst_win, and
    work / deadline / overhead / switch_overhead in seconds; scenario (n,) indexes
    scenario_names; labels (n,) name each job for messages."""

    avail: np.ndarray
    prices: np.ndarray
    win_ticks: np.ndarray
    win_regions: np.ndarray
    win_gap: np.ndarray
    inst_win: np.ndarray
    work: np.ndarray
    deadline: np.ndarray
    overhead: np.ndarray
    switch_overhead: np.ndarray
    scenario: np.ndarray
    scenario_names: tuple = ()
    labels: tuple = ()
    # (n_win,) each window's first tick on the batch's clock (windows cut from one trace at
    # different offsets): jobs run in step on that clock (spot_sim); None = all start together
    win_start: np.ndarray | None = None
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        self.avail = np.ascontiguousarray(self.avail, dtype=np.int8)
        self.prices = np.ascontiguousarray(self.prices, dtype=np.float64)
        if self.win_start is None:
            self.win_start = np.zeros(len(self.win_ticks), np.int64)
        for name in ("win_ticks", "win_regions", "inst_win", "scenario", "win_start"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=np.int64))
        for name in ("win_gap", "work", "deadline", "overhead", "switch_overhead"):
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=np.float64))

    @property
    def n(self) -> int:
        return int(self.inst_win.shape[0])

    @property
    def record_len(self) -> int:
        """Columns of the proposal record: one per tick plus the call after completion."""
        return int(self.win_ticks.max()) + 1 if self.n else 1

    def subset(self, idx) -> SpotBatch:
        """The jobs `idx` (windows shared)."""
        idx = np.asarray(idx, dtype=np.int64)
        return SpotBatch(self.avail, self.prices, self.win_ticks, self.win_regions, self.win_gap,
                         self.inst_win[idx], self.work[idx], self.deadline[idx],
                         self.overhead[idx], self.switch_overhead[idx], self.scenario[idx],
                         self.scenario_names,
                         tuple(self.labels[i] for i in idx) if self.labels else (),
                         self.win_start)


def merge(batches: list[SpotBatch]) -> SpotBatch:
    """The jobs of several batches as one (in order; windows padded to the largest shape with
    unavailable ticks and regions, each keeping its ticks, regions and clock start)."""
    H = max(b.avail.shape[1] for b in batches)
    R = max(b.avail.shape[2] for b in batches)
    avail = np.zeros((sum(b.avail.shape[0] for b in batches), H, R), np.int8)
    prices = np.zeros(avail.shape)
    at, inst_win = 0, []
    for b in batches:
        w, h, r = b.avail.shape
        avail[at:at + w, :h, :r] = b.avail
        prices[at:at + w, :h, :r] = b.prices
        inst_win.append(b.inst_win + at)
        at += w

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(b, name) for b in batches])

    return SpotBatch(avail, prices, cat("win_ticks"), cat("win_regions"), cat("win_gap"),
                     np.concatenate(inst_win), cat("work"), cat("deadline"), cat("overhead"),
                     cat("switch_overhead"), cat("scenario"), win_start=cat("win_start"))


def _args(batch: SpotBatch, cfg: SimConfig):
    return (batch.avail, batch.prices, batch.win_ticks, batch.win_regions, batch.win_gap,
            batch.win_start, batch.inst_win, batch.work, batch.deadline, batch.overhead,
            batch.switch_overhead, float(cfg.od_price), int(cfg.flags))


class Rounds:
    """One batch on its clock, driven round by round from Python: `observe` (what each running
    job's policy may see now), then `apply` its proposals. The worker's half of a sandboxed run
    (the child only proposes) and the plain-Python run of a policy numba cannot compile."""

    def __init__(self, batch: SpotBatch, cfg: SimConfig):
        n, width = batch.n, max(batch.avail.shape[2], 1)
        self.batch, self.cfg = batch, cfg
        self.fs = np.zeros((n, spot_sim.N_FS))
        self.js = np.zeros((n, spot_sim.N_JS), np.int64)
        self.stats = np.zeros((n, N_STATS))
        self.rf = np.zeros((n, spot_sim.N_RF + width))  # observation rows (see spot_sim)
        self.ri = np.zeros((n, spot_sim.N_RI + width), np.int64)
        self.live = np.ones(1, np.int64)  # jobs not ended
        self.actions = np.full((n, batch.record_len), -1, np.int16)
        self.regions = np.full((n, batch.record_len), -1, np.int16)
        spot_sim.begin(batch.work, self.fs, self.js)

    def observe(self, T: int) -> int:
        """Round T's observation rows (rf, ri [:k]); returns k (and sets `live`)."""
        b, c = self.batch, self.cfg
        return int(spot_sim.observe(T, b.avail, b.prices, b.win_ticks, b.win_regions, b.win_gap,
                                    b.win_start, b.inst_win, b.work, b.deadline, b.overhead,
                                    float(c.od_price), int(c.flags), b.record_len, self.fs,
                                    self.js, self.stats, self.rf, self.ri, self.live))

    def apply(self, T: int, k: int, props: np.ndarray) -> None:
        """Run round T with the proposals props (k, 2) int64 (action, region) of its rows."""
        b, c = self.batch, self.cfg
        spot_sim.apply(T, k, self.ri, props, False, b.avail, b.prices, b.win_ticks,
                       b.win_regions, b.win_gap, b.win_start, b.inst_win, b.deadline,
                       b.overhead, b.switch_overhead, float(c.od_price), int(c.flags), self.fs,
                       self.js, self.actions, self.regions, self.stats)


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class PolicyAddress(WrapperAddressProtocol):
    """A compiled policy as its machine-code address: numba calls it without resolving a
    dispatcher on every call (112 -> 41 us per call of `propose_nb` for 100 jobs)."""

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher  # keeps the compiled code alive
        self.address = _get_wrapper_address(dispatcher, POLICY_SIG)

    def __wrapper_address__(self) -> int:
        return self.address

    def signature(self):
        return POLICY_SIG


def compile_policy(fn):
    """A numba dispatcher compiled for POLICY_SIG (memoized per plain function); raises when
    numba cannot type it."""
    import numba
    from numba.core.registry import CPUDispatcher

    if isinstance(fn, CPUDispatcher):
        fn.compile(POLICY_SIG)
        return fn
    py = getattr(fn, "py_func", fn)
    disp = _COMPILED.get(py)
    if disp is None:
        disp = numba.njit(cache=False)(py)
        disp.compile(POLICY_SIG)
        _COMPILED[py] = disp
    return disp


def run_policy(batch: SpotBatch, policy, cfg: SimConfig, jitted: bool = True):
    """Run `policy` on every job. jitted: policy is a dispatcher compiled by compile_policy
    (numba kernel); else any Python callable (plain-Python twin). Returns (actions, regions,
    stats): proposals (n, L) int16 with -1 after the last call, stats (n, N_STATS)."""
    if not jitted:
        rounds, T = Rounds(batch, cfg), 0
        mem = np.zeros((batch.n, MEM_SIZE))
        props = np.zeros((batch.n, 2), np.int64)
        while (k := rounds.observe(T)) or rounds.live[0]:
            spot_sim.propose_py(policy, k, rounds.rf, rounds.ri, mem, props)
            rounds.apply(T, k, props)
            T += 1
        return rounds.actions, rounds.regions, rounds.stats
    actions = np.full((batch.n, batch.record_len), -1, np.int16)
    regions = np.full((batch.n, batch.record_len), -1, np.int16)
    stats = np.zeros((batch.n, N_STATS), np.float64)
    sim: Callable[..., Any] = spot_sim.simulate_nb  # a numba dispatcher: mypy sees no signature
    sim(policy, True, *_args(batch, cfg), actions, regions, stats)
    return actions, regions, stats


def replay(batch: SpotBatch, actions: np.ndarray, regions: np.ndarray,
           cfg: SimConfig) -> np.ndarray:
    """Trusted re-run of recorded proposals (n, L) through the simulator: stats (n, N_STATS)."""
    stats = np.zeros((batch.n, N_STATS), np.float64)
    sim: Callable[..., Any] = spot_sim.simulate_nb
    sim(spot_sim.replay_stub, False, *_args(batch, cfg),
        np.ascontiguousarray(actions, dtype=np.int16),
        np.ascontiguousarray(regions, dtype=np.int16), stats)
    return stats


def optimum(batch: SpotBatch, od_price: float = OD_PRICE) -> np.ndarray:
    """(n,) omniscient minimum cost per job (default accounting), cached on the batch."""
    key = ("optimum", float(od_price))
    if key not in batch.cache:
        batch.cache[key] = spot_optimum.optimum_costs(batch, od_price)
    return batch.cache[key]


def status_message(batch: SpotBatch, i: int, row: np.ndarray) -> str:
    """One line naming job i's contract violation (for InvalidOutput)."""
    label = batch.labels[i] if batch.labels else f"job {i}"
    t = int(row[spot_sim.ST_BAD_TICK])
    if int(row[ST_STATUS]) == spot_sim.MISSING:
        return f"{label}: no proposal recorded for tick {t}"
    n_reg = int(batch.win_regions[batch.inst_win[i]])
    return (f"{label}, tick {t}: policy returned (action={int(row[spot_sim.ST_BAD_ACTION])}, "
            f"region={int(row[spot_sim.ST_BAD_REGION])}); expected action in 0..2 and region "
            f"in 0..{n_reg - 1}")
