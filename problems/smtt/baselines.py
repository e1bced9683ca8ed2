"""Baselines with the candidate signature: schedule(p, d) or, weighted, schedule(p, d, w).

edd, spt (WSPT when weighted), mdd (Baker & Bertrand; Kanet & Li's WMDD when weighted), psk
(Panwalkar, Smith & Koulamas), atc (Apparent Tardiness Cost, k tuned per instance over a grid),
eddc / mddc (the LLM-discovered rules of Çetinkaya et al., as their code runs), aug_mdd /
aug_mddc (their augmented variants), mdd_ls (MDD + insertion/swap local search to a local optimum).
Rules that do not know weights (edd, psk, eddc, mddc) ignore them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit

from . import rules
from .localsearch import local_search

LS_WINDOW = 64  # swap partners at most this many slots apart


@njit(cache=True)
def mdd_ls(p, d, w):
    order = rules.mdd(p, d, w)
    local_search(order, p, d, w, min(p.shape[0], LS_WINDOW))
    return order


KERNELS: dict[str, Callable] = {
    "edd": rules.edd,
    "spt": rules.spt,
    "mdd": rules.mdd,
    "psk": rules.psk,
    "atc": rules.atc,
    "eddc": rules.eddc,
    "mddc": rules.mddc,
    "aug_mdd": rules.aug_mdd,
    "aug_mddc": rules.aug_mddc,
    "mdd_ls": mdd_ls,
}
DEFAULT = ["edd", "mdd", "mddc"]


def _unweighted(kernel: Callable) -> Callable:
    def schedule(p, d):
        p = np.asarray(p, dtype=np.float64)
        return kernel(p, np.asarray(d, dtype=np.float64), np.ones(p.shape[0]))

    schedule.__name__ = kernel.__name__ if hasattr(kernel, "__name__") else "schedule"
    return schedule


def _weighted(kernel: Callable) -> Callable:
    def schedule(p, d, w):
        f = lambda a: np.asarray(a, dtype=np.float64)  # noqa: E731
        return kernel(f(p), f(d), f(w))

    schedule.__name__ = kernel.__name__ if hasattr(kernel, "__name__") else "schedule"
    return schedule


def baselines(weighted: bool) -> dict[str, Callable]:
    wrap = _weighted if weighted else _unweighted
    return {name: wrap(k) for name, k in KERNELS.items()}
