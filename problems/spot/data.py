"""Trace data of the spot problems: the packaged suites (data/spot_traces.npz) and user folders.

Availability arrays use 1 = spot available everywhere in memory (files: see data/README.md).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np

from evolve.evaluators.spot import SPOT_PRICE, SpotBatch
from evolve.problem import ProblemError

DATA_FILE = Path(__file__).parent / "data" / "spot_traces.npz"
HOUR = 3600.0

SINGLE_SUITES = {
    # ADRS leaderboard evaluator (evaluator_real30.py): 6 envs x dl {52,70} x d {0.02,0.05,0.1}
    "leaderboard": {
        "envs": ("us-west-2a_k80_8", "us-west-2b_k80_1", "us-west-2b_k80_8",
                 "us-west-2a_v100_1", "us-west-2a_v100_8", "us-west-2b_v100_1"),
        "deadlines": (52.0, 70.0), "overheads": (0.02, 0.05, 0.1)},
    # the Can't-Be-Late paper setting used by ADRS: 4 envs x dl {52,70,92} x d {0.02,0.2,0.4}
    "paper": {
        "envs": ("us-west-2a_k80_1", "us-west-2b_k80_1", "us-west-2a_v100_1", "us-west-2b_v100_1"),
        "deadlines": (52.0, 70.0, 92.0), "overheads": (0.02, 0.2, 0.4)},
}
# ADRS cant_be_late_multi FULL_TEST_SCENARIOS: (name, regions in the published order, windows)
MULTI_SCENARIOS = (
    ("2_zones_same_region", ("us-east-1a", "us-east-1c"), 8),
    ("2_regions_east_west", ("us-east-2a", "us-west-2a"), 8),
    ("3_regions_diverse", ("us-east-1a", "us-east-2b", "us-west-2c"), 6),
    ("3_zones_same_region", ("us-east-1a", "us-east-1c", "us-east-1d"), 6),
    ("5_regions_high_diversity", ("us-east-1a", "us-east-1f", "us-west-2a", "us-west-2b",
                                  "us-east-2b"), 4),
    ("all_9_regions", ("us-east-2a", "us-west-2c", "us-east-1d", "us-east-2b", "us-west-2a",
                       "us-east-1f", "us-east-1a", "us-west-2b", "us-east-1c"), 2),
)
# stored multi-region windows that do not overlap any test window in time (see build_data.py)
# ADRS windows 27, 16, 29, 9, 11, 23 (13-19 March 2023), then 100-105: windows cut from the full
# aws-02-15-2023 traces (build_data.MULTI_CUTS) between the test windows, 24 Feb - 28 March
MULTI_TRAIN_WINDOWS = (27, 16, 29, 9, 11, 23, 100, 101, 102, 103, 104, 105)
# ADRS 19 and 15 and the cuts 106, 107 (15-22 February 2023), disjoint from train and test
MULTI_VALIDATION_WINDOWS = (19, 15, 106, 107)


# Where each window sits on its trace's clock (ticks), so that jobs run in step on it (see
# evaluators/spot_sim.py: windows cut from one trace overlap, and a policy that saw one job's
# later ticks would know another job's future). ADRS single-region test files: their
# metadata.start_time, the same in every env (../shared/data/spot_traces/adrs_single_region/
# <env>/<i>.json, the 30 files picked per env); multi-region windows: their tick offset in the
# full aws-02-15-2023 traces (build_data._offset for the ADRS windows, MULTI_CUTS for the cut
# ones; the ADRS start times agree: window 29 starts 32.5 min = 10 ticks after window 16).
SINGLE_TEST_CLOCK = {
    0: 684, 8: 451, 9: 382, 20: 474, 21: 969, 33: 1044, 42: 1126, 51: 1022, 61: 16, 70: 214,
    99: 641, 107: 62, 117: 1136, 126: 623, 135: 671, 145: 37, 154: 789, 163: 142, 172: 794,
    182: 511, 191: 3, 219: 764, 228: 1168, 238: 714, 247: 747, 256: 1184, 266: 599, 275: 570,
    284: 423, 294: 789,
}
MULTI_CLOCK = {
    0: 18868, 1: 15256, 2: 8811, 3: 9969, 4: 16591, 5: 3442, 6: 14081, 7: 6481, 9: 12195,
    11: 12780, 15: 1528, 16: 11576, 19: 751, 23: 12850, 27: 11424, 29: 11586, 100: 4549,
    101: 5374, 102: 7588, 103: 11076, 104: 12974, 105: 17698, 106: 0, 107: 2335,
}


def clock_starts(offsets, lengths) -> np.ndarray:
    """(n_win,) each window's first round: windows whose spans on the trace overlap run in step
    (offset - the first offset of their overlapping group); separate groups start together
    (what one group shows says nothing exact about another's ticks)."""
    offsets = np.asarray(offsets, np.int64)
    lengths = np.asarray(lengths, np.int64)
    out = np.zeros(len(offsets), np.int64)
    first, end = 0, -1
    for i in np.argsort(offsets, kind="stable"):
        if offsets[i] >= end:
            first = offsets[i]
        end = max(end, offsets[i] + lengths[i])
        out[i] = offsets[i] - first
    return out


@functools.lru_cache(maxsize=1)
def load() -> dict:
    """The packaged traces, unpacked: single test windows, single periods, multi windows."""
    if not DATA_FILE.exists():
        raise ProblemError(f"{DATA_FILE}: trace data missing (rebuild with build_data.py)")
    z = np.load(DATA_FILE, allow_pickle=False)
    n_test = int(z["single_test_len"])
    out = {
        "single_envs": [str(e) for e in z["single_envs"]],
        "single_gap": float(z["single_gap"]),
        "single_test": np.unpackbits(z["single_test_avail"], axis=-1)[..., :n_test],
        "single_test_files": z["single_test_files"],
        "single_periods": [str(p) for p in z["single_periods"]],
        "multi_regions": [str(r).removesuffix("_v100_1") for r in z["multi_regions"]],
        "multi_gap": float(z["multi_gap"]),
        "multi_windows": [int(w) for w in z["multi_windows"]],
        "multi_avail": np.unpackbits(z["multi_avail"], axis=-1)[..., : int(z["multi_len"])],
        "multi_prices": z["multi_prices_e4"].astype(np.float64) / 1e4,
    }
    for i in range(len(out["single_periods"])):
        out[f"single_period_{i}"] = np.unpackbits(z[f"single_period_{i}"], axis=-1)[
            ..., : int(z[f"single_period_{i}_len"])]
    return out


def evenly_spaced_starts(length: int, window: int, k: int) -> list[int]:
    """k window starts spread evenly over a trace of `length` ticks."""
    if length < window:
        return []
    return sorted({int(round(x)) for x in np.linspace(0, length - window, k)})


def single_batch(windows: list[np.ndarray], names: list[str], env: str, gap: float,
                 deadlines, overheads, job_h: float, switch_h, spot_price: float,
                 offsets=None) -> SpotBatch:
    """Jobs = windows x deadlines x overheads on single-region windows (each (T,) 1 = avail);
    offsets: each window's first tick on its trace (None: unknown, jobs start together)."""
    T = max(len(w) for w in windows)
    avail = np.zeros((len(windows), T, 1), np.int8)
    for k, w in enumerate(windows):
        avail[k, : len(w), 0] = w
    prices = np.full(avail.shape, spot_price, np.float64)
    jobs, scen, labels, scen_names = [], [], [], []
    for dl in deadlines:
        for oh in overheads:
            scen_names.append(f"{env}/dl={dl:g}h/d={oh:g}h")
            for k in range(len(windows)):
                if len(windows[k]) * gap + 1e-6 < dl * HOUR:
                    continue  # the ADRS rule: only windows that cover the deadline
                jobs.append((k, job_h * HOUR, dl * HOUR, oh * HOUR,
                             (oh if switch_h is None else switch_h) * HOUR))
                scen.append(len(scen_names) - 1)
                labels.append(f"{env}/{names[k]}/dl={dl:g}h/d={oh:g}h")
    if not jobs:
        raise ProblemError(f"{env}: no window covers the deadline ({max(deadlines):g} h)")
    j = np.asarray(jobs, dtype=np.float64)
    return SpotBatch(avail, prices, np.array([len(w) for w in windows]), np.ones(len(windows)),
                     np.full(len(windows), gap), j[:, 0].astype(np.int64), j[:, 1], j[:, 2],
                     j[:, 3], j[:, 4], np.asarray(scen), tuple(scen_names), tuple(labels),
                     None if offsets is None else clock_starts(offsets, [len(w) for w in windows]))


def multi_batch(avail: np.ndarray, prices: np.ndarray, gap: float, name: str,
                window_names: list[str], job_h: float, dl_h: float, oh_h: float,
                switch_h, offsets=None) -> SpotBatch:
    """One scenario: avail / prices (n_win, T, R); one job per window; offsets: each window's
    first tick on the traces (None: unknown, jobs start together)."""
    n = avail.shape[0]
    sw = (oh_h if switch_h is None else switch_h) * HOUR
    starts = None if offsets is None else clock_starts(offsets, np.full(n, avail.shape[1]))
    return SpotBatch(avail, prices, np.full(n, avail.shape[1]), np.full(n, avail.shape[2]),
                     np.full(n, gap), np.arange(n), np.full(n, job_h * HOUR),
                     np.full(n, dl_h * HOUR), np.full(n, oh_h * HOUR), np.full(n, sw),
                     np.zeros(n), (name,), tuple(f"{name}/{w}" for w in window_names), starts)


def multi_windows(regions: tuple, windows: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(avail, prices) (n_win, T, R) of stored multi-region windows, regions in the given order."""
    d = load()
    ri = [d["multi_regions"].index(r) for r in regions]
    wi = [d["multi_windows"].index(w) for w in windows]
    avail = d["multi_avail"][np.ix_(wi, ri)].transpose(0, 2, 1)
    prices = d["multi_prices"][np.ix_(wi, ri)].transpose(0, 2, 1)
    return np.ascontiguousarray(avail), np.ascontiguousarray(prices)


# ---- user folders (evolve-replay --instances) -----------------------------------------------
def _read_window(path: Path) -> tuple[float, np.ndarray, np.ndarray | None]:
    """(gap seconds, availability (T,) 1 = available, prices (T,) or None) of one JSON window."""
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProblemError(f"{path}: not a readable JSON file ({e})") from None
    if not isinstance(obj, dict):
        raise ProblemError(f"{path}: expected a JSON object with 'metadata' and 'data'")
    meta = obj.get("metadata")
    gap = (meta or {}).get("gap_seconds") if isinstance(meta, dict) else None
    if not isinstance(gap, (int, float)) or isinstance(gap, bool) or not gap > 0:
        raise ProblemError(f"{path}: field metadata.gap_seconds = {gap!r}, expected a positive "
                           "number")
    data = obj.get("data")
    if not isinstance(data, list) or not data:
        raise ProblemError(f"{path}: field data must be a non-empty list of 0/1 (1 = spot "
                           "unavailable)")
    for k, v in enumerate(data):
        if v not in (0, 1) or isinstance(v, bool):
            raise ProblemError(f"{path}: data[{k}] = {v!r}, expected 0 or 1 (1 = spot unavailable)")
    prices = obj.get("prices")
    if prices is not None:
        if not isinstance(prices, list) or len(prices) != len(data):
            raise ProblemError(f"{path}: field prices must list one price per tick ({len(data)})")
        for k, p in enumerate(prices):
            if (not isinstance(p, (int, float)) or isinstance(p, bool) or not math.isfinite(p)
                    or p < 0):
                raise ProblemError(f"{path}: prices[{k}] = {p!r}, expected a price in $/h")
        prices = np.asarray(prices, dtype=np.float64)
    return float(gap), 1 - np.asarray(data, dtype=np.int8), prices


def _indexed_jsons(folder: Path) -> dict[int, Path]:
    out = {}
    for p in sorted(folder.glob("*.json")):
        if not p.stem.isdigit():
            raise ProblemError(f"{p}: window files must be named <index>.json")
        out[int(p.stem)] = p
    return out


def read_single_folder(folder: Path) -> list[tuple[str, list[str], list[np.ndarray], float]]:
    """[(scenario, window names, availability windows, gap)]: the folder's own *.json windows
    form one scenario, each sub-folder holding *.json windows another."""
    if not folder.is_dir():
        raise ProblemError(f"{folder}: not a folder of <index>.json trace windows")
    groups = [folder] + sorted(p for p in folder.iterdir() if p.is_dir())
    out = []
    for g in groups:
        files = _indexed_jsons(g)
        if not files:
            continue
        wins, gaps = [], set()
        for idx in sorted(files):
            gap, av, _ = _read_window(files[idx])
            wins.append(av)
            gaps.add(gap)
        if len(gaps) > 1:
            raise ProblemError(f"{g}: windows disagree on metadata.gap_seconds ({sorted(gaps)})")
        out.append((g.name, [str(i) for i in sorted(files)], wins, gaps.pop()))
    if not out:
        raise ProblemError(f"{folder}: no <index>.json trace windows found")
    return out


def read_multi_folder(folder: Path):
    """(regions, window indices, avail (n, T, R), prices (n, T, R), gap) of <region>/<i>.json
    windows, over every index all regions share; T = the shortest shared window."""
    if not folder.is_dir():
        raise ProblemError(f"{folder}: not a folder of <region>/<index>.json trace windows")
    regions = {p.name: _indexed_jsons(p) for p in sorted(folder.iterdir()) if p.is_dir()}
    regions = {k: v for k, v in regions.items() if v}
    if not regions:
        raise ProblemError(f"{folder}: no <region>/<index>.json trace windows found")
    shared = sorted(set.intersection(*(set(v) for v in regions.values())))
    if not shared:
        raise ProblemError(f"{folder}: the regions {', '.join(regions)} share no window index")
    names = list(regions)
    rows, gap0, first = [], None, None
    for idx in shared:
        row = []
        for r in names:
            gap, av, pr = _read_window(regions[r][idx])
            if gap0 is None:
                gap0, first = gap, regions[r][idx]
            elif gap != gap0:
                raise ProblemError(f"{regions[r][idx]}: metadata.gap_seconds = {gap:g} differs "
                                   f"from {first} ({gap0:g})")
            row.append((av, pr if pr is not None else np.full(len(av), SPOT_PRICE)))
        rows.append(row)
    T = min(len(av) for row in rows for av, _ in row)
    avail = np.array([[av[:T] for av, _ in row] for row in rows]).transpose(0, 2, 1)
    prices = np.array([[pr[:T] for _, pr in row] for row in rows]).transpose(0, 2, 1)
    return names, shared, np.ascontiguousarray(avail), np.ascontiguousarray(prices), gap0
