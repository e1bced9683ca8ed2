"""SmttProblem: single-machine total (weighted) tardiness, the Problem the engine sees."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from evolve.config import to_dict
from evolve.config_check import typed
from evolve.episode import each_set, run_locally
from evolve.problem import (
    Candidate,
    Feed,
    InstanceSet,
    Problem,
    ProblemError,
    SetFeed,
    SetScore,
    Summary,
)

from . import reference, splits
from .baselines import DEFAULT, baselines
from .instances import Instances, argument_rows
from .loaders import load_file
from .schema import SmttSchema
from .scoring import collect, instance_gaps, score_orders, set_metrics

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Single-machine total {weighted}tardiness ({notation}). n jobs are all available at time 0 and run
one at a time without interruption; job j has processing time p[j] > 0{wtext} and due date d[j]
(may be negative). For an order, C_j is the completion time of job j and its tardiness is
T_j = max(0, C_j - d[j]). Minimise the total {weighted}tardiness {objective}.

Write `{signature}`. Inputs are read-only float64 arrays of length n; return the processing order
as an int64 array that is a permutation of range(n) (every job exactly once). Anything else
(wrong length, duplicates, NaN, non-integers) is an invalid output; writing to the inputs fails.
The function is compiled with numba.njit (nopython): use numpy arrays and scalar loops; lists of
mixed types, dicts, classes, sorted(key=...) and most Python libraries do not compile (they fall
back to slow Python).

Instances follow Potts & Van Wassenhove: p ~ U{{1..100}}{wgen}, d ~ U[P(1-TF-RDD/2),
P(1-TF+RDD/2)] with P = sum(p), RDD in {rdd} and TF in {tf}; training uses n = {sizes}, held-out
tests go up to n = {max_test_n}, so keep the rule around O(n^2) or O(n^2 log n).
Score (higher is better): minus the mean percentage gap to the optimal (or best known) value over
the instances whose optimum is nonzero; an instance with zero optimum that ends with positive
tardiness costs {miss}% / (number of instances). Feedback names the worst (RDD, TF) classes.
{classic}
"""

_CLASSIC = """\
Classic rules: EDD (sort by due date) is ~50-65% above optimal; MDD (dispatch the job with the
smallest max(t + p_j, d_j), t = current time) ~2%; the best published LLM rule (MDDC) ~1.5-2%."""
_CLASSIC_WEIGHTED = """\
Classic rules (mean gap on OR-Library wt40/wt50/wt100): EDD 160-180%; WMDD (dispatch the job with
the smallest max(p_j, d_j - t) / w_j, t = current time) 50-280% although only 1-1.5% on total
tardiness: instances with small optima dominate the mean; ATC (largest
(w_j/p_j) exp(-max(d_j - p_j - t, 0) / (k * mean p)), best k per instance) 3.5-10%."""


