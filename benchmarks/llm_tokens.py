"""Tokens per LLM iteration, measured on the loopback chat-completions server (no network).

Runs the LLMProposer through the real litellm client against tests/llm_server.py with the
rule-based reply generator, on an SMTT-sized context: the parent, 2 top + 1 diverse inspirations
(the search defaults) and 2 recent failures. Prompt tokens are counted by the server with the
o200k tokenizer. Completion tokens are those of the scripted replies (one SEARCH/REPLACE edit, or
the whole program for a rewrite): a real model adds its explanation, so the cost table gives the
prompt cost per iteration and the price of each 1000 completion tokens separately.

Uses the smtt problem and its `edd` seed when they are installed, else the MDD program below.
Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evolve.llm.client import litellm
from evolve.proposers.base import ProblemInfo, ProgramView, ProposalContext
from evolve.proposers.llm import LLMProposer
from tests.llm_server import LLMServer, edit_generator

MDD = '''"""Single-machine total tardiness: a priority rule, the order in which to run the jobs."""
import numpy as np


# EVOLVE-BLOCK-START
def schedule(p, d):
    """Modified due date (MDD) rule: repeatedly run the job with the smallest max(C + p_j, d_j).

    p, d: int64 arrays of shape (n,) (processing times, due dates); returns a permutation of 0..n-1.
    """
    n = p.shape[0]
    done = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    t = 0
    for k in range(n):
        best = -1
        best_key = 0.0
        for j in range(n):
            if done[j]:
                continue
            key = max(t + p[j], d[j]) + 0.0 * p[j]
            if best < 0 or key < best_key or (key == best_key and p[j] < p[best]):
                best = j
                best_key = key
        done[best] = True
        order[k] = best
        t += p[best]
    return order
# EVOLVE-BLOCK-END
'''

DESCRIPTION = (
    "Single-machine total tardiness (1||sum T_j). n jobs with integer processing times p_j and due "
    "dates d_j must be sequenced on one machine without idle time or preemption. The tardiness of "
    "a job is max(0, C_j - d_j) where C_j is its completion time; minimise the sum over all jobs. "
    "The candidate returns a permutation of the job indices. Instances have n = 20 to 500 jobs "
    "with due-date tightness TF in 0.2..0.8 and range RDD in 0.2..1.0. The score is minus the mean "
    "relative gap to the optimal total tardiness (0 is optimal); the feedback lists the classes of "
    "instances with the largest gaps. The code runs under numba.njit when it can."
)
FEEDBACK = ("train: mean gap 4.82% over 400 instances. Worst classes: n=100 TF=0.8 RDD=0.2 gap "
            "11.3%; n=200 TF=0.6 RDD=0.2 gap 9.7%; n=500 TF=0.8 RDD=0.4 gap 8.9%. Zero-tardiness "
            "instances solved: 38/40. Runtime 0.41 s per 100 instances (numba).")
PRICED = ["gpt-4.1-mini", "gpt-4.1", "claude-sonnet-4-5", "gemini/gemini-2.5-flash"]


def problem_and_seed() -> tuple[ProblemInfo, str, str]:
    try:
        from evolve.problems.smtt import SmttProblem  # type: ignore[attr-defined]

        prob = SmttProblem({})
        code = prob.seed_path("edd").read_text()
        info = ProblemInfo(prob.name, prob.entry, prob.signature, prob.description)
        return info, code, "smtt problem, edd seed"
    except Exception:  # noqa: BLE001 - the smtt package may not be there yet
        info = ProblemInfo("smtt", "schedule",
                           "def schedule(p: np.ndarray, d: np.ndarray) -> np.ndarray",
                           DESCRIPTION)
        return info, MDD, "benchmark MDD program"


def view(id, code, score=None, status="ok", error="", proposer="llm_diff"):
    return ProgramView(id=id, iteration=id, island=0, generation=1, parent_id=None, code=code,
                       status=status, score=score,
                       metrics={"gap_pct": 4.82, "zero_opt_solved": 38.0, "runtime_s": 0.41}
                       if status == "ok" else {},
                       feedback=FEEDBACK if status == "ok" else "", error=error, proposer=proposer,
                       operator=proposer[4:], model="openai/test-model", behaviour=None,
                       improved=False)


def tweak(code: str, k: int) -> str:
    """A variant of the program (an inspiration); a comment only when there is no constant to
    change."""
    if "0.0 * p[j]" in code:
        return code.replace("0.0 * p[j]", f"{0.1 * k:.1f} * p[j]")
    return code + f"\n# v{k}\n"


async def measure(n_iter: int) -> dict:
    info, code, source = problem_and_seed()
    parent = view(1, code, score=-4.82)
    insp = [view(2, tweak(code, 1), -4.9), view(3, tweak(code, 2), -5.1),
            view(4, tweak(code, 3), -7.5)]
    fails = [view(5, code, status="diff_failed",
                  error="edit 1: SEARCH matches 3 line(s) from program "
                  "line 14, then differs: SEARCH has 'key = d[j] - t' but the program has "
                  "'key = max(t + p[j], d[j])'"),
             view(6, code, status="runtime_error",
                  error="IndexError: index 20 is out of bounds for axis 0 "
                  "with size 20 (in schedule, line 19)", proposer="llm_rewrite")]
    broken = view(7, code.replace("done[best] = True", "done[best] = True\n        t += p[best"),
                  status="syntax_error", error="line 27: '[' was never closed")
    per_mode: dict[str, list[tuple[int, int, float]]] = {"diff": [], "rewrite": [], "fix": []}
    with LLMServer(default=edit_generator()) as srv:
        prop = LLMProposer({"model": "openai/test-model", "api_base": srv.url,
                            "price": {"input": 0.0, "output": 0.0}}, {}, info)
        await prop.start(sample_code=code)
        largest = prop.check_context(code)["openai/test-model"]
        for i in range(n_iter):
            fix = i % 10 == 9  # about the share of failed parents the selector hands over
            ctx = ProposalContext(i + 1, 0, np.random.default_rng(i), broken if fix else parent,
                                  insp, [parent, *insp], info, failures=fails)
            out = await prop.propose(ctx)
            rec = out.calls[0]
            per_mode[out.operator].append((rec.prompt_tokens, rec.completion_tokens, rec.latency_s))
    rows = [r for v in per_mode.values() for r in v]
    prompt = statistics.mean(r[0] for r in rows)
    completion = statistics.mean(r[1] for r in rows)
    cost = {}
    for name in PRICED:
        m = litellm().model_cost[name]
        cost[name] = {
            "prompt_usd_per_100_iterations": round(100 * prompt * m["input_cost_per_token"], 4),
            "usd_per_100_iterations_per_1k_completion_tokens":
                round(100 * 1000 * m["output_cost_per_token"], 4),
        }
    return {
        "benchmark": "llm_tokens",
        "program_source": source,
        "program_chars": len(code),
        "iterations": n_iter,
        "context": "parent + 3 inspirations + 2 failures (fix: failed parent)",
        "modes": {k: {"n": len(v),
                      "prompt_tokens": round(statistics.mean(r[0] for r in v), 1) if v else None,
                      "completion_tokens":
                          round(statistics.mean(r[1] for r in v), 1) if v else None}
                  for k, v in per_mode.items()},
        "prompt_tokens_per_iteration": round(prompt, 1),
        "scripted_completion_tokens_per_iteration": round(completion, 1),
        "tokens_per_iteration": round(prompt + completion, 1),
        "largest_prompt_tokens_startup_check": largest,
        "mean_call_latency_s_loopback": round(statistics.mean(r[2] for r in rows), 4),
        "cost": cost,
    }


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    t0 = time.monotonic()
    out = asyncio.run(measure(n))
    out["wall_s"] = round(time.monotonic() - t0, 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
