"""Text output of `evolve-archive compare`: the groups, then one small table per metric with the
test between the groups under it (`--json` bypasses this module)."""

from __future__ import annotations

import os
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from evolve.cli.common import fmt_num

_TESTS = {"mann-whitney-u": "Mann-Whitney U, two-sided", "kruskal-wallis": "Kruskal-Wallis"}


def _p(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def _test_line(m: dict[str, Any]) -> Text:
    t = m["test"]
    if t["test"] is None:
        return Text("no test: fewer than two groups with values", style="dim")
    line = Text(f"p = {_p(t['p'])} ({_TESTS.get(t['test'], t['test'])})",
                style="bold" if t["p"] is not None and t["p"] < 0.05 else "")
    if t["test"] == "kruskal-wallis":  # then each pair, uncorrected
        line.append("; pairs (Mann-Whitney, uncorrected): " + ", ".join(
            f"{x['a']} vs {x['b']} p = {_p(x['p'])}" for x in t["pairs"]))
    return line


def short_name(group: str, keys: list[str]) -> str:
    """`edd` for `problem.seed_program=edd` when one key groups the runs (it heads the column)."""
    if len(keys) == 1 and group.startswith(keys[0] + "="):
        return group[len(keys[0]) + 1:]
    return group


def _ci(g: dict[str, Any]) -> str:
    return "-" if g["ci_low"] is None else f"[{fmt_num(g['ci_low'])}, {fmt_num(g['ci_high'])}]"


def _metric_table(m: dict[str, Any], keys: list[str]) -> Table:
    t = Table(title=Text(m["name"], style="bold"), title_justify="left", box=box.SIMPLE_HEAD,
              show_edge=False, caption=_test_line(m), caption_justify="left", pad_edge=False)
    t.add_column(", ".join(keys) if len(keys) == 1 else "group")
    for col in ("n", "mean", "95% CI", "median", "min", "max"):
        t.add_column(col, justify="right")
    never = m["kind"] == "threshold"
    if never or any(g["missing"] for g in m["groups"]):
        t.add_column("never reached" if never else "missing", justify="right")
    for g in m["groups"]:
        cells: list[str | Text] = [
            Text(short_name(g["group"], keys)), str(g["n"]), fmt_num(g["mean"]), _ci(g),
            fmt_num(g["median"]), fmt_num(g["min"]), fmt_num(g["max"])]
        if len(t.columns) > len(cells):
            cells.append(str(g["missing"]))
        t.add_row(*cells)
    return t


def _summary_table(metrics: list[dict[str, Any]], keys: list[str]) -> Table:
    """Every shown metric in one table: mean [95% CI] per group, and the p-value."""
    groups = [g["group"] for g in metrics[0]["groups"]]
    t = Table(title=Text("summary: mean [95% CI] (n)", style="bold"), title_justify="left",
              box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    t.add_column("metric")
    for g in groups:
        t.add_column(short_name(g, keys), justify="right")
    t.add_column("p", justify="right")
    for m in metrics:
        cells: list[str | Text] = [Text(m["name"])]
        for g in m["groups"]:
            cells.append("-" if g["mean"] is None else
                         f"{fmt_num(g['mean'])} {_ci(g)} ({g['n']})")
        cells.append(_p(m["test"]["p"]))
        t.add_row(*cells)
    return t


def _short(labels: list[str]) -> tuple[str, list[str]]:
    """(common folder, labels relative to it): a sweep's runs differ in their last parts."""
    folders = [x for x in labels if "://" not in x]
    if len(folders) < 2:
        return "", labels
    root = os.path.commonpath(folders)
    return root, [os.path.relpath(x, root) if "://" not in x else x for x in labels]


def render(con: Console, d: dict[str, Any]) -> None:
    n = len(d["runs"])
    root, short = _short([r["label"] for r in d["runs"]])
    name = dict(zip([r["label"] for r in d["runs"]], short))
    keys = ", ".join(d["group_keys"]) or "no key differs"
    con.print(Text(f"{n} runs of {d['problem']} in {len(d['groups'])} group(s), by {keys}",
                   style="bold"))
    if root:
        con.print(Text(f"runs under {root}:"))
    for g in d["groups"]:
        con.print(Text(f"  {g['name']} (n={g['n']}): ") + Text(
            ", ".join(name[x] for x in g["runs"]), style="dim"))
    con.print(Text(f"threshold {fmt_num(d['threshold'])} ({d['threshold_source']}); "
                   f"evaluations count the programs evaluated in the sandbox, seeds included. "
                   f"Mean with its 95% bootstrap CI over runs."))
    shown = [m for m in d["metrics"] if m.get("shown", True)]
    keys = d["group_keys"]
    for m in shown:
        con.print(_metric_table(m, keys))
        con.print()
    if shown and len(d["groups"]) > 1:
        con.print(_summary_table(shown, keys))
    hidden = len(d["metrics"]) - len(shown)
    if hidden:
        con.print(Text(f"{hidden} more held-out metrics (every metric of every instance set) "
                       f"with --json", style="dim"))
