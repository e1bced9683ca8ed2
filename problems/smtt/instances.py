"""A batch of SMTT instances stored flat (the layout every numba kernel of this problem uses)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from evolve.problem import readonly


@dataclass(eq=False)
class Instances:
    """m instances; job j of instance i is at flat position offsets[i] + j.

    p, d, w: (N,) float64 (w is all ones for unweighted data); offsets: (m+1,) int64;
    ref: (m,) reference objective (NaN = unknown); ref_exact: (m,) bool (proven optimal);
    rdd, tf: (m,) generation class (NaN = unknown); weighted: whether w is meaningful.
    """

    p: np.ndarray
    d: np.ndarray
    w: np.ndarray
    offsets: np.ndarray
    ref: np.ndarray
    ref_exact: np.ndarray
    rdd: np.ndarray
    tf: np.ndarray
    weighted: bool = False
    source: str = ""
    _inputs: dict = field(default_factory=dict, repr=False)

    @property
    def m(self) -> int:
        return int(self.offsets.shape[0] - 1)

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def job_slice(self, i: int) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def arrays(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = self.job_slice(i)
        return self.p[s], self.d[s], self.w[s]

    def visible(self, weighted: bool) -> dict[str, np.ndarray]:
        """What a candidate may see, read-only, built once: the flat p, d (and w) and the
        offsets; never the references."""
        key = bool(weighted)
        if key not in self._inputs:
            self._inputs[key] = {"p": readonly(self.p, np.float64),
                                 "d": readonly(self.d, np.float64),
                                 "offsets": readonly(self.offsets, np.int64)}
            if weighted:
                self._inputs[key]["w"] = readonly(self.w, np.float64)
        return self._inputs[key]


    def subset(self, idx: Iterable[int], source: str | None = None) -> Instances:
        idx = np.asarray(list(idx), dtype=np.int64)
        parts = [self.job_slice(int(i)) for i in idx]

        def cat(a: np.ndarray) -> np.ndarray:
            return np.concatenate([a[s] for s in parts]) if parts else np.zeros(0)

        offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(self.sizes[idx])
        return Instances(
            cat(self.p), cat(self.d), cat(self.w), offsets, self.ref[idx].copy(),
            self.ref_exact[idx].copy(), self.rdd[idx].copy(), self.tf[idx].copy(),
            self.weighted, self.source if source is None else source,
        )

    def with_refs(self, ref: np.ndarray, exact: np.ndarray) -> Instances:
        return Instances(self.p, self.d, self.w, self.offsets, np.asarray(ref, np.float64),
                         np.asarray(exact, bool), self.rdd, self.tf, self.weighted, self.source)

    def fingerprint(self) -> str:
        """Hash of the instance data (not the references): detects stale caches."""
        h = hashlib.sha256()
        for a in (self.offsets, self.p, self.d, self.w if self.weighted else np.zeros(0)):
            dtype = np.float64 if a.dtype.kind == "f" else np.int64
            h.update(np.ascontiguousarray(a, dtype=dtype).data)
        return h.hexdigest()[:16]

    def is_integral(self) -> bool:
        return all(bool(np.all(a == np.round(a))) for a in (self.p, self.d, self.w))

    def records(self) -> list[dict]:
        """JSON-able rows in the JSONL format the loaders read."""
        out = []
        for i in range(self.m):
            p, d, w = self.arrays(i)
            row = {"idx": i, "n": int(p.size), "p": _num_list(p), "d": _num_list(d)}
            if self.weighted:
                row["w"] = _num_list(w)
            if np.isfinite(self.rdd[i]):
                row["rdd"] = float(self.rdd[i])
                row["tf"] = float(self.tf[i])
            if np.isfinite(self.ref[i]):
                row["ref"] = _num(self.ref[i])
                row["ref_exact"] = bool(self.ref_exact[i])
            out.append(row)
        return out


def _num(x: float):
    return int(x) if float(x).is_integer() else float(x)


def _num_list(a: np.ndarray) -> list:
    return [_num(x) for x in a.tolist()]


def from_arrays(
    rows: Sequence[Mapping], weighted: bool, source: str = ""
) -> Instances:
    """Build from dicts with arrays p, d and optional w, ref, ref_exact, rdd, tf (already
    checked)."""
    m = len(rows)
    sizes = np.array([len(r["p"]) for r in rows], dtype=np.int64)
    offsets = np.zeros(m + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(sizes)

    def cat(key: str) -> np.ndarray:
        parts = [np.ones(len(r["p"])) if r.get(key) is None else np.asarray(r[key], np.float64)
                 for r in rows]
        return np.concatenate(parts) if parts else np.zeros(0)

    def get(key: str, default: float) -> np.ndarray:
        return np.array([default if r.get(key) is None else r[key] for r in rows], np.float64)

    p, d, w = cat("p"), cat("d"), cat("w")
    return Instances(
        p, d, w, offsets, get("ref", np.nan), get("ref_exact", 0.0).astype(bool),
        get("rdd", np.nan), get("tf", np.nan), weighted, source,
    )


def argument_rows(visible: Mapping[str, np.ndarray]) -> list[tuple[np.ndarray, ...]]:
    """Per-instance argument tuples (p, d) or (p, d, w): read-only views of `visible` arrays."""
    names = [k for k in ("p", "d", "w") if k in visible]
    offsets = np.asarray(visible["offsets"], np.int64)
    return [tuple(visible[k][offsets[i]:offsets[i + 1]] for k in names)
            for i in range(offsets.shape[0] - 1)]
