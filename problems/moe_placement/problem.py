"""The `moe_placement` problem: DeepSeek-EPLB-compatible expert placement for MoE inference."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from evolve.compiled import adopt, recording
from evolve.config import to_dict
from evolve.config_check import typed
from evolve.episode import run_locally
from evolve.evaluators.moe import Shapes
from evolve.problem import (
    Feed,
    InstanceSet,
    InvalidOutput,
    Problem,
    ProblemError,
    SetScore,
    Summary,
    readonly,
)
from evolve.problems.moe_placement import scoring, snake
from evolve.problems.moe_placement.schema import MoeSchema
from evolve.problems.moe_placement.workloads import (
    Series,
    SeriesSpec,
    generated_series,
    read_windows,
    real_pair,
    real_statistics,
)

DESCRIPTION = """\
Expert-parallel load balancing for Mixture-of-Experts inference (DeepSeek EPLB, as vLLM and SGLang
call it). A model has L MoE layers with E routed experts each. The serving cluster has R physical
expert slots (replicas) spread over G GPUs (R/G slots each, slot r on GPU r // (R/G)) on N nodes
(GPU g on node g // (G/N)). Given the measured token load of every expert in the last window,
weight[L, E] (float64, read-only), decide for each layer how many replicas every expert gets and
which slot holds each replica. A token routed to expert e is split evenly over its replicas.

Contract (drop-in for DeepSeek's eplb.py, numpy arrays; numba may be used inside):
    rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus)
        -> phy2log[L, R] int (expert held by each slot; every slot holds an expert),
           log2phy[L, E, X] int (slots of each expert, X >= max replicas, padded with -1),
           logcnt[L, E] int (replicas per expert; must match phy2log).
Every expert needs at least one replica (any expert with load in the next window without a replica
makes the output invalid). When num_groups % num_nodes == 0 (hierarchical mode; experts form
num_groups groups of E/num_groups consecutive ids) all replicas of a group must sit on one node.

The placement is scored on the NEXT window's load (out of sample): GPU balancedness = sum over
layers of the mean GPU load / sum over layers of the max GPU load (1.0 is perfect). The score adds
a small runtime term: the call runs inside the serving engine, so faster is better (the evaluator
times repeated calls on fresh load windows of the training shape and takes the median). Loads
drift between windows: popularity random walks, bursts of single experts, switches between
prefill- and decode-heavy traffic.
"""


@cache
def seed_function(name: str) -> Callable:
    """`rebalance_experts` of seeds/moe_placement/<name>.py (trusted; numba compiles on first
    call)."""
    path = resources.files("evolve.seeds") / "moe_placement" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_moe_seed_{name}", str(path))
    if spec is None or spec.loader is None:
        raise ProblemError(f"seed {path}: cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with recording():  # the worker's seed warm-up and candidates then reuse what this compiles
        adopt(path.read_text(), module.__dict__)
    return module.rebalance_experts


class MoePlacementProblem(Problem):
    """Place and replicate MoE experts on GPUs so that the next window's load is balanced, fast."""

    @classmethod
    def panel(cls, metrics: Mapping[str, float],
              sets: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
        from evolve.problems.moe_placement.panel import panel

        return panel(metrics, sets)

    name = "moe_placement"
    entry = "rebalance_experts"
    signature = ("def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus) "
                 "-> tuple[np.ndarray, np.ndarray, np.ndarray]  # phy2log[L,R], log2phy[L,E,X], "
                 "logcnt[L,E]")
    description = DESCRIPTION
    jit_entry = False  # the entry returns a tuple of arrays and may call its own numba kernels
    streams = True  # the window that scores a placement never sits in the candidate's process
    deterministic = False  # the score includes a measured runtime

    def __init__(self, cfg: Mapping[str, Any] | None = None):
        super().__init__(cfg)
        c = self.conf = typed(MoeSchema, self.cfg, "problem", ProblemError)
        self.shapes = Shapes(**to_dict(c.shapes))
        self.weights = scoring.Weights(**to_dict(c.score))
        self.repeats = int(c.timing.repeats)
        self.timed_calls = self.repeats + 1  # the first call is a warm-up (never timed)
        self.spec = SeriesSpec(**to_dict(c.generator))
        self.worst_layers = int(c.feedback_layers)
        self._check_shapes(self.spec.experts, "problem.generator.experts")
        self._sets: dict[str, list[InstanceSet]] = {}
        self._refs: dict[str, tuple[Series, list[dict[str, float]]]] = {}
        self._pool: np.ndarray | None = None

    def _check_shapes(self, experts: int, where: str) -> None:
        bad = self.shapes.problems(experts)
        if bad:
            raise ProblemError(f"problem.shapes do not fit {experts} experts ({where}): "
                               f"{'; '.join(bad)}")

    # ---- data -----------------------------------------------------------------------------
    def _generated(self, split: str, seeds, spec: SeriesSpec) -> list[InstanceSet]:
        return [self._iset(generated_series(f"{split}/series_{s}", int(s), spec)) for s in seeds]

    @staticmethod
    def _iset(series: Series) -> InstanceSet:
        return InstanceSet(series.name, series, len(series.pairs))

    def instance_sets(self, split: str) -> list[InstanceSet]:
        if split in self._sets:
            return self._sets[split]
        if split in ("train", "validation"):
            sets = self._generated(split, self.conf.splits[split].seeds, self.spec)
        elif split == "test":
            pairs = self.conf.splits.test.pairs
            self._check_shapes(next(iter(real_statistics().values())).shape[1],
                               "the SGLang statistics")
            sets = []
            for p in pairs:
                sets.append(self._iset(real_pair(str(p[0]), str(p[1]))))
        else:
            raise ProblemError(f"split {split!r}: expected one of train, validation, test")
        self._sets[split] = sets
        return sets

    def gate_sets(self) -> list[InstanceSet]:
        g = self.conf.gate
        if not g.enabled:
            return []
        if "gate" not in self._sets:
            layers, seed = int(g.layers), int(g.seed)
            spec = dataclasses.replace(self.spec, layers=layers, windows=2)
            self._sets["gate"] = [self._iset(generated_series(f"gate/series_{seed}", seed, spec))]
        return self._sets["gate"]

    def load_instances(self, paths: list[str]) -> list[InstanceSet]:
        series = read_windows([str(p) for p in paths])
        self._check_shapes(series.num_experts, f"window files {series.name}")
        return [self._iset(series)]

    def warm_up(self) -> None:
        """Build train and gate data and their references (compiles the simulators and the
        oracle)."""
        for iset in self.instance_sets("train") + self.gate_sets():
            self._references(iset)

    # ---- evaluation -----------------------------------------------------------------------
    def _args(self) -> tuple[int, int, int, int]:
        s = self.shapes
        return s.num_replicas, s.num_groups, s.num_nodes, s.num_gpus

    def run(self, candidate, iset: InstanceSet) -> dict[str, np.ndarray]:
        """The candidate's placement for each planning window (nothing is timed here)."""
        return run_locally(self, candidate, [iset])[0]

    def feed(self, isets: list[InstanceSet]) -> Feed:
        """One planning window per round, in an order where a placement is in before the window
        that scores it is sent as anyone's input (the next window of a series; a test pair's
        scoring table may be another pair's planning table): no candidate can look ahead."""
        outs: list[dict[str, np.ndarray]] = [{} for _ in isets]
        for s, k in planning_order([iset.data for iset in isets]):
            series: Series = isets[s].data
            got = yield {"weight": readonly(series.loads[series.pairs[k][0]], np.float64)}
            for name in ("phy2log", "log2phy", "logcnt"):
                if not isinstance(got.get(f"{name}_0"), np.ndarray):
                    raise InvalidOutput(f"{isets[s].name}, window {k}: no {name} returned")
                outs[s][f"{name}_{k}"] = got[f"{name}_0"]
        return outs

    def respond(self, candidate, state, inputs) -> dict[str, np.ndarray]:
        """Untrusted: one window's placement."""
        return _outputs(candidate.fn(inputs["weight"], *self._args()), 0,
                        self.shapes.num_replicas)

    def forget(self) -> None:
        self._sets.clear()
        self._refs.clear()
        self._pool = None
        real_statistics.cache_clear()

    def _references(self, iset: InstanceSet) -> list[dict[str, float]]:
        cached = self._refs.get(iset.name)
        if cached is None or cached[0] is not iset.data:  # replay folders may share a name
            refs = scoring.references(iset.data, self.shapes, seed_function("deepseek"))
            self._refs[iset.name] = cached = (iset.data, refs)
        return cached[1]

    def score_set(self, iset: InstanceSet, outputs: Mapping[str, np.ndarray]) -> SetScore:
        return scoring.score_series(iset.data, outputs, self.shapes, self._references(iset),
                                    self.worst_layers)

    def summarize(self, split: str, scores: list[SetScore]) -> Summary:
        return scoring.summarize(split, scores, self.weights)

    # ---- runtime (timed by the trusted side: see Problem.timing_args) ---------------------
    def _timing_pool(self) -> np.ndarray:
        """The training windows [T, L, E] float64, all series stacked (timing inputs start here)."""
        if self._pool is None:
            self._pool = np.concatenate([iset.data.loads for iset in self.instance_sets("train")])
        return self._pool

    def timing_args(self, rng: np.random.Generator) -> list[tuple]:
        """`timed_calls` argument tuples: (weight[L, E] float64 read-only, R, G, N, num_gpus).

        Each weight is a random training window with its layers shuffled and its counts redrawn
        as Poisson(count): realistic loads of the training shape that no candidate has seen, so
        a call cannot be answered from a cache of earlier inputs.
        """
        pool = self._timing_pool()
        out = []
        for _ in range(self.timed_calls):
            w = pool[int(rng.integers(len(pool)))]
            w = rng.poisson(w[rng.permutation(w.shape[0])]).astype(np.float64)
            out.append((readonly(w), *self._args()))
        return out

    def call_entry(self, candidate, args: tuple) -> dict[str, np.ndarray]:
        """Untrusted: one timed call; its placement goes back to be checked."""
        return _outputs(candidate.fn(*args), 0, self.shapes.num_replicas)

    def check_call(self, args: tuple, outputs: Mapping[str, np.ndarray]) -> float:
        """Trusted: the timed call's placement must be valid for its load, and its in-sample GPU
        balancedness is its quality (a stale or shortcut answer balances a shuffled load badly)."""
        return scoring.call_quality(args[0], outputs, self.shapes)

    def apply_timing(self, summary: Summary, call_seconds: np.ndarray,
                     call_quality: np.ndarray | None = None) -> Summary:
        return scoring.apply_timing(summary, call_seconds, self.weights, call_quality)

    # ---- references -----------------------------------------------------------------------
    def baselines(self) -> dict[str, Callable]:
        return {"deepseek": seed_function("deepseek"), "snake": snake.rebalance_experts}


def planning_order(series: list[Series]) -> list[tuple[int, int]]:
    """(series index, pair index) of every placement, in the given order as far as possible but
    each before any placement whose planning window is its scoring window (windows compared by
    content: real tables recur across test pairs). Raises ProblemError on a cycle."""
    digest = [[hashlib.sha256(np.ascontiguousarray(w).tobytes()).digest() for w in s.loads]
              for s in series]
    steps = [(s, k) for s, one in enumerate(series) for k in range(len(one.pairs))]
    plan = {st: digest[st[0]][series[st[0]].pairs[st[1]][0]] for st in steps}
    score = {st: digest[st[0]][series[st[0]].pairs[st[1]][1]] for st in steps}
    done: list[tuple[int, int]] = []
    left = list(steps)
    while left:
        # a step may go when no other step still to go is scored on its planning window
        ready = next((st for st in left if not any(score[o] == plan[st] and plan[o] != score[o]
                                                   for o in left if o != st)), None)
        if ready is None:
            names = ", ".join(series[s].name for s, _ in left[:4])
            raise ProblemError(f"the planning / scoring windows of {names} form a cycle: a "
                               "candidate would see a scoring window before placing for it")
        done.append(ready)
        left.remove(ready)
    return done


def _outputs(result, k: int, num_replicas: int) -> dict[str, np.ndarray]:
    """The candidate's (phy2log, log2phy, logcnt) as plain numeric arrays keyed by instance `k`."""
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise InvalidOutput("rebalance_experts must return (phy2log, log2phy, logcnt), got "
                            f"{type(result).__name__}")
    out = {}
    for name, value in zip(("phy2log", "log2phy", "logcnt"), result):
        try:
            a = np.asarray(value)
        except Exception as e:  # noqa: BLE001 - whatever the candidate returned
            raise InvalidOutput(f"{name}: not an array ({type(e).__name__})") from None
        if a.dtype.kind not in "iu":
            raise InvalidOutput(f"{name}: dtype {a.dtype}, expected integers")
        out[f"{name}_{k}"] = a
    if out[f"log2phy_{k}"].ndim == 3 and out[f"log2phy_{k}"].shape[2] > num_replicas:
        raise InvalidOutput(f"log2phy: {out[f'log2phy_{k}'].shape[2]} columns, more than "
                            "num_replicas")
    return out
