"""`evolve-replay`: evaluate a program on held-out data (or instance files) next to baselines.

TARGET is a run folder (its best program), `RUN:ID`, or a .py file (then --problem NAME, with
--config-dir DIR for problems defined outside the package, as for `evolve`). The program runs
in the sandbox; the problem's baselines are trusted and run in this process on the same sets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from evolve.cli.common import CliError, console, emit_json, fail_line, fmt_num, fmt_secs
from evolve.cli.replay_eval import choose_baselines, evaluate_baselines, evaluate_target
from evolve.cli.replay_target import Target, compose_config, parse_target, problem_names
from evolve.problem import SPLITS, ProblemError, make_problem
from evolve.result import EvalResult

# Test sets can be much larger than the training sets a run's timeout was tuned on.
DEFAULT_TIMEOUT_S = 600.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evolve-replay",
        description="Replay a program on held-out data next to the problem's baselines.",
    )
    p.add_argument("target", help="run folder (best program), RUN:ID, or a .py file")
    p.add_argument("--problem", help="problem name (required for a .py target); "
                                     "overrides the run's problem config")
    p.add_argument("--config-dir", action="append", default=[], metavar="DIR",
                   help="extra config tree with problem/<name>.yaml (as for `evolve`)")
    p.add_argument("--split", default="test", choices=SPLITS, help="split to evaluate (default test)")
    p.add_argument("--instances", nargs="+", metavar="PATH",
                   help="instance file(s) instead of a split, in the problem's format")
    p.add_argument("--baselines", metavar="all|none|a,b",
                   help="baselines to compare with (default: the problem's defaults)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help=f"wall-clock limit of the program's evaluation (default {DEFAULT_TIMEOUT_S:g})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def _problem_cfg(args, target: Target) -> tuple[dict, dict]:
    """(problem section, evaluator section) for this replay."""
    if args.problem:
        root = compose_config(args.problem, args.config_dir)
        return root["problem"], target.evaluator_cfg or root.get("evaluator", {})
    if target.problem_cfg is None:
        raise CliError(f"{target.path}: --problem is required for a .py file "
                       f"(valid: {', '.join(problem_names(args.config_dir))})")
    return target.problem_cfg, target.evaluator_cfg


def _sets(res: EvalResult) -> list[dict[str, Any]]:
    return [{k: s.get(k) for k in ("name", "n_instances", "metrics", "runtime_s")} for s in res.sets]


def _result_dict(res: EvalResult) -> dict[str, Any]:
    return {"status": res.status, "error": res.error or None, "score": res.score,
            "metrics": res.metrics, "compile_fallback": res.compile_fallback or None,
            "seconds": res.seconds, "sets": _sets(res)}


def _columns(rows: list[tuple[str, dict]], key: tuple[str, ...] = ()) -> list[str]:
    """Metric columns: the problem's key metrics when it names them (the rest stay in --json),
    else the target's order with gap-like names first."""
    names: list[str] = []
    for _, metrics in rows:
        names += [k for k in metrics if k not in names]
    chosen = [k for k in key if k in names]
    if chosen:
        return chosen
    return sorted(names, key=lambda n: (0 if "gap" in n.lower() else 1, names.index(n)))


def _render(target: Target, res: EvalResult, base: dict[str, EvalResult], where: str,
            key: tuple[str, ...] = ()) -> None:
    con = console()
    entries = [(target.label, res)] + list(base.items())
    for i, s in enumerate(res.sets):
        rows = []
        for label, r in entries:
            match = next((x for x in r.sets if x["name"] == s["name"]), None) if r.ok else None
            rows.append((label, r, match))
        cols = _columns([(lbl, m["metrics"]) for lbl, _, m in rows if m], key)
        t = Table(title=f"{s['name']} ({s['n_instances']} instances)")
        t.add_column("program")
        for c in cols + ["runtime_s"]:
            t.add_column(c, justify="right")
        for label, r, m in rows:
            if m is None:
                t.add_row(Text(label), Text(f"{r.status}: {r.error}", style="red"))
                continue
            t.add_row(Text(label, style="bold" if label == target.label else ""),
                      *(fmt_num(m["metrics"].get(c)) for c in cols), fmt_secs(m.get("runtime_s")))
        con.print(t)
    t = Table(title=f"overall on {where}")
    cols = _columns([(lbl, r.metrics) for lbl, r in entries if r.ok], key)
    t.add_column("program")
    for c in ["score"] + cols:
        t.add_column(c, justify="right")
    for label, r in entries:
        if r.ok:
            t.add_row(Text(label), fmt_num(r.score), *(fmt_num(r.metrics.get(c)) for c in cols))
        else:
            t.add_row(Text(label), Text(f"{r.status}: {r.error}", style="red"))
    con.print(t)
    if res.compile_fallback:
        con.print(Text(f"note: {target.label} ran as plain Python ({res.compile_fallback})"))


def replay(args) -> int:
    target = parse_target(args.target)
    problem_cfg, evaluator_cfg = _problem_cfg(args, target)
    try:
        problem = make_problem(problem_cfg)
    except ProblemError as e:
        raise CliError(str(e)) from None
    names = choose_baselines(problem, args.baselines)
    for path in args.instances or []:  # before the sandbox spends seconds warming up
        if not Path(path).exists():
            raise CliError(f"--instances {path}: no such file or folder")
    limits = dict(evaluator_cfg)
    limits["timeout_s"] = args.timeout or DEFAULT_TIMEOUT_S
    res = evaluate_target(problem_cfg, target.code, args.split, args.instances, limits)
    if not res.ok:
        line = " ".join(f"{res.status}: {res.error}".split())
        sys.stderr.write(f"{line}\n")
        return 2
    base = evaluate_baselines(problem, names, args.split, args.instances)
    where = f"{len(args.instances)} instance file(s)" if args.instances else f"the {args.split} split"
    if args.json:
        emit_json({
            "problem": problem.name or problem_cfg.get("name"),
            "split": None if args.instances else args.split,
            "instances": args.instances,
            "program": {**target.describe(), **{k: v for k, v in _result_dict(res).items()
                                                 if k != "sets"}},
            "sets": _sets(res),
            "baselines": {n: _result_dict(r) for n, r in base.items()},
        })
    else:
        _render(target, res, base, where, tuple(problem.key_metrics))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return replay(args)
    except CliError as e:
        return fail_line(str(e))
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
