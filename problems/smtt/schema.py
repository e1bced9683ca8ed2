"""The `smtt` problem's config (problem=smtt, problem=smtt_weighted): keys, ranges, defaults.

Light on purpose (no numpy): the engine imports it to register the schema with Hydra. The
defaults of the generated splits, the grids and the solver are those of the shipped data
(splits.DEFAULT_PARAMS, generator.RDD_GRID / TF_GRID, reference.DEFAULTS; tests hold them equal).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evolve.config_check import items, num
from evolve.config_schema import ProblemBase


@dataclass
class Split:
    """A generated split: sizes, instances per (RDD, TF) class, seed, published-style sizes."""

    sizes: list[int] = items(list, nonempty=True, ge=2, le=5000)
    per_class: int = num(1, ge=1)
    seed: int = num(0, ge=0)
    # instances per class for each size (same length as sizes); empty: per_class for every size
    per_class_by_size: list[int] = items(list, ge=1)
    # sizes drawn like the published n = 20 test set (negative due dates allowed; unweighted only;
    # sizes the split does not have are ignored)
    published_sizes: list[int] = items(list, ge=2, le=5000)


@dataclass
class Reference:
    """Reference-solver settings (optima or best known values of generated/loaded instances)."""

    exact_max_n: int = num(500, ge=0)  # Lawler is tried up to this size (unweighted integer data)
    memo_budget: int = num(4_000_000, ge=0)  # Lawler states before giving up on an instance
    dp_max_n: int = num(20, ge=0)  # subset DP (2^n states) for weighted or non-integer data
    ils_iterations_per_job: int = num(20, ge=0)
    ils_window: int = num(32, ge=0)
    seed: int = num(0, ge=0)


@dataclass
class SmttSchema(ProblemBase):
    """1||sum T_j (weighted: 1||sum w_j T_j): evolve schedule(p, d[, w]) -> order."""

    name: str = "smtt"
    target: str = "evolve.problems.smtt:SmttProblem"
    seed_program: str = "edd"  # seeds/smtt/<name>.py: edd, mdd, mddc (weighted: wedd, wmdd)
    weighted: bool = False  # 1||sum w_j T_j: candidates are schedule(p, d, w), tests = OR-Library
    # every size the test covers; weighted runs keep n <= 100 (splits.DEFAULT_PARAMS_WEIGHTED)
    train: Split = field(default_factory=lambda: Split([20, 50, 100, 200, 500], 3, 1,
                                                       [40, 15, 20, 10, 4], [20]))
    validation: Split = field(default_factory=lambda: Split([20, 100, 200, 500], 2, 2,
                                                            [40, 40, 20, 8], [20]))
    rdd: list[float] = items(lambda: [0.2, 0.4, 0.6, 0.8, 1.0], nonempty=True, ge=0, le=2)
    tf: list[float] = items(lambda: [0.2, 0.4, 0.6, 0.8], nonempty=True, ge=0, le=1)
    gate_instances: int = num(20, ge=0)  # smallest train instances run first (0: no gate)
    gate_max_gap_pct: float | None = num(None, ge=0)  # drop candidates above this gate gap
    miss_penalty_pct: float = num(100.0, ge=0)  # cost of a zero-optimum instance left tardy
    reference: Reference = field(default_factory=Reference)
    cache_dir: str | None = None  # splits/references for non-default settings
    #                               (default ~/.cache/adrs-evolve/smtt)


SCHEMAS = {"smtt": SmttSchema}
