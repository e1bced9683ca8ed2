"""Builds problems/spot/data/spot_traces.npz from the raw AWS spot traces (run once, offline).

    python -m evolve.problems.spot.build_data /path/to/shared/data/spot_traces

Availability is stored bit-packed with 1 = spot AVAILABLE (the source folders use 1 = unavailable,
except skypilot availability files; see data/README.md). Prices are stored exactly as uint16
ten-thousandths of a $/h (every ADRS price has four decimals).
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

SINGLE_ENVS = (
    "us-west-2a_k80_1", "us-west-2a_k80_8", "us-west-2a_v100_1", "us-west-2a_v100_8",
    "us-west-2b_k80_1", "us-west-2b_k80_8", "us-west-2b_v100_1", "us-west-2b_v100_8",
)
SINGLE_TEST_PER_ENV = 30
# Ping periods after the one the ADRS windows were cut from (2022-10-26): time-disjoint train data.
SINGLE_PERIODS = ("2022-11-28T22-23", "2022-12-13T19-23")
MULTI_REGIONS = (
    "us-east-1a_v100_1", "us-east-1c_v100_1", "us-east-1d_v100_1", "us-east-1f_v100_1",
    "us-east-2a_v100_1", "us-east-2b_v100_1", "us-west-2a_v100_1", "us-west-2b_v100_1",
    "us-west-2c_v100_1",
)
# Windows 0-7 are the ADRS test windows. The others kept here start at times whose 60 h span
# does not overlap any test window (21 is dropped: it duplicates 11's start time).
MULTI_WINDOWS = (0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 15, 16, 19, 23, 27, 29)
MULTI_TEST = range(8)
MULTI_STORED = range(30)  # the ADRS windows in the shared copy (their prices fill the cut windows)
MULTI_TICKS = 1107
# More windows, cut from the full aws-02-15-2023 traces at tick offsets whose 60 h span overlaps no
# test window; stored as window ids 100, 101, ... (the ADRS tarball's own ids stop at 99). Train
# cuts avoid the validation windows too (they lie in the free time before 2023-02-24).
MULTI_CUTS = (4549, 5374, 7588, 11076, 12974, 17698,  # train
              0, 2335)  # validation
MULTI_CUT_BASE = 100


def evenly_spaced(names: list[str], k: int) -> list[str]:
    """The ADRS evaluator's pick: k names evenly spaced over the list (Python round)."""
    if len(names) <= k:
        return list(names)
    out, prev, top = [], -1, len(names) - 1
    for j in range(k):
        raw = round(j * top / (k - 1))
        raw = min(max(raw, prev + 1), top)
        out.append(raw)
        prev = raw
    return [names[i] for i in out]


def _single_test(src: Path):
    avail, files = [], []
    for env in SINGLE_ENVS:
        names = sorted(p.stem for p in (src / "adrs_single_region" / env).glob("*.json"))
        pick = evenly_spaced(names, SINGLE_TEST_PER_ENV)  # sorted as strings, like the evaluator
        rows = []
        for name in pick:
            d = json.loads((src / "adrs_single_region" / env / f"{name}.json").read_text())
            assert d["metadata"]["gap_seconds"] == 600
            rows.append(1 - np.asarray(d["data"], dtype=np.uint8))
        avail.append(np.stack(rows))
        files.append([int(n) for n in pick])
    return np.stack(avail), np.asarray(files, dtype=np.int16)


def _single_periods(src: Path):
    out = {}
    for period in SINGLE_PERIODS:
        rows = []
        for env in SINGLE_ENVS:
            with open(src / "raw_ping_csv" / period / f"{env}.txt") as fh:
                rows.append([1 - int(r[2]) for r in csv.reader(fh) if r])
        out[period] = np.asarray(rows, dtype=np.uint8)
    return out


def _multi(src: Path):
    avail = np.zeros((len(MULTI_WINDOWS), len(MULTI_REGIONS), 1107), np.uint8)
    prices = np.zeros(avail.shape, np.uint16)
    starts = []
    for wi, w in enumerate(MULTI_WINDOWS):
        start = None
        for ri, region in enumerate(MULTI_REGIONS):
            d = json.loads((src / "adrs_multi_region" / region / f"{w}.json").read_text())
            assert d["metadata"]["gap_seconds"] == 195 and len(d["data"]) == 1107
            start = start or d["metadata"]["start_time"]
            assert d["metadata"]["start_time"] == start  # windows are time-aligned
            avail[wi, ri] = 1 - np.asarray(d["data"], dtype=np.uint8)
            e4 = np.round(np.asarray(d["prices"], dtype=np.float64) * 1e4)
            assert np.allclose(e4 / 1e4, d["prices"], rtol=0, atol=1e-9) and e4.max() < 65536
            prices[wi, ri] = e4.astype(np.uint16)
        starts.append(start)
    return avail, prices, starts


