"""The problems `spot_single` and `spot_multi`: deadline-aware spot scheduling (Can't Be Late)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from evolve.config_check import typed
from evolve.evaluators import spot, spot_sim
from evolve.problem import (
    Candidate,
    Feed,
    InstanceSet,
    InvalidOutput,
    Problem,
    ProblemError,
    SetScore,
    Summary,
)
from evolve.problems.spot import baselines as base_policies
from evolve.problems.spot import data, texts
from evolve.problems.spot.schema import SpotMultiSchema, SpotSchema, SpotSingleSchema
from evolve.problems.spot.summary import set_metrics, summarize_sets

# for the built-in mutator: unary functions (module attributes) and useful terms of `decide`
PRIMITIVES = (
    "math.ceil", "math.floor",
    "(deadline - elapsed) / gap",  # ticks left
    "(deadline - elapsed - work_left) / gap",  # slack in ticks
    "(work_left + overhead) / gap",  # ticks needed after one restart
    "(job - work_left) - elapsed * job / deadline",  # progress ahead of the uniform line
)


class SpotProblem(Problem):
    """Shared machinery: policy runs in the sandbox, trusted replay, scores and feedback."""

    @classmethod
    def panel(cls, metrics: Mapping[str, float],
              sets: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
        from evolve.problems.spot.panel import panel

        return panel(metrics, sets, cls.name)

    entry = "decide"
    signature = texts.SIGNATURE
    jit_entry = True
    deterministic = True  # the score is simulated cost only: same program, same score, any machine
    streams = True  # the simulator steps in the worker; the child sees one tick at a time
    primitives = PRIMITIVES
    paired_metric = "mean_cost"  # per job: its cost (SetScore.per_instance)
    key_metrics = ("mean_cost", "std_cost", "score_0_100", "deadline_misses", "misses",
                   "optimum_mean_cost", "bound_sum")
    weighting = "instance"  # how jobs fold into mean_cost: per job, or mean of scenario means
    policies: ClassVar[dict[str, Callable]] = {}
    schema: ClassVar[type[SpotSchema]] = SpotSchema

    def __init__(self, cfg: Mapping[str, Any] | None = None):
        super().__init__(cfg)
        c = self.conf = typed(self.schema, self.cfg, "problem", ProblemError)
        self.job_h = float(c.job_hours)
        self.switch_h = c.region_switch_overhead_hours
        self.std_penalty = float(c.std_penalty)
        self.report_optimum = bool(c.report_optimum)
        self.sim = spot.SimConfig(
            od_price=float(c.on_demand_price),
            published_pricing=bool(c.published_accounting),
            free_region_switch=bool(c.published_accounting),
            published_safety_net=bool(c.published_safety_net),
            observe_all_regions=bool(c.observe_all_regions),
        )
        self.spot_anchor = float(c.spot_anchor_price)
        self._sets: dict[str, list[InstanceSet]] = {}

    # ---- data -----------------------------------------------------------------------------
    def instance_sets(self, split: str) -> list[InstanceSet]:
        if split not in ("train", "validation", "test"):
            raise ProblemError(f"split={split!r}: expected train, validation or test")
        if split not in self._sets:
            self._sets[split] = [InstanceSet(n, b, b.n) for n, b in self._build(split)]
        return self._sets[split]

    def _build(self, split: str) -> list[tuple[str, spot.SpotBatch]]:
        raise NotImplementedError

    def warm_up(self) -> None:
        super().warm_up()
        spot.compile_policy(base_policies.greedy)  # first compile of the policy machinery

    # ---- evaluation -----------------------------------------------------------------------
    def _policy(self, candidate: Candidate):
        """(callable, jitted) for the simulator; records why numba could not be used."""
        if candidate.jit is not None:
            try:
                return spot.compile_policy(candidate.jit.dispatcher), True
            except Exception as e:  # noqa: BLE001 - any typing/lowering failure means fallback
                lines = str(e).strip().splitlines()
                candidate.fallback_reason = (lines[0] if lines else type(e).__name__)[:300]
                candidate.jit = None
        elif not candidate.fallback_reason and callable(candidate.py):
            try:  # trusted callables (baselines) handed over without a jit wrapper
                return spot.compile_policy(candidate.py), True
            except Exception:  # noqa: BLE001
                pass
        return candidate.py, False

    def run(self, candidate: Candidate, iset: InstanceSet) -> dict[str, np.ndarray]:
        """In-process (trusted callers): one numba call; the sandbox streams (feed/respond)."""
        policy, jitted = self._policy(candidate)
        actions, regions, _ = spot.run_policy(iset.data, policy, self.sim, jitted)
        return {"actions": actions, "regions": regions}

    def feed(self, isets: list[InstanceSet]) -> Feed:
        """Every job of the stage on one clock, a round per tick: the policy gets the round's
        observations (each running job's tick) only once its proposals for the previous round
        are in, so no trace, and no later tick of an overlapping window, is in its process."""
        run = spot.Rounds(spot.merge([iset.data for iset in isets]), self.sim)
        T = 0
        while (k := run.observe(T)) or run.live[0]:
            if k:
                got = yield {"rf": run.rf[:k], "ri": run.ri[:k],
                             "n": np.array([run.batch.n], np.int64)}
                run.apply(T, k, _proposals(got, k))
            T += 1
        first = np.cumsum([0] + [iset.data.n for iset in isets])
        return [{"actions": run.actions[a:b, :iset.data.record_len],
                 "regions": run.regions[a:b, :iset.data.record_len]}
                for iset, a, b in zip(isets, first[:-1], first[1:])]

    def respond(self, candidate: Candidate, state, inputs) -> dict[str, np.ndarray]:
        """Untrusted: the policy's proposals for one round (each job keeps its own memory)."""
        if "policy" not in state:
            state["policy"], state["jitted"] = self._policy(candidate)
            if state["jitted"]:
                state["policy"] = spot.PolicyAddress(state["policy"])
            state["mem"] = np.zeros((int(inputs["n"][0]), spot.MEM_SIZE))
        rf, ri = inputs["rf"], inputs["ri"]
        props = np.zeros((ri.shape[0], 2), np.int64)
        propose = spot_sim.propose_nb if state["jitted"] else spot_sim.propose_py
        propose(state["policy"], ri.shape[0], rf, ri, state["mem"], props)
        return {"p": props}

    def forget(self) -> None:
        self._sets.clear()
        data.load.cache_clear()

    def cascade(self) -> list:
        """No gate stage: its windows are cut from the training traces, and a candidate that had
        run them would know the future of training jobs (gate_sets still serve constant tuning,
        a search step, not a score). A broken policy fails at its first bad round anyway."""
        return []

    def score_set(self, iset: InstanceSet, outputs: Mapping[str, np.ndarray]) -> SetScore:
        batch: spot.SpotBatch = iset.data
        rec = []
        for key in ("actions", "regions"):
            a = outputs.get(key)
            if (not isinstance(a, np.ndarray) or a.ndim != 2 or a.shape[0] != batch.n
                    or a.shape[1] > batch.record_len):
                shape = getattr(a, "shape", None)
                raise InvalidOutput(f"{key}: expected an array of shape ({batch.n}, <= "
                                    f"{batch.record_len}), got {shape}")
            if a.dtype.kind not in "iu" or (a.size and (a.min() < -32768 or a.max() > 32767)):
                raise InvalidOutput(f"{key}: expected int16 proposals, got dtype {a.dtype}")
            rec.append(a.astype(np.int16))
        stats = spot.replay(batch, rec[0], rec[1], self.sim)
        status = stats[:, spot.ST_STATUS]
        bad = np.flatnonzero((status == spot.spot_sim.INVALID) | (status == spot.spot_sim.MISSING))
        if bad.size:
            raise InvalidOutput(spot.status_message(batch, int(bad[0]), stats[bad[0]]))
        bound = spot.optimum(batch, self.sim.od_price) if self.report_optimum else None
        return SetScore(iset.name, batch.n, set_metrics(batch, stats, bound),
                        per_instance=stats[:, spot.ST_COST].astype(np.float64))

    def summarize(self, split: str, scores: list[SetScore]) -> Summary:
        return summarize_sets(scores, weighting=self.weighting, std_penalty=self.std_penalty,
                              od_price=self.sim.od_price, spot_price=self.spot_anchor)

    # ---- references -----------------------------------------------------------------------
    def baselines(self) -> dict[str, Callable]:
        return {name: spot.compile_policy(fn) for name, fn in self.policies.items()}

    def default_baselines(self) -> list[str]:
        return list(self.policies)


def _proposals(got: Mapping[str, np.ndarray], k: int) -> np.ndarray:
    """The candidate's (action, region) per observation row, as an int64 (k, 2) array."""
    a = got.get("p")
    if not isinstance(a, np.ndarray) or a.shape != (k, 2) or a.dtype.kind not in "iu":
        raise InvalidOutput(f"policy proposals: expected {k} (action, region) integer pairs, "
                            f"got {getattr(a, 'shape', type(a).__name__)}")
    return a.astype(np.int64)


class SpotSingleProblem(SpotProblem):
    """Single-region Can't Be Late on the ADRS leaderboard (or paper) suite."""

    name = "spot_single"
    description = texts.single("leaderboard")
    policies = base_policies.SINGLE
    schema = SpotSingleSchema

    def __init__(self, cfg: Mapping[str, Any] | None = None):
        super().__init__(cfg)
        c = self.conf
        suite = str(c.suite)
        s = data.SINGLE_SUITES[suite]
        self.suite = suite
        self.description = texts.single(suite)
        self.envs = s["envs"]
        self.deadlines = tuple(c.deadlines_hours if c.deadlines_hours is not None
                               else s["deadlines"])
        self.overheads = tuple(c.overheads_hours if c.overheads_hours is not None
                               else s["overheads"])
        self.n_train = int(c.train_windows)
        self.n_validation = int(c.validation_windows)
        self.spot_price = float(c.spot_price)

    def _batch(self, env, wins, names, deadlines=None, overheads=None, job_h=None, offsets=None):
        return data.single_batch(wins, names, env, data.load()["single_gap"],
                                 deadlines or self.deadlines, overheads or self.overheads,
                                 job_h or self.job_h, self.switch_h, self.spot_price, offsets)

    def _build(self, split):
        d = data.load()
        out = []
        for env in self.envs:
            e = d["single_envs"].index(env)
            if split == "test":
                wins = list(d["single_test"][e])
                names = [f"adrs{int(x)}" for x in d["single_test_files"][e]]
                starts = [data.SINGLE_TEST_CLOCK[int(x)] for x in d["single_test_files"][e]]
            else:
                period = 0 if split == "train" else 1
                trace = d[f"single_period_{period}"][e]
                k = self.n_train if split == "train" else self.n_validation
                starts = data.evenly_spaced_starts(len(trace), d["single_test"].shape[-1], k)
                wins = [trace[s: s + d["single_test"].shape[-1]] for s in starts]
                names = [f"{d['single_periods'][period]}+{s}" for s in starts]
            out.append((env, self._batch(env, wins, names, offsets=starts)))
        return out

    def gate_sets(self) -> list[InstanceSet]:
        """Three 24 h jobs (30 h deadline) on train windows of different envs."""
        if "gate" not in self._sets:
            d = data.load()
            wins, names = [], []
            for k in range(3):
                env = self.envs[(2 * k) % len(self.envs)]
                trace = d["single_period_0"][d["single_envs"].index(env)]
                wins.append(trace[300 * k: 300 * k + 200])
                names.append(f"{env}+{300 * k}")
            batch = self._batch("gate", wins, names, deadlines=(30.0,),
                                overheads=(self.overheads[-1],),
                                job_h=24.0, offsets=[300 * k for k in range(3)])
            self._sets["gate"] = [InstanceSet("gate", batch, batch.n)]
        return self._sets["gate"]

    def load_instances(self, paths: list[str]) -> list[InstanceSet]:
        sets = []
        for p in paths:
            for name, names, wins, gap in data.read_single_folder(Path(p)):
                b = data.single_batch(wins, names, name, gap, self.deadlines, self.overheads,
                                      self.job_h, self.switch_h, self.spot_price)
                sets.append(InstanceSet(name, b, b.n))
        return sets


class SpotMultiProblem(SpotProblem):
    """Multi-region Can't Be Late on the six ADRS scenarios (score: mean of scenario means)."""

    name = "spot_multi"
    description = texts.MULTI
    policies = base_policies.MULTI
    weighting = "scenario"
    schema = SpotMultiSchema

    def __init__(self, cfg: Mapping[str, Any] | None = None):
        super().__init__(cfg)
        self.deadline_h = float(self.conf.deadline_hours)
        self.overhead_h = float(self.conf.overhead_hours)

    def _scenario(self, name, regions, windows, job_h=None, dl_h=None):
        avail, prices = data.multi_windows(regions, windows)
        return data.multi_batch(avail, prices, data.load()["multi_gap"], name,
                                [str(w) for w in windows], job_h or self.job_h,
                                dl_h or self.deadline_h, self.overhead_h, self.switch_h,
                                [data.MULTI_CLOCK[w] for w in windows])

    def _build(self, split):
        out = []
        for name, regions, k in data.MULTI_SCENARIOS:
            windows = {"test": tuple(range(k)), "train": data.MULTI_TRAIN_WINDOWS,
                       "validation": data.MULTI_VALIDATION_WINDOWS}[split]
            out.append((name, self._scenario(name, regions, windows)))
        return out

    def gate_sets(self) -> list[InstanceSet]:
        """Three 24 h jobs (26 h deadline): 2, 3 and 5 regions, one train window each."""
        if "gate" not in self._sets:
            batches = [self._scenario(name, regions, (data.MULTI_TRAIN_WINDOWS[k],), job_h=24.0,
                                      dl_h=26.0)
                       for k, (name, regions, _) in enumerate(data.MULTI_SCENARIOS[0:6:2])]
            self._sets["gate"] = [InstanceSet(f"gate/{b.scenario_names[0]}", b, b.n)
                                  for b in batches]
        return self._sets["gate"]

    def load_instances(self, paths: list[str]) -> list[InstanceSet]:
        sets = []
        for p in paths:
            _regions, idx, avail, prices, gap = data.read_multi_folder(Path(p))
            if avail.shape[1] * gap + 1e-6 < self.deadline_h * data.HOUR:
                raise ProblemError(f"{p}: the shared windows last "
                                   f"{avail.shape[1] * gap / 3600:.2f} h, shorter than the "
                                   f"deadline ({self.deadline_h:g} h)")
            name = Path(p).name or str(p)
            b = data.multi_batch(avail, prices, gap, name, [str(i) for i in idx], self.job_h,
                                 self.deadline_h, self.overhead_h, self.switch_h)
            sets.append(InstanceSet(name, b, b.n))
        return sets
