"""A minimal problem for engine tests: evolve `solve(x) -> order` that sorts x ascending."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evolve.problem import InstanceSet, InvalidOutput, Problem, SetScore, Summary, readonly


def _inversion_fraction(x: np.ndarray, order: np.ndarray) -> float:
    y = x[order]
    n = len(y)
    inv = int(np.sum(np.triu(y[:, None] > y[None, :], 1)))
    return inv / max(1, n * (n - 1) // 2)


class SortingProblem(Problem):
    """Sort arrays: score is minus the mean fraction of inverted pairs (0 is perfect)."""

    name = "sorting"
    entry = "solve"
    signature = "def solve(x: np.ndarray[float64]) -> np.ndarray[int64]  # a permutation"
    description = "Return the permutation of indices that sorts x ascending."
    jit_entry = True  # an outside problem: numba only when asked for (the engine tests want it)

    def _make(self, seed: int, count: int, n: int) -> InstanceSet:
        rng = np.random.default_rng(seed)
        xs = rng.random((count, n))
        return InstanceSet(f"random_{count}x{n}_s{seed}", xs, count)

    def instance_sets(self, split: str) -> list[InstanceSet]:
        seed = {"train": 1, "validation": 2, "test": 3}[split]
        return [self._make(seed, int(self.cfg.get("instances", 20)), int(self.cfg.get("n", 30)))]

    def gate_sets(self) -> list[InstanceSet]:
        return [self._make(0, 2, 5)]

    def load_instances(self, paths):
        return [InstanceSet(Path(p).stem, np.loadtxt(p, ndmin=2), len(np.loadtxt(p, ndmin=2)))
                for p in paths]

    def run(self, candidate, iset):
        orders = []
        for x in iset.data:
            orders.append(np.asarray(candidate.fn(readonly(x)), dtype=np.float64))
        return {"orders": np.array(orders)} if orders else {"orders": np.zeros((0, 0))}

    def score_set(self, iset, outputs):
        orders = outputs.get("orders")
        xs = iset.data
        if orders is None or orders.shape != xs.shape:
            raise InvalidOutput(f"expected {xs.shape} orders, got "
                                f"{None if orders is None else orders.shape}")
        fr = []
        for x, o in zip(xs, orders):
            if not np.all(np.isfinite(o)) or not np.array_equal(np.sort(o), np.arange(len(x))):
                raise InvalidOutput("order is not a permutation of range(n)")
            fr.append(_inversion_fraction(x, o.astype(np.int64)))
        return SetScore(iset.name, iset.size, {"inversions": float(np.mean(fr))})

    def summarize(self, split, scores):
        inv = float(np.mean([s.metrics["inversions"] for s in scores]))
        return Summary(score=-inv, metrics={"inversions": inv},
                       feedback=f"mean inverted-pair fraction {inv:.4f}", behaviour=inv)

    def baselines(self):
        return {"argsort": lambda x: np.argsort(x, kind="stable"),
                "identity": lambda x: np.arange(len(x))}

    def seeds_root(self) -> Path:
        return Path(__file__).parent / "seeds" / "sorting"
