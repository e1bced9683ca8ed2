"""The `moe_placement` problem's config (problem=moe_placement): keys, ranges, defaults.

The generator section mirrors workloads.SeriesSpec field for field (its defaults are the only
ones); the test pairs default to workloads.TEST_PAIRS.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from evolve.config_check import items, num
from evolve.config_schema import ProblemBase
from evolve.problems.moe_placement.workloads import TEST_PAIRS, SeriesSpec


@dataclass
class MoeShapes:
    """Deployment shape (default: DeepSeek-V3 prefill)."""

    num_replicas: int = num(288, ge=1)  # physical expert slots (256 experts + 32 redundant)
    num_groups: int = num(8, ge=1)  # hierarchical mode when num_groups % num_nodes == 0
    num_nodes: int = num(4, ge=1)
    num_gpus: int = num(32, ge=1)


@dataclass
class MoeScore:
    """score = balancedness * GPU balancedness (out of sample) + runtime * runtime term."""

    balancedness: float = num(1.0, ge=0)
    runtime: float = num(0.05, ge=0)  # term = runtime_ref_ms / (runtime_ref_ms + median ms)
    runtime_ref_ms: float = num(5.0, gt=0)


@dataclass
class MoeTiming:
    """Timed calls per evaluation on fresh loads the worker draws (+1 untimed warm-up)."""

    repeats: int = num(5, ge=1)


def _spec_rules(node: Any) -> str:
    bad = SeriesSpec(**{k: node[k] for k in node})._problem()
    return f": {bad}" if bad else ""


# Synthetic time series for train / validation: workloads.SeriesSpec's fields and defaults
# (SeriesSpec is frozen, which OmegaConf would make read-only, hence this mutable twin).
_hints = typing.get_type_hints(SeriesSpec)
MoeGenerator: Any = dataclasses.make_dataclass(
    "MoeGenerator", [(f.name, _hints[f.name], field(default=f.default))
                     for f in dataclasses.fields(SeriesSpec)],
    namespace={"rules": staticmethod(_spec_rules),
               "__doc__": "Synthetic load series (workloads.SeriesSpec)."})


@dataclass
class SeedSplit:
    """A generated split: one series per seed."""

    seeds: list[int] = items(list, nonempty=True)


@dataclass
class TestSplit:
    """Real SGLang statistics: plan on the first table, score on the second."""

    pairs: list[list[str]] = items(lambda: [list(p) for p in TEST_PAIRS], nonempty=True)

    @staticmethod
    def rules(node: Any) -> str:
        for i, p in enumerate(node.pairs):
            if len(p) != 2:
                return f"pairs[{i}]={list(p)!r}: not a [plan, score] pair"
        return ""


@dataclass
class MoeSplits:
    """Seeds of the generated splits; the test split's table pairs."""

    train: SeedSplit = field(default_factory=lambda: SeedSplit([0, 1]))
    validation: SeedSplit = field(default_factory=lambda: SeedSplit([100, 101]))
    test: TestSplit = field(default_factory=TestSplit)


@dataclass
class MoeGate:
    """Cheap first stage: one short series with few layers."""

    enabled: bool = True
    layers: int = num(4, ge=1)
    seed: int = num(7, ge=0)


@dataclass
class MoeSchema(ProblemBase):
    """Place and replicate MoE experts on GPUs (DeepSeek EPLB contract)."""

    name: str = "moe_placement"
    target: str = "evolve.problems.moe_placement:MoePlacementProblem"
    seed_program: str = "deepseek"  # seeds/moe_placement/deepseek.py (DeepSeek's eplb.py greedy)
    shapes: MoeShapes = field(default_factory=MoeShapes)
    score: MoeScore = field(default_factory=MoeScore)
    timing: MoeTiming = field(default_factory=MoeTiming)
    generator: Any = field(default_factory=MoeGenerator)
    splits: MoeSplits = field(default_factory=MoeSplits)
    gate: MoeGate = field(default_factory=MoeGate)
    feedback_layers: int = num(3, ge=0)  # worst layers named in the feedback


SCHEMAS = {"moe_placement": MoeSchema}
