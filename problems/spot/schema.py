"""The spot problems' config (problem=spot_single, problem=spot_multi): keys, ranges, defaults.

Light on purpose (no numba): the engine imports it to register the schema with Hydra. Prices are
those of evaluators/spot.py (OD_PRICE, SPOT_PRICE; a test holds them equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from evolve.config_check import items, num
from evolve.config_schema import ProblemBase


@dataclass
class SpotSchema(ProblemBase):
    """Keys of both spot problems."""

    seed_program: str = "greedy"
    job_hours: float = num(48.0, gt=0)
    region_switch_overhead_hours: float | None = num(None, ge=0)  # None: the restart overhead
    std_penalty: float = num(0.0, ge=0)  # score = -(mean cost + std_penalty * std cost)
    # true reproduces the published billing quirks: all spot time at the final region's
    # first-tick price, region moves free (parity only)
    published_accounting: bool = False
    published_safety_net: bool = False  # the guarantee keys on the type before preemption
    observe_all_regions: bool = True  # false: the policy sees its own region's availability only
    report_optimum: bool = True  # compute the omniscient optimum (lower bound) per job
    on_demand_price: float = num(3.06, gt=0)  # $/h, p3.2xlarge
    spot_anchor_price: float = num(0.9731, ge=0)  # $/h: the 0-100 score's spot reference


class Suite(StrEnum):
    """Single-region test suites."""

    leaderboard = "leaderboard"  # 6 envs x deadline {52, 70} h x overhead {0.02, 0.05, 0.1} h
    paper = "paper"  # 4 envs x {52, 70, 92} h x {0.02, 0.2, 0.4} h


@dataclass
class SpotSingleSchema(SpotSchema):
    """Single-region Can't Be Late (ADRS leaderboard or paper suite)."""

    name: str = "spot_single"
    target: str = "evolve.problems.spot:SpotSingleProblem"
    suite: Suite = Suite.leaderboard
    deadlines_hours: list[float] | None = items(None, nonempty=True, ge=0)  # None: the suite's
    overheads_hours: list[float] | None = items(None, nonempty=True, ge=0)  # None: the suite's
    train_windows: int = num(16, ge=1)  # windows per env cut from the 2022-11-28 ping period
    validation_windows: int = num(16, ge=1)  # windows per env cut from the 2022-12-13 period
    spot_price: float = num(0.9731, ge=0)  # $/h billed for spot time


@dataclass
class SpotMultiSchema(SpotSchema):
    """Multi-region Can't Be Late on the six ADRS scenarios."""

    name: str = "spot_multi"
    target: str = "evolve.problems.spot:SpotMultiProblem"
    deadline_hours: float = num(52.0, gt=0)
    overhead_hours: float = num(0.2, ge=0)

    @staticmethod
    def rules(node: Any) -> str:
        if node.deadline_hours < node.job_hours:
            return (f"deadline_hours={node.deadline_hours:g}: shorter than the job "
                    f"({node.job_hours:g} h)")
        return ""


SCHEMAS = {"spot_single": SpotSingleSchema, "spot_multi": SpotMultiSchema}
