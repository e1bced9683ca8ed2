"""`evolve-replay`: evaluate a program on held-out data (or instance files) next to baselines.

TARGET is a run folder (its best program), `RUN:ID`, or a .py file (then --problem NAME, with
--config-dir DIR for problems defined outside the package, as for `evolve`). The program runs
in the sandbox; the problem's baselines are trusted and run in this process on the same sets.
`problem.KEY=VALUE` arguments (Hydra's syntax) change the problem section before the problem is
built, e.g. `problem.suite=paper` (see replay_overrides).

A run folder's problem code is imported only when it is registered (evolve.trust): a built-in
problem, or a problem config under a `--config-dir` the user passed. Ctrl-C and SIGTERM both
stop the evaluation, close the sandbox pool and exit with status 130.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from rich.table import Table
from rich.text import Text

from evolve.cli.common import (
    CliError,
    OneLineParser,
    check_config_dirs,
    console,
    emit_json,
    fail_line,
    fmt_num,
    fmt_secs,
    positive_number,
)
from evolve.cli.replay_eval import (
    check_instance_files,
    choose_baselines,
    evaluate_baselines,
    evaluate_target,
)
from evolve.cli.replay_overrides import (
    Override,
    apply_overrides,
    describe_overrides,
    looks_like_override,
    parse_overrides,
)
from evolve.cli.replay_paired import Paired, compare, fmt
from evolve.cli.replay_progress import MODES, ReplayProgress
from evolve.cli.replay_target import (
    Target,
    compose_config,
    parse_target,
    problem_names,
    trusted_sections,
)
from evolve.config import ConfigError
from evolve.problem import SPLITS, ProblemError, make_problem
from evolve.result import EvalResult

# Test sets can be much larger than the training sets a run's timeout was tuned on.
DEFAULT_TIMEOUT_S = 600.0
# Interrupted (Ctrl-C or SIGTERM): the shell's code for SIGINT, one code for both.
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="evolve-replay",
        description="Replay a program on held-out data next to the problem's baselines.",
        epilog="A run folder's problem is imported only if it is built in or configured under a "
               "--config-dir. Exit status: 0 done, 2 bad input or failed program, 130 "
               "interrupted (Ctrl-C or SIGTERM).",
    )
    p.add_argument("target", help="run folder (best program), RUN:ID, or a .py file")
    p.add_argument("overrides", nargs="*", metavar="problem.KEY=VALUE",
                   help="change a key of the problem config (Hydra override syntax), e.g. "
                        "problem.suite=paper; only keys the problem config has")
    p.add_argument("--problem", help="problem name (required for a .py target); "
                                     "overrides the run's problem config")
    p.add_argument("--config-dir", action="append", default=[], metavar="DIR",
                   help="extra config tree with problem/<name>.yaml (as for `evolve`)")
    p.add_argument("--split", default="test", choices=SPLITS,
                   help="split to evaluate (default test)")
    p.add_argument("--instances", nargs="+", metavar="PATH",
                   help="instance file(s) instead of a split, in the problem's format")
    p.add_argument("--baselines", metavar="all|none|a,b",
                   help="baselines to compare with (default: the problem's defaults)")
    p.add_argument("--timeout", type=positive_number(float), default=None, metavar="S",
                   help="wall-clock limit of the program's evaluation (default "
                        f"{DEFAULT_TIMEOUT_S:g})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--progress", choices=MODES, default="auto",
                   help="progress per instance set on stderr: auto (once the replay has run a "
                        "few seconds), always, never (default auto)")
    return p


def _problem_cfg(args, target: Target) -> tuple[dict, dict]:
    """(problem section, sandbox limits) for this replay; a run folder's sections pass through
    evolve.trust first, so nothing it names is imported unless registered."""
    if args.problem:  # the user named the problem: only the folder's numeric limits are used
        root = compose_config(args.problem, args.config_dir)
        if target.kind == "file":
            return root["problem"], dict(root.get("evaluator") or {})
        return root["problem"], trusted_sections(
            Target(**{**target.__dict__, "problem_cfg": root["problem"]}), args.config_dir)[1]
    if target.kind == "file":
        raise CliError(f"{target.path}: --problem is required for a .py file "
                       f"(valid: {', '.join(problem_names(args.config_dir))})")
    return trusted_sections(target, args.config_dir)


def _sets(res: EvalResult) -> list[dict[str, Any]]:
    return [{k: s.get(k) for k in ("name", "n_instances", "metrics", "runtime_s")}
            for s in res.sets]


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


Pairs = dict[str, tuple[list[Paired | None], Paired | None]]


def _paired_json(pairs: Pairs, metric: str, lower: bool) -> dict[str, Any]:
    return {"metric": metric, "lower_is_better": lower, "difference": "program - baseline",
            "baselines": {n: {"sets": [p.to_dict() if p else None for p in per_set],
                              "over_sets": whole.to_dict() if whole else None}
                          for n, (per_set, whole) in pairs.items()}}


def _render(target: Target, res: EvalResult, base: dict[str, EvalResult], where: str,
            key: tuple[str, ...] = (), overrides: str = "", pairs: Pairs | None = None,
            metric: str = "") -> None:
    con = console()
    entries = [(target.label, res)] + list(base.items())
    pairs = pairs or {}
    delta = f"{target.label} - it, {metric} [95% CI]"
    for k, s in enumerate(res.sets):
        rows = []
        for label, r in entries:
            match = next((x for x in r.sets if x["name"] == s["name"]), None) if r.ok else None
            rows.append((label, r, match))
        cols = _columns([(lbl, m["metrics"]) for lbl, _, m in rows if m], key)
        t = Table(title=f"{s['name']} ({s['n_instances']} instances)")
        t.add_column("program")
        for c in cols + ["runtime_s"]:
            t.add_column(c, justify="right")
        if pairs:
            t.add_column(delta, justify="right")
            t.add_column("better/worse/tie", justify="right")
        for label, r, m in rows:
            if m is None:
                t.add_row(Text(label), Text(f"{r.status}: {r.error}", style="red"))
                continue
            extra: list[str] = []
            if pairs:
                p = pairs[label][0][k] if label in pairs else None
                extra = [fmt(p), f"{p.better}/{p.worse}/{p.ties}" if p else ""]
            t.add_row(Text(label, style="bold" if label == target.label else ""),
                      *(fmt_num(m["metrics"].get(c)) for c in cols), fmt_secs(m.get("runtime_s")),
                      *extra)
        con.print(t)
    t = Table(title=f"overall on {where}",
              caption=f"problem overrides: {overrides}" if overrides else None)
    cols = _columns([(lbl, r.metrics) for lbl, r in entries if r.ok], key)
    t.add_column("program")
    for c in ["score"] + cols:
        t.add_column(c, justify="right")
    if pairs:
        t.add_column(f"{delta}, mean over sets", justify="right")
    for label, r in entries:
        if r.ok:
            extra = [fmt(pairs[label][1]) if label in pairs else ""] if pairs else []
            t.add_row(Text(label), fmt_num(r.score), *(fmt_num(r.metrics.get(c)) for c in cols),
                      *extra)
        else:
            t.add_row(Text(label), Text(f"{r.status}: {r.error}", style="red"))
    con.print(t)
    if res.compile_fallback:
        con.print(Text(f"note: {target.label} ran as plain Python ({res.compile_fallback})"))


def _split_overrides(args) -> list[Override]:
    """The overrides, also those typed after --instances (which takes every word up to the next
    flag): an argument shaped like `key=value` that is no existing file is an override."""
    from pathlib import Path

    words = list(args.overrides or [])
    if args.instances:
        keep = [w for w in args.instances if Path(w).exists() or not looks_like_override(w)]
        words += [w for w in args.instances if w not in keep]
        args.instances = keep or None
        if not keep:
            raise CliError("--instances: no instance file given")
    return parse_overrides(words)


def _make_problem(problem_cfg: dict, overrides: list[Override]):
    try:
        return make_problem(problem_cfg)
    except (ProblemError, ConfigError) as e:  # the problem's own checks: they name the key
        raise CliError(" ".join(str(e).split())) from None
    except Exception as e:  # a value that a problem without its own checks chokes on
        if not overrides:
            raise
        first = (str(e).strip().splitlines() or [""])[0]
        raise CliError(f"{describe_overrides(overrides)}: the problem refused it "
                       f"({type(e).__name__}: {first})") from None


def replay(args) -> int:
    check_config_dirs(args.config_dir)
    overrides = _split_overrides(args)
    target = parse_target(args.target)
    problem_cfg, evaluator_cfg = _problem_cfg(args, target)
    # after the trust check: the overrides cannot name other code (replay_overrides refuses
    # problem.target and problem.name), so the checked target is the one imported
    problem_cfg = apply_overrides(problem_cfg, overrides)
    problem = _make_problem(problem_cfg, overrides)
    names = choose_baselines(problem, args.baselines)
    check_instance_files(problem, args.instances or [])  # before the sandbox warms up
    limits = dict(evaluator_cfg)
    limits["timeout_s"] = args.timeout or DEFAULT_TIMEOUT_S
    metric, lower = problem.paired_metric, problem.paired_lower_is_better
    with ReplayProgress(args.progress) as progress:
        res = evaluate_target(problem_cfg, target.code, args.split, args.instances, limits,
                              progress, target.label, per_instance=bool(metric and names))
        if res.ok:
            base = evaluate_baselines(problem, names, args.split, args.instances, progress,
                                      per_instance=bool(metric))
    if not res.ok:
        line = " ".join(f"{res.status}: {res.error}".split())
        sys.stderr.write(f"{line}\n")
        return 2
    where = (f"{len(args.instances)} instance file(s)" if args.instances
             else f"the {args.split} split")
    pairs = compare(res, base, lower) if metric else {}
    if args.json:
        emit_json({
            "problem": problem.name or problem_cfg.get("name"),
            "split": None if args.instances else args.split,
            "instances": args.instances,
            "overrides": {o.key: o.value for o in overrides},
            "program": {**target.describe(), **{k: v for k, v in _result_dict(res).items()
                                                 if k != "sets"}},
            "sets": _sets(res),
            "baselines": {n: _result_dict(r) for n, r in base.items()},
            **({"paired": _paired_json(pairs, metric, lower)} if pairs else {}),
        })
    else:
        _render(target, res, base, where, tuple(problem.key_metrics),
                describe_overrides(overrides), pairs, metric)
    return 0


class _Stop(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is, so the sandbox pool unwinds as for Ctrl-C."""


def _on_sigterm(signum, _frame) -> None:
    raise _Stop(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_intermixed_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed as one line
        return int(e.code or 0)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return replay(args)
    except CliError as e:
        return fail_line(str(e))
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt as e:
        # the `with Evaluator` block has closed the pool by now: workers and children are gone
        why = "SIGTERM" if isinstance(e, _Stop) else "Ctrl-C"
        sys.stderr.write(f"evolve-replay: interrupted ({why}); evaluation stopped\n")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
