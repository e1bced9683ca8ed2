"""A small real run folder for the CLI tests: SortingProblem programs evaluated for real,
recorded through the Archive API with lineage edges, LLM calls, failures and a duplicate."""

from __future__ import annotations

import json
import os
from pathlib import Path

from omegaconf import OmegaConf

from evolve.archive import Archive, LLMCall, Program, sqlite_url
from evolve.cli.archive import main
from evolve.program import code_hash
from evolve.result import evaluate_in_process
from tests.problems.sorting import SortingProblem

SORTING_TARGET = f"{Path(__file__).parent / 'problems' / 'sorting.py'}:SortingProblem"
PROBLEM_CFG = {"name": "sorting", "target": SORTING_TARGET, "instances": 8, "n": 12}

TEMPLATE = """import numpy as np


def solve(x):
    n = x.shape[0]
    key = np.empty(n)
    for i in range(n):
        # EVOLVE-BLOCK-START
        key[i] = {expr}
        # EVOLVE-BLOCK-END
    return np.argsort(key)
"""


def code(expr: str) -> str:
    return TEMPLATE.replace("{expr}", expr)


# (label, proposer, operator, model, parent label, mate label, code, llm mode)
STEPS = [
    ("seed", "seed", None, None, None, None, code("0.1 * x[i] + 1.0 * (i / n)"), None),
    ("mut", "mutation", "scale_const", None, "seed", None, code("1.0 * x[i] + 0.1 * (i / n)"),
     None),
    ("diff", "llm_diff", None, "tiny-model", "mut", None, code("x[i]"), "diff"),
    ("crash", "llm_rewrite", None, "tiny-model", "diff", None, code("float(x[i]) / (i - i)"),
     "rewrite"),
    ("cross", "crossover", "block_swap", None, "seed", "diff", code("0.5 * x[i] + 0.5 * (i / n)"),
     None),
    ("dup", "mutation", "swap_args", None, "diff", None, code("x[i]") + "# same program\n", None),
    ("broken", "llm_fix", None, "tiny-model", "crash", None, code("x[i] +"), "fix"),
    ("short", "tune", "constants", None, "cross", None,
     code("0.5 * x[i] + 0.5 * (i / n)").replace("np.argsort(key)", "np.argsort(key)[:-1]"), None),
]


def build_run(root: Path, stamp: str = "2026-01-01_00-00-00") -> tuple[Path, dict[str, int]]:
    """Write runs/sorting/<stamp>/ under `root`; returns the folder and label -> program id."""
    folder = root / "runs" / "sorting" / stamp
    folder.mkdir(parents=True)
    config = {"problem": dict(PROBLEM_CFG), "evaluator": {"timeout_s": 60, "memory_mb": 2048},
              "search": {"iterations": len(STEPS) - 1, "seed": 0}}
    OmegaConf.save(OmegaConf.create(config), folder / "config.yaml")
    archive = Archive(sqlite_url(folder / "archive.sqlite"))
    run = archive.create_run("sorting", str(folder), config, seed=0)
    problem = SortingProblem(PROBLEM_CFG)
    ids: dict[str, int] = {}
    progs: dict[str, Program] = {}
    wall = 0.0
    for it, (label, proposer, op, model, parent, mate, text, mode) in enumerate(STEPS):
        h = code_hash(text)
        same = next((p for p in progs.values() if p.code_hash == h), None)
        if same is not None:  # the engine answers an identical program from the archive
            res_status, score, metrics, error, secs = (same.status, same.score, same.metrics,
                                                       None, 0.0)
            feedback = same.feedback
        else:
            res = evaluate_in_process(problem, text, "train", jit=False)
            res_status, score, metrics, error = (res.status, res.score, res.metrics,
                                                 res.error or None)
            feedback, secs = res.feedback, res.seconds
        wall += secs + 0.5
        par = progs.get(parent) if parent else None
        prog = Program(
            run_id=run.id, iteration=it, island=0, generation=(par.generation + 1) if par else 0,
            parent_id=par.id if par else None, code=text, code_hash=h, proposer=proposer,
            operator=op, model=model, diff=None, status=res_status, error=error, score=score,
            metrics=metrics, feedback=feedback, stage="full",
            duplicate_of=same.id if same is not None else None,
            improved=bool(par and score is not None and par.score is not None
                          and score > par.score),
            propose_seconds=0.25, eval_seconds=secs, wall_offset=wall,
        )
        edges = [(par.id, "parent")] if par else []
        if mate:
            edges.append((progs[mate].id, "mate"))
        calls = []
        if mode:
            calls.append(LLMCall(
                run_id=run.id, iteration=it, model=model, mode=mode,
                prompt=[{"role": "system", "content": "You improve sorting heuristics."},
                        {"role": "user", "content": f"Improve [program #{par.id}]:\n{par.code}"}],
                reply=f"```python\n{text}```", prompt_tokens=100 + it, completion_tokens=40 + it,
                cost_usd=0.001 * it, latency_s=1.5, attempts=1,
            ))
        archive.record(prog, edges=edges, calls=calls, run_updates={"wall_seconds": wall})
        progs[label], ids[label] = prog, prog.id
    # island migration: a copy of the best on the other island
    best = progs["diff"]
    mig = Program(run_id=run.id, iteration=len(STEPS), island=1, generation=best.generation,
                  parent_id=best.id, code=best.code, code_hash=best.code_hash, proposer="migration",
                  status="ok", score=best.score, metrics=best.metrics, feedback=best.feedback,
                  wall_offset=wall)
    archive.record(mig, run_updates={"status": "finished", "stop_reason": "iterations"})
    ids["migration"] = mig.id
    archive.close()
    (folder / "best.py").write_text(best.code)
    (folder / "run.log").write_text("test run\n")
    latest = folder.parent / "latest"
    if latest.is_symlink():
        latest.unlink()
    os.symlink(stamp, latest)
    return folder, ids


def call(capsys, *argv, command: tuple[str, ...] = ()):
    """`evolve-archive [command] argv...` in process: (exit code, stdout, stderr)."""
    rc = main([*command, *(str(a) for a in argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def as_json(capsys, *argv, command: tuple[str, ...] = ()):
    """The --json output of `evolve-archive [command] argv...` (which must exit 0)."""
    rc, out, err = call(capsys, *argv, "--json", command=command)
    assert rc == 0, err
    return json.loads(out)