class SmttProblem(Problem):
    """1||sum T_j (or 1||sum w_j T_j): evolve a sequencing rule schedule(p, d[, w]) -> order."""

    @classmethod
    def panel(cls, metrics: Mapping[str, float],
              sets: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
        from evolve.problems.smtt.panel import panel

        return panel(metrics, sets)

    name = "smtt"
    entry = "schedule"
    jit_entry = True
    streams = True  # the child gets p, d (w) round by round, never the references
    deterministic = True  # the score is tardiness only: same program, same score, any machine
    # extra mutation material: unary functions and terms over the seeds' block variables
    primitives = ("np.exp", "np.sqrt", "np.log1p", "max(slack, 0.0)", "slack / p_j", "d_j - t")
    paired_metric = "mean_gap_pct"  # per instance: its gap (NaN where the optimum is 0)
    key_metrics = ("mean_gap_pct", "ratio_gap_pct", "max_gap_pct", "zero_ref_misses",
                   "worst_class_gap_pct")

    def __init__(self, cfg: Mapping[str, Any] | None = None):
        super().__init__(cfg)
        self.conf = typed(SmttSchema, self.cfg, "problem", ProblemError)
        # the configured name (smtt, smtt_weighted): run folders and the archive use it; seeds
        # and prompts stay those of smtt (seeds_root)
        self.name = str(self.conf.name)
        self.reference = to_dict(self.conf.reference)
        self.cache = Path(self.conf.cache_dir).expanduser() if self.conf.cache_dir else None
        w = self.conf.weighted
        args = "p, d, w" if w else "p, d"
        self.signature = f"def schedule({args}) -> np.ndarray  # int64 permutation of range(len(p))"
        self.description = _DESCRIPTION.format(
            weighted="weighted " if w else "",
            notation="1||sum w_j T_j" if w else "1||sum T_j",
            wtext=", weight w[j] > 0" if w else "",
            objective="sum_j w[j] * T_j" if w else "sum_j T_j",
            signature=self.signature.split("  #")[0],
            wgen=", w ~ U{1..10}" if w else "",
            rdd=list(self.conf.rdd), tf=list(self.conf.tf),
            sizes=sorted(set(self._split_cfg("train")["sizes"])),
            max_test_n=100 if w else 500,
            miss=f"{self.conf.miss_penalty_pct:g}",
            classic=_CLASSIC_WEIGHTED if w else _CLASSIC,
        )
        self._sets: dict[str, list[InstanceSet]] = {}

    # ---- data -------------------------------------------------------------------------------
    def _split_cfg(self, split: str) -> dict:
        cfg = to_dict(self.conf[split])
        if self.conf.weighted and cfg == splits.DEFAULT_PARAMS[split]:
            # weighted tests stop at n = 100 and its references beyond n = 20 are slow ILS runs:
            # the unweighted defaults (up to n = 500) would cost much and cover nothing tested
            return dict(splits.DEFAULT_PARAMS_WEIGHTED[split])
        return cfg

    def _generated(self, split: str) -> Instances:
        params = splits.split_params(split, self._split_cfg(split), self.conf.weighted,
                                     self.conf.rdd, self.conf.tf)
        return splits.generated(params, self.reference, self.cache)

    def instance_sets(self, split: str) -> list[InstanceSet]:
        if split not in self._sets:
            if split in ("train", "validation"):
                insts = splits.by_size(self._generated(split), split)
            elif split == "test":
                insts = splits.test_sets(self.conf.weighted)
            else:
                raise ProblemError(f"split={split!r}: expected train, validation or test")
            self._sets[split] = [InstanceSet(i.source, i, i.m) for i in insts]
        return self._sets[split]

    def gate_sets(self) -> list[InstanceSet]:
        if self.conf.gate_instances <= 0:
            return []
        if "gate" not in self._sets:
            g = splits.gate(self._generated("train"), self.conf.gate_instances)
            self._sets["gate"] = [InstanceSet("gate", g, g.m)]
        return self._sets["gate"]

    def load_instances(self, paths: list[str]) -> list[InstanceSet]:
        out, names = [], set()
        for path in paths:
            inst = self._with_refs(load_file(path, self.conf.weighted))
            name = inst.source
            k = 2
            while name in names:
                name, k = f"{inst.source}_{k}", k + 1
            names.add(name)
            out.append(InstanceSet(name, inst, inst.m))
        return out

    def _with_refs(self, inst: Instances) -> Instances:
        """Fill missing reference values (solver run once per file content, then cached)."""
        if np.all(np.isfinite(inst.ref)):
            return inst
        cache = (self.cache or splits.cache_dir()) / f"refs-{inst.fingerprint()}.npz"
        if cache.exists():
            z = np.load(cache)
            if z["ref"].shape == inst.ref.shape:
                keep = np.isfinite(inst.ref)
                return inst.with_refs(np.where(keep, inst.ref, z["ref"]),
                                      np.where(keep, inst.ref_exact, z["exact"]))
        log.info("smtt: computing reference values for %s (%d instances)", inst.source, inst.m)
        solved = reference.solve(inst, self.reference)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, ref=solved.ref, exact=solved.ref_exact)
        except OSError as e:
            log.warning("smtt: cannot cache references in %s (%s)", cache, e)
        return solved

    def warm_up(self) -> None:
        """Load train + gate and load (or compile) the scoring kernels by scoring EDD once."""
        super().warm_up()
        iset = (self.gate_sets() or self.instance_sets("train"))[0]
        self.score_set(iset, self.run(Candidate(module=None, py=self.baselines()["edd"]), iset))

    # ---- evaluation -------------------------------------------------------------------------
    def run(self, candidate, iset: InstanceSet) -> dict[str, np.ndarray]:
        return run_locally(self, candidate, [iset])[0]

    def feed(self, isets: list[InstanceSet]) -> Feed:
        """One round per set: every instance's p, d (w), never the references."""
        return each_set(self._feed_set, isets)

    def _feed_set(self, iset: InstanceSet) -> SetFeed:
        return (yield iset.data.visible(self.conf.weighted))

    def respond(self, candidate, state, inputs) -> dict[str, np.ndarray]:
        return collect(candidate.fn, argument_rows(inputs))

    def forget(self) -> None:
        self._sets.clear()

    def score_set(self, iset: InstanceSet, outputs: Mapping[str, np.ndarray]) -> SetScore:
        T, orders = score_orders(iset.data, outputs)
        metrics, feedback = set_metrics(iset.data, T, orders, self.conf.miss_penalty_pct, iset.name)
        return SetScore(iset.name, iset.size, metrics, feedback,
                        per_instance=instance_gaps(T, iset.data.ref))

    def summarize(self, split: str, scores: list[SetScore]) -> Summary:
        if not scores:
            raise ProblemError(f"split {split!r}: no instance sets were scored")
        get = lambda k: [s.metrics[k] for s in scores]  # noqa: E731
        metrics = {k: float(np.mean(get(k))) for k in
                   ("score", "mean_gap_pct", "ratio_gap_pct", "edd_similarity",
                    "exact_ref_fraction")}
        metrics.update({k: (float(np.nanmax(get(k))) if not np.all(np.isnan(get(k)))
                            else float("nan"))
                        for k in ("max_gap_pct", "worst_class_gap_pct")})
        metrics.update({k: float(np.sum(get(k))) for k in
                        ("zero_ref_instances", "zero_ref_misses", "below_ref", "total_tardiness")})
        runtime = float(sum(s.runtime_s for s in scores))
        n = sum(s.n_instances for s in scores)
        metrics["runtime_s"] = runtime
        metrics["instances"] = float(n)
        lines = [s.feedback for s in scores]
        lines.append(f"run time {runtime:.3f} s for {n} instances"
                     + (" (mean over sets: each set weighs the same)" if len(scores) > 1 else ""))
        return Summary(score=metrics["score"], metrics=metrics, feedback="\n".join(lines),
                       behaviour=(1.0 + metrics["edd_similarity"]) / 2.0, sets=list(scores))

    def gate_passes(self, summary: Summary) -> bool:
        limit = self.conf.gate_max_gap_pct
        return limit is None or summary.metrics.get("mean_gap_pct", 0.0) <= limit

    # ---- references -------------------------------------------------------------------------
    def baselines(self) -> dict[str, Callable]:
        return baselines(self.conf.weighted)

    def default_baselines(self) -> list[str]:
        return list(DEFAULT)

    def seeds_root(self) -> Path:
        """seeds/smtt/ whatever the configured name (smtt_weighted shares them)."""
        return Path(str(resources.files("evolve.seeds"))) / "smtt"

    def seed_path(self, name_or_path: str) -> Path:
        """Weighted runs start from the weighted twin of a named seed (edd -> wedd) if it exists."""
        if (self.conf.weighted and not name_or_path.endswith(".py")
                and not name_or_path.startswith("w")):
            try:
                return super().seed_path(f"w{name_or_path}")
            except ProblemError:
                pass
        return super().seed_path(name_or_path)