def _full_multi(src: Path) -> np.ndarray:
    """(regions, ticks) availability of the whole aws-02-15-2023 period, 1 = available."""
    folder = src / "skypilot_spot_traces" / "availability" / "1-node" / "aws-02-15-2023"
    rows = []
    for region in MULTI_REGIONS:
        d = json.loads((folder / f"{region}.json").read_text())
        assert d["metadata"]["gap_seconds"] == 195
        rows.append(np.asarray(d["data"], dtype=np.uint8))  # skypilot: 1 = available
    return np.stack(rows)


def _offset(full: np.ndarray, window: np.ndarray) -> int:
    """The one tick offset where an ADRS window (regions, ticks; 1 = available) sits in `full`."""
    n = window.shape[1]
    hits = [o for o in range(full.shape[1] - n + 1)
            if np.array_equal(full[:, o:o + n], window)]
    assert len(hits) == 1, hits
    return hits[0]


def _multi_cuts(src: Path):
    """(avail, prices e4) (cuts, regions, ticks) of the MULTI_CUTS windows.

    Prices: AWS spot prices are not in the availability traces; each tick takes the price of the
    nearest tick (in time) covered by a stored non-test ADRS window of the same region (prices
    change a few times per 60 h), so no test-window price enters the cut windows."""
    full = _full_multi(src)
    T = full.shape[1]
    price = np.zeros((len(MULTI_REGIONS), T), np.float64)
    known = np.zeros(T, bool)
    test_spans = []
    for w in MULTI_STORED:
        av = np.zeros((len(MULTI_REGIONS), MULTI_TICKS), np.uint8)
        pr = np.zeros(av.shape, np.float64)
        for ri, region in enumerate(MULTI_REGIONS):
            d = json.loads((src / "adrs_multi_region" / region / f"{w}.json").read_text())
            av[ri] = 1 - np.asarray(d["data"], dtype=np.uint8)
            pr[ri] = d["prices"]
        o = _offset(full, av)
        if w in MULTI_TEST:
            test_spans.append((o, o + MULTI_TICKS))
            continue
        price[:, o:o + MULTI_TICKS] = pr
        known[o:o + MULTI_TICKS] = True
    ticks = np.flatnonzero(known)
    nearest = ticks[np.clip(np.searchsorted(ticks, np.arange(T)), 0, len(ticks) - 1)]
    before = ticks[np.clip(np.searchsorted(ticks, np.arange(T)) - 1, 0, len(ticks) - 1)]
    nearest = np.where(np.abs(before - np.arange(T)) <= np.abs(nearest - np.arange(T)),
                       before, nearest)
    price = price[:, nearest]
    avail = np.zeros((len(MULTI_CUTS), len(MULTI_REGIONS), MULTI_TICKS), np.uint8)
    prices = np.zeros(avail.shape, np.uint16)
    for k, o in enumerate(MULTI_CUTS):
        assert o + MULTI_TICKS <= T
        assert all(o + MULTI_TICKS <= a or o >= b for a, b in test_spans), o
        avail[k] = full[:, o:o + MULTI_TICKS]
        prices[k] = np.round(price[:, o:o + MULTI_TICKS] * 1e4).astype(np.uint16)
    return avail, prices


def build(src: Path, out: Path) -> None:
    s_avail, s_files = _single_test(src)
    periods = _single_periods(src)
    m_avail, m_prices, m_starts = _multi(src)
    c_avail, c_prices = _multi_cuts(src)
    m_avail = np.concatenate([m_avail, c_avail])
    m_prices = np.concatenate([m_prices, c_prices])
    cut_ids = [MULTI_CUT_BASE + k for k in range(len(MULTI_CUTS))]
    m_starts += [f"aws-02-15-2023 tick {o}" for o in MULTI_CUTS]
    period_bits: dict[str, Any] = {f"single_period_{i}": np.packbits(periods[p], axis=-1)
                                   for i, p in enumerate(SINGLE_PERIODS)}
    period_lens: dict[str, Any] = {f"single_period_{i}_len": np.int64(periods[p].shape[-1])
                                   for i, p in enumerate(SINGLE_PERIODS)}
    np.savez_compressed(
        out,
        single_envs=np.asarray(SINGLE_ENVS),
        single_gap=np.float64(600.0),
        single_test_avail=np.packbits(s_avail, axis=-1),
        single_test_len=np.int64(s_avail.shape[-1]),
        single_test_files=s_files,
        single_periods=np.asarray(SINGLE_PERIODS),
        **period_bits,
        **period_lens,
        multi_regions=np.asarray(MULTI_REGIONS),
        multi_gap=np.float64(195.0),
        multi_windows=np.asarray(list(MULTI_WINDOWS) + cut_ids, dtype=np.int64),
        multi_starts=np.asarray(m_starts),
        multi_avail=np.packbits(m_avail, axis=-1),
        multi_len=np.int64(m_avail.shape[-1]),
        multi_prices_e4=m_prices,
        built=np.asarray(datetime.now().isoformat(timespec="seconds")),
    )


if __name__ == "__main__":
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/spot_traces")
    build(src, Path(__file__).parent / "data" / "spot_traces.npz")
