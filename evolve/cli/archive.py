"""`evolve-archive`: inspect a run's archive (runs, top, show, lineage, stats, plot, export,
compare, serve, report).

Read-only: the archive is opened without creating tables and may belong to a run that is still
writing (SQLite WAL with a busy timeout), or to a run folder copied from another machine.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from evolve.cli import archive_query as q
from evolve.cli import archive_render as render
from evolve.cli.archive_stats import stats as run_stats
from evolve.cli.common import (
    CliError,
    OneLineParser,
    check_config_dirs,
    console,
    emit_json,
    fail_line,
    positive_number,
)
from evolve.cli.runref import find_run_folders, is_archive_url, open_run, open_url_runs
from evolve.problem import SPLITS


def _parser() -> argparse.ArgumentParser:
    common = OneLineParser(add_help=False)
    # SUPPRESS keeps a `--json` given before the subcommand from being reset by the subparser
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print one JSON document instead of tables")
    p = OneLineParser(
        prog="evolve-archive", description="Inspect the archive of an evolve run.",
        epilog="RUN is a run folder (runs/<problem>/<timestamp>), a folder with a `latest` "
               "link, or a database URL with a run id (URL#ID; URL alone: its newest run, the "
               "highest id; see `evolve-archive runs URL`). Nothing but `export` imports the "
               "run's problem code, and export only when the problem is built in or configured "
               "under a --config-dir.",
    )
    p.add_argument("--json", action="store_true", default=False, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    s = sub.add_parser("runs", parents=[common],
                       help="list runs under runs/ or FOLDER, or every run in a database URL")
    s.add_argument("folder", nargs="?", default="runs", metavar="FOLDER_OR_URL")
    s = sub.add_parser("top", parents=[common], help="best programs of a run")
    s.add_argument("run", metavar="RUN")
    s.add_argument("-k", type=positive_number(int), default=10, help="how many (default 10)")
    s.add_argument("--all", action="store_true",
                   help="include duplicates and island-migration copies")
    s.add_argument("--status", choices=q.TOP_STATUSES, default="ok",
                   help="ok: the best programs (default); failed: failures with their error; "
                        "all: both; no_gain: tuning steps that found no improvement")
    s.add_argument("--by", choices=q.TOP_ORDERS, default="validation",
                   help="validation: the validated programs (those that entered the training "
                        "top-k) by validation score (default; a run without validation scores "
                        "falls back to train); train: by training score")
    s = sub.add_parser("show", parents=[common], help="one program: code, metrics, prompt, reply")
    s.add_argument("run", metavar="RUN")
    s.add_argument("id", metavar="ID")
    s = sub.add_parser("lineage", parents=[common], help="seed-to-program chain with diffs")
    s.add_argument("run", metavar="RUN")
    s.add_argument("id", metavar="ID")
    s = sub.add_parser("stats", parents=[common], help="per proposer / model / operator statistics")
    s.add_argument("run", metavar="RUN")
    s = sub.add_parser("plot", parents=[common], help="progress, failures and lineage as a PNG")
    s.add_argument("run", metavar="RUN")
    s.add_argument("-o", "--output", type=Path, help="PNG path (default <run>/plot.png)")
    s = sub.add_parser("export", parents=[common], help="write a program as a standalone module")
    s.add_argument("run", metavar="RUN")
    which = s.add_mutually_exclusive_group()
    which.add_argument("--id", help="program id (default: the best program)")
    which.add_argument("--best", action="store_true", help="the best program (the default)")
    s.add_argument("-o", "--output", type=Path, required=True, help="the .py file to write")
    s.add_argument("--config-dir", action="append", default=[], metavar="DIR",
                   help="config tree with problem/<name>.yaml for a problem defined outside the "
                        "package (trusts its code, as for `evolve`)")
    _compare_parser(sub, common)
    _web_parsers(sub, common)
    return p


def _web_parsers(sub, common) -> None:
    s = sub.add_parser("serve", parents=[common], help="browse runs in a local web UI (live)")
    s.add_argument("spec", nargs="?", default="runs", metavar="RUN_OR_FOLDER_OR_URL",
                   help="run folder, folder holding runs, or archive URL (default runs/)")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0: any free)")
    s = sub.add_parser("report", parents=[common], help="one run's web views as one HTML file")
    s.add_argument("run", metavar="RUN")
    s.add_argument("-o", "--output", type=Path, required=True, help="the .html file to write")


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _compare_parser(sub, common) -> None:
    s = sub.add_parser(
        "compare", parents=[common], help="compare groups of runs (seeds): CIs and tests",
        description="Group runs by the config values that differ between them (the seed aside) "
                    "and compare the groups: best train score, iterations and evaluations to a "
                    "threshold, and held-out metrics of each run's best program (evaluated once "
                    "in the sandbox, then cached in the run's archive). Means come with a 95%% "
                    "bootstrap CI over runs; groups are compared with a Mann-Whitney U test "
                    "(two groups) or Kruskal-Wallis plus each pair (more). With n runs per group "
                    "the smallest possible p-value is limited (n=3: 0.1, n=5: 0.008).")
    s.add_argument("specs", nargs="+", metavar="RUN_OR_SWEEP",
                   help="run folder, folder holding run folders at any depth (a sweep), or an "
                        "archive URL (every run in it)")
    s.add_argument("--by", nargs="+", action="extend", default=[], metavar="KEY",
                   help="group by these config keys (default: every key that differs)")
    s.add_argument("--split", default="test", choices=[*SPLITS, "none"],
                   help="held-out split for each run's best program (default test; none: skip)")
    s.add_argument("--threshold", type=_finite, metavar="X",
                   help="score for 'iterations/evaluations to X' (default: the lowest final best "
                        "score among the runs, which every run reaches)")
    s.add_argument("--plot", type=Path, metavar="PNG",
                   help="write best-so-far vs iteration per group with 95%% CI bands")
    s.add_argument("--timeout", type=positive_number(float), metavar="S",
                   help="wall-clock limit of one held-out evaluation (default 600)")
    s.add_argument("--config-dir", action="append", default=[], metavar="DIR",
                   help="config tree with problem/<name>.yaml for a problem defined outside the "
                        "package (trusts its code, as for `evolve`)")


def _compare(args) -> int:
    from evolve.cli.compare_render import render
    from evolve.cli.compare_report import CompareOptions, compare

    check_config_dirs(args.config_dir)
    opts = CompareOptions(specs=list(args.specs), by=list(args.by),
                          split=None if args.split == "none" else args.split,
                          threshold=args.threshold, config_dirs=list(args.config_dir),
                          timeout_s=args.timeout)
    data, groups = compare(opts)
    try:
        if args.plot:
            from evolve.cli.compare_plot import plot

            data["plot"] = plot(groups, data["problem"], data["threshold"], args.plot,
                                data["group_keys"])
        if args.json:
            emit_json(data)
        else:
            render(console(), data)
            if args.plot:
                print(f"wrote {data['plot']['path']}")
    finally:
        for runs in groups.values():
            for r in runs:
                r.handle.close()
    return 0


def _web(args) -> int:
    if args.cmd == "serve":
        from evolve.web.serve import serve

        return serve(args.spec, args.host, args.port)
    from evolve.web.report import write

    data = write(args.run, args.output)
    if args.json:
        emit_json(data)
    else:
        print(f"wrote {data['path']} ({data['programs']} programs, best #{data['best_id']} "
              f"score {data['best_score']})")
    return 0


def _runs(args) -> int:
    if is_archive_url(args.folder):  # a shared database: every run in it, as URL#ID
        handles = open_url_runs(args.folder)
        try:
            rows = [dict(q.handle_summary(h, f"{h.label} {h.run.folder or ''}".strip()),
                         ref=h.label, run_folder=h.run.folder) for h in handles]
        finally:
            handles[0].close()
        shown = handles[0].label.rpartition("#")[0]
        if args.json:
            emit_json(rows)
        else:
            render.runs(console(), rows, shown)
        return 0
    rows = [q.run_summary(f) for f in find_run_folders(args.folder)]
    if args.json:
        emit_json(rows)
    else:
        render.runs(console(), rows, args.folder)
    return 0


def _with_run(args) -> int:
    """Subcommands that work on one run."""
    check_config_dirs(getattr(args, "config_dir", []))
    rows: list[dict[str, Any]] = []  # `top`
    data: dict[str, Any] = {}  # every other subcommand
    with open_run(args.run) as h:
        if args.cmd == "top":
            rows = q.top(h, args.k, include_all=args.all, status=args.status, by=args.by)
            if not args.json:
                what = f"top {args.k} by {args.by}" if args.status == "ok" else \
                    f"first {args.k} {args.status} programs"
                render.top(console(), rows, f"{what} of {h.label} ({h.run.problem})",
                           args.status)
        elif args.cmd == "show":
            data = q.show(h, args.id)
            if not args.json:
                render.show(console(), data)
        elif args.cmd == "lineage":
            data = q.lineage(h, args.id)
            if not args.json:
                render.lineage(console(), data)
        elif args.cmd == "stats":
            data = run_stats(h)
            if not args.json:
                render.stats(console(), data)
        elif args.cmd == "plot":
            from evolve.cli.archive_plot import plot

            data = plot(h, args.output or h.folder / "plot.png")
            if not args.json:
                print(f"wrote {data['path']}")
        else:
            from evolve.cli.archive_export import export

            data = export(h, args.id, args.output, args.config_dir)
            for w in data["warnings"]:
                sys.stderr.write(f"warning: {w}\n")
            if not args.json:
                print(f"wrote {data['path']} (program #{data['program_id']}, "
                      f"score {data['score']})")
    if args.json:
        emit_json(rows if args.cmd == "top" else data)
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:  # --help, or a usage error already printed as one line
        return int(e.code or 0)
    try:
        if args.cmd == "compare":
            return _compare(args)
        if args.cmd in ("serve", "report"):
            return _web(args)
        return _runs(args) if args.cmd == "runs" else _with_run(args)
    except CliError as e:
        return fail_line(str(e))
    except SQLAlchemyError as e:
        return fail_line(f"archive read failed: {str(e).strip().splitlines()[0]}")
    except OSError as e:  # e.g. the PNG or .py cannot be written there
        return fail_line(f"{e.filename or ''}: {e.strerror or e}")
    except BrokenPipeError:  # `evolve-archive show ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
