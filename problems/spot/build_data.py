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


def build(src: Path, out: Path) -> None:
    s_avail, s_files = _single_test(src)
    periods = _single_periods(src)
    m_avail, m_prices, m_starts = _multi(src)
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
        multi_windows=np.asarray(MULTI_WINDOWS, dtype=np.int64),
        multi_starts=np.asarray(m_starts),
        multi_avail=np.packbits(m_avail, axis=-1),
        multi_len=np.int64(m_avail.shape[-1]),
        multi_prices_e4=m_prices,
        built=np.asarray(datetime.now().isoformat(timespec="seconds")),
    )


if __name__ == "__main__":
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/spot_traces")
    build(src, Path(__file__).parent / "data" / "spot_traces.npz")
