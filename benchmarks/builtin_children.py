"""How many built-in proposer children compile, evaluate and improve, per seed and operator.

For each seed, makes `--children` children of that seed (one per iteration seed, no history, no
inspirations, no tuning: the plain mutation mix of the default config) and evaluates each in the
real sandboxed evaluator on the train split, as the engine would. Prints one JSON object:
per seed the seed's score, the counts per status, how many ran with numba (no compile fallback),
how many beat the seed, and the same per operator.

    .venv/bin/python benchmarks/builtin_children.py --problem smtt --seeds edd mdd --children 40
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evolve.config import problem_config  # noqa: E402
from evolve.evaluator import Evaluator  # noqa: E402
from evolve.problem import make_problem  # noqa: E402
from evolve.proposers.base import ProblemInfo, ProgramView, ProposalContext  # noqa: E402
from evolve.proposers.builtin.proposer import BuiltinProposer  # noqa: E402
from evolve.sandbox import Limits  # noqa: E402


def view(code: str, score: float | None) -> ProgramView:
    return ProgramView(id=1, iteration=0, island=0, generation=0, parent_id=None, code=code,
                       status="ok", score=score, metrics={}, feedback="", error="",
                       proposer="seed", operator=None, model=None, behaviour=None, improved=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", default="smtt")
    ap.add_argument("--seeds", nargs="+", default=["edd", "mdd"])
    ap.add_argument("--children", type=int, default=40)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()
    cfg = problem_config(args.problem)
    problem = make_problem(cfg)
    info = ProblemInfo(problem.name, problem.entry, problem.signature, problem.description,
                       tuple(problem.primitives))
    proposer = BuiltinProposer({}, info)
    out: dict = {"problem": args.problem, "children_per_seed": args.children, "seeds": {}}
    with Evaluator(cfg, Limits(timeout_s=args.timeout), workers=1) as ev:
        for seed in args.seeds:
            code = problem.seed_path(seed).read_text()
            base = ev.evaluate_sync(code, split="train")
            status = collections.Counter()
            per_op: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
            jit_ok = better = 0
            best = base.score
            t0 = time.perf_counter()
            for i in range(args.children):
                ctx = ProposalContext(iteration=i, island=0, rng=np.random.default_rng([0, i]),
                                      parent=view(code, base.score), inspirations=[],
                                      history=[view(code, base.score)], problem=info)
                prop = asyncio.run(proposer.propose(ctx))
                if prop.code is None:
                    status[prop.failure or "diff_failed"] += 1
                    per_op[prop.operator or "-"][prop.failure or "diff_failed"] += 1
                    continue
                r = ev.evaluate_sync(prop.code, split="train")
                status[r.status] += 1
                per_op[prop.operator][r.status] += 1
                if r.ok and not r.compile_fallback:
                    jit_ok += 1
                if r.ok and base.score is not None and r.score > base.score:
                    better += 1
                    per_op[prop.operator]["better"] += 1
                    best = max(best, r.score)
            out["seeds"][seed] = {
                "seed_score": base.score, "status": dict(status), "ok_with_numba": jit_ok,
                "better_than_seed": better, "best_child_score": best,
                "per_operator": {k: dict(v) for k, v in sorted(per_op.items())},
                "seconds": round(time.perf_counter() - t0, 1),
            }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
