"""The problem's config keys (evolve/conf/problem/smtt.yaml), checked with one-line errors."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from evolve.problem import ProblemError

from . import reference
from .generator import RDD_GRID, TF_GRID
from .splits import DEFAULT_PARAMS

log = logging.getLogger(__name__)


def _bool(v: Any, key: str) -> bool:
    if isinstance(v, bool):
        return v
    raise ProblemError(f"problem.{key}={v!r}: expected true or false")


def _num(v: Any, key: str, lo: float | None = None, integer: bool = False) -> float:
    ok = isinstance(v, int) if integer else isinstance(v, (int, float))
    if isinstance(v, bool) or not ok or (lo is not None and v < lo):
        kind = "an integer" if integer else "a number"
        bound = f" >= {lo:g}" if lo is not None else ""
        raise ProblemError(f"problem.{key}={v!r}: expected {kind}{bound}")
    return v


def _list(v: Any, key: str, lo: float, hi: float | None = None, integer: bool = False) -> list:
    if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
        raise ProblemError(f"problem.{key}={v!r}: expected a list")
    out = [_num(x, f"{key}", lo, integer) for x in v]
    if not out or (hi is not None and any(x > hi for x in out)):
        raise ProblemError(f"problem.{key}={v!r}: expected a non-empty list of values in "
                           f"[{lo:g}, {hi}]")
    return out


def _split(cfg: Mapping, split: str) -> dict:
    raw = cfg.get(split) or {}
    if not isinstance(raw, Mapping):
        raise ProblemError(f"problem.{split}={raw!r}: expected a mapping with sizes, per_class, "
                           "seed")
    extra = set(raw) - {"sizes", "per_class", "seed"}
    if extra:
        raise ProblemError(f"problem.{split}: unknown key(s) {sorted(extra)} "
                           f"(known: sizes, per_class, seed)")
    d = {**DEFAULT_PARAMS[split], **dict(raw)}
    return {"sizes": _list(d["sizes"], f"{split}.sizes", 2, 5000, integer=True),
            "per_class": int(_num(d["per_class"], f"{split}.per_class", 1, integer=True)),
            "seed": int(_num(d["seed"], f"{split}.seed", 0, integer=True))}


@dataclass
class SmttConfig:
    """Parsed problem.* keys."""

    weighted: bool
    train: dict
    validation: dict
    rdd: tuple
    tf: tuple
    gate_instances: int
    gate_max_gap_pct: float | None
    miss_penalty_pct: float
    reference: dict
    cache_dir: Path | None

    KNOWN: ClassVar[set[str]] = {"name", "target", "seed_program", "weighted", "train",
                                 "validation", "rdd", "tf",
             "gate_instances", "gate_max_gap_pct", "miss_penalty_pct", "reference", "cache_dir"}

    @classmethod
    def parse(cls, cfg: Mapping[str, Any]) -> SmttConfig:
        unknown = set(cfg) - cls.KNOWN
        if unknown:  # engine-level keys may be added later: warn rather than refuse
            log.warning("problem: key(s) %s are not smtt settings (known: %s)", sorted(unknown),
                        ", ".join(sorted(cls.KNOWN)))
        ref = cfg.get("reference") or {}
        if not isinstance(ref, Mapping) or set(ref) - set(reference.DEFAULTS):
            raise ProblemError(f"problem.reference={ref!r}: expected a mapping with keys among "
                               f"{sorted(reference.DEFAULTS)}")
        ref = {k: _num(v, f"reference.{k}", 0) for k, v in dict(ref).items()}
        gmax = cfg.get("gate_max_gap_pct")
        cache = cfg.get("cache_dir")
        return cls(
            weighted=_bool(cfg.get("weighted", False), "weighted"),
            train=_split(cfg, "train"),
            validation=_split(cfg, "validation"),
            rdd=tuple(_list(cfg.get("rdd", RDD_GRID), "rdd", 0.0, 2.0)),
            tf=tuple(_list(cfg.get("tf", TF_GRID), "tf", 0.0, 1.0)),
            gate_instances=int(_num(cfg.get("gate_instances", 20), "gate_instances", 0,
                                    integer=True)),
            gate_max_gap_pct=None if gmax is None else float(_num(gmax, "gate_max_gap_pct", 0)),
            miss_penalty_pct=float(_num(cfg.get("miss_penalty_pct", 100.0), "miss_penalty_pct", 0)),
            reference={**reference.DEFAULTS, **ref},
            cache_dir=Path(str(cache)).expanduser() if cache else None,
        )
