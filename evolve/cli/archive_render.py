"""Rich tables and panels for `evolve-archive` (text mode; `--json` bypasses this module)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from evolve.cli.archive_query import key_metrics
from evolve.cli.common import fmt_num, fmt_secs, fmt_time


def _status(status: str | None) -> Text:
    return Text(status or "-", style="green" if status == "ok" else "red")


def _delta(x: float | None) -> Text:
    if x is None:
        return Text("-")
    return Text(f"{x:+.4g}", style="green" if x > 0 else "red" if x < 0 else "")


def runs(con: Console, rows: list[dict[str, Any]], root: str) -> None:
    """Folders relative to `root` (named in the title) so long paths do not crowd the table."""
    good = [r for r in rows if "error" not in r]
    if not good:
        con.print(Text(f"no runs under {root}"))
    else:
        t = Table(title=Text(f"runs under {root}"))
        t.add_column("folder", overflow="fold")
        for col in ("problem", "started", "iters", "programs", "fail", "best", "status", "cost $"):
            t.add_column(col, justify="right" if col in ("iters", "programs", "fail", "best",
                                                          "cost $") else "left")
        for r in good:
            reason = r.get("stop_reason")
            status = r["status"] + (f" ({reason})" if reason and reason != r["status"] else "")
            t.add_row(Text(_relative(r["folder"], root)), Text(r["problem"]),
                      fmt_time(r["started_at"]), str(r["iterations"]), str(r["programs"]),
                      str(r["failures"]), fmt_num(r["best_score"]), Text(status),
                      f"{r['cost_usd']:.4f}")
        con.print(t)
    for r in rows:
        if "error" in r:
            con.print(Text(f"unreadable: {r['error']}", style="red"))


def _relative(folder: str, root: str) -> str:
    try:
        rel = str(Path(folder).relative_to(root))
    except ValueError:
        return folder
    return folder if rel == "." else rel


def top(con: Console, rows: list[dict[str, Any]], title: str, status: str = "ok") -> None:
    if not rows:
        con.print("no successful program yet" if status == "ok" else f"no {status} programs")
        return
    if status != "ok":
        _outcomes(con, rows, title)
        return
    metrics = key_metrics(rows)
    t = Table(title=title)
    val = any(r.get("val_score") is not None for r in rows)  # a validated run
    for col in ("#", "id", *(["val score"] if val else []), "score", *metrics, "proposer",
                "operator", "iter", "island", "parent"):
        t.add_column(col, justify="left" if col in ("proposer", "operator") else "right")
    for r in rows:
        t.add_row(str(r["rank"]), str(r["id"]), *([fmt_num(r.get("val_score"))] if val else []),
                  _scored(r),
                  *(fmt_num(r["metrics"].get(m)) for m in metrics),
                  Text(r["proposer"]), Text(r["operator"] or "-"), str(r["iteration"]),
                  str(r["island"]),
                  fmt_num(r["parent_id"]))
    con.print(t)


def _scored(r: dict[str, Any]) -> str:
    """The score, marked when a cascade stage stopped the program (not a full evaluation)."""
    stage = r.get("stage") or "full"
    return fmt_num(r["score"]) + ("" if stage == "full" else f" (stopped: {stage})")


def _outcomes(con: Console, rows: list[dict[str, Any]], title: str) -> None:
    """`top --status failed|all|no_gain`: what each program was, and the first error line."""
    t = Table(title=title)
    for col in ("#", "id", "iter", "proposer", "operator", "status", "score", "error"):
        t.add_column(col, justify="right" if col in ("#", "id", "iter", "score") else "left")
    t.columns[-1].overflow = "fold"
    for r in rows:
        status = Text(r["outcome"], style="green" if r["outcome"] == "ok" else
                      "yellow" if r["outcome"] == "no_gain" else "red")
        t.add_row(str(r["rank"]), str(r["id"]), str(r["iteration"]), Text(r["proposer"]),
                  Text(r["operator"] or "-"), status, _scored(r),
                  Text((r["error_line"] or "-")[:160]))
    con.print(t)


def _kv_table(pairs: list[tuple[str, Any]]) -> Table:
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    for k, v in pairs:
        t.add_row(k, v if isinstance(v, Text) else Text(str(v)))
    return t


def _messages(prompt: Any) -> Group:
    """Chat messages as role-headed plain text (markup off: prompts contain brackets)."""
    if not isinstance(prompt, list):
        return Group(Text(json.dumps(prompt, indent=1) if not isinstance(prompt, str) else prompt))
    parts = []
    for m in prompt:
        role = m.get("role", "?") if isinstance(m, dict) else "?"
        content = m.get("content", "") if isinstance(m, dict) else str(m)
        if not isinstance(content, str):
            content = json.dumps(content, indent=1)
        parts += [Text(f"[{role}]", style="bold cyan"), Text(content)]
    return Group(*parts)


def show(con: Console, d: dict[str, Any]) -> None:
    status = _status(d["status"])
    info = [
        ("program", f"#{d['id']}  iteration {d['iteration']}  island {d['island']}  "
                    f"generation {d['generation']}"),
        ("made by", " / ".join(x for x in (d["proposer"], d["operator"], d["model"]) if x)),
        ("parent", f"#{d['parent_id']} (score {fmt_num(d['parent_score'])})"
         if d["parent_id"] is not None else "-"),
        ("edges", ", ".join(f"{e['role']} #{e['parent_id']}" for e in d["edges"]) or "-"),
        ("status", status),
        ("score", Text.assemble(fmt_num(d["score"]), "  ", _delta(d["delta"]))),
        ("stage", d["stage"] or "-"),
        ("timings", f"propose {d['propose_seconds']:.2f}s  evaluate {d['eval_seconds']:.2f}s  "
                    f"at {d['wall_offset']:.1f}s of the run"),
        ("children", d["children"]),
    ]
    if d["duplicate_of"] is not None:
        info.append(("duplicate of", f"#{d['duplicate_of']} (identical code, not re-evaluated)"))
    if d["error"]:
        info.append(("error", Text(f"{d['status']}: {d['error']}", style="red")))
    if d["compile_fallback"]:
        info.append(("compile_fallback", Text(d["compile_fallback"], style="yellow")))
    for k, v in sorted(d["metrics"].items()):
        info.append((f"  {k}", fmt_num(v)))
    con.print(Panel(_kv_table(info), title=f"program #{d['id']}", expand=False))
    if d["feedback"]:
        con.print(Panel(Text(d["feedback"]), title="feedback", expand=False))
    for a in d.get("artifacts") or []:
        con.print(Panel(Text(a["text"]), title=Text(f"artifact: {a['name']}"), expand=False))
    con.print(Panel(Syntax(d["code"].rstrip("\n"), "python", line_numbers=True, word_wrap=True),
                    title="code"))
    if d["diff"]:
        con.print(Panel(Syntax(d["diff"].rstrip("\n"), "diff", word_wrap=True),
                        title="diff from parent"))
    for c in d["calls"]:
        head = (f"LLM call #{c['id']}: {c['model']} {c['mode'] or ''}  tokens "
                f"{c['prompt_tokens']}+{c['completion_tokens']}  ${c['cost_usd']:.5f}  "
                f"{c['latency_s']:.1f}s  attempts {c['attempts']}")
        body: list[RenderableType] = [_messages(c["prompt"]), Text("[reply]", style="bold magenta"),
                                      Text(c["reply"] or "")]
        if c["error"]:
            body.append(Text(f"error: {c['error']}", style="red"))
        con.print(Panel(Group(*body), title=Text(head)))


def lineage(con: Console, d: dict[str, Any]) -> None:
    t = Table(title=f"lineage of #{d['program_id']}")
    for col in ("id", "iter", "proposer", "operator", "model", "status", "score", "delta", "mates"):
        t.add_column(col, justify="right" if col in ("id", "iter", "score", "delta") else "left")
    for s in d["chain"]:
        t.add_row(str(s["id"]), str(s["iteration"]), Text(s["proposer"]),
                  Text(s["operator"] or "-"),
                  Text(s["model"] or "-"), _status(s["status"]), fmt_num(s["score"]),
                  _delta(s["delta"]),
                  ", ".join(f"#{m}" for m in s["mates"]) or "-")
    con.print(t)
    for s in d["chain"][1:]:
        title = f"#{s['parent_id']} -> #{s['id']} ({s['proposer']}" + (
            f"/{s['operator']})" if s["operator"] else ")")
        con.print(Panel(Syntax((s["diff"] or "(no change)").rstrip("\n"), "diff", word_wrap=True),
                        title=Text(title)))


def _failures(f: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in f.items()) or "-"


def stats(con: Console, d: dict[str, Any]) -> None:
    tot = d["total"]
    con.print(
        f"run {d['run_id']} ({d['problem']}, {tot['status']}): {tot['programs']} programs "
        f"({tot['seeds']} seeds, {tot['children']} children, {tot['migrations']} migrations), "
        f"{tot['ok']} ok, {tot['improvements']} improvements, "
        f"{tot['no_gain']} tuning steps without gain, {tot['llm_calls']} LLM calls, "
        f"{tot['tokens']} tokens, ${tot['cost_usd']:.4f}, {tot['wall_seconds']:.0f}s wall",
        markup=False,
    )
    for group in ("proposer", "model", "operator"):
        rows = d[f"by_{group}"]
        if not rows:
            continue
        t = Table(title=f"by {group}")
        for col in (group, "children", "ok %", "improved", "dups", "fallback", "failures",
                    "no gain", "tokens", "cost $", "eval s"):
            t.add_column(col, justify="left" if col in (group, "failures") else "right")
        for r in rows:
            rate = "-" if r["success_rate"] is None else f"{100 * r['success_rate']:.0f}"
            t.add_row(Text(r["name"]), str(r["children"]), rate, str(r["improvements"]),
                      str(r["duplicates"]), str(r["compile_fallbacks"]),
                      Text(_failures(r["failures"])), str(r["no_gain"]), str(r["tokens"]),
                      f"{r['cost_usd']:.4f}",
                      fmt_secs(r["mean_eval_s"]))
        con.print(t)
