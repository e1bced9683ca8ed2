"""`evolve-archive plot`: progress curves, failures per window and the best program's lineage."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from sqlalchemy import select

from evolve.archive import Program, ProgramParent
from evolve.cli.archive_kinds import is_failure
from evolve.cli.runref import RunHandle

MAX_TREE_NODES = 150


def _palette():
    import matplotlib  # imported late: the other subcommands should not pay for it

    return matplotlib.colormaps["tab10"]


def _ok(p: Program) -> bool:
    return p.status == "ok" and p.score is not None and p.duplicate_of is None


def _trailing_median(y: np.ndarray, window: int) -> np.ndarray:
    """Median of the last `window` values at each position (the population's typical score)."""
    return np.array([np.median(y[max(0, i - window + 1): i + 1]) for i in range(len(y))])


def _progress(ax, x: np.ndarray, y: np.ndarray, xlabel: str, x_end: float) -> None:
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    ax.scatter(x, y, s=14, alpha=0.5, color="tab:gray", label="program")
    if len(x):
        best = np.maximum.accumulate(y)
        # carry the best to the end of the run: later proposals did not beat it
        ax.step(np.append(x, max(x_end, x[-1])), np.append(best, best[-1]), where="post",
                color="tab:blue", lw=2, label="best so far")
        window = max(5, len(y) // 8)
        ax.plot(x, _trailing_median(y, window), "-", color="tab:orange", lw=1.5,
                label=f"median of the last {window}")
        if len(y) >= 20:  # a few disastrous programs should not squash the curves
            # from the seed (or the lower quartile) up: outliers stay off the chart
            lo, hi = float(np.percentile(y, 25)), y.max()
            pad = 0.25 * (hi - lo or 1.0)
            ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("score (higher is better)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)


def _failures(ax, programs: list[Program], width: int) -> None:
    children = [p for p in programs if p.iteration > 0 and p.proposer != "migration"]
    n_win = max(1, int(np.ceil((max((p.iteration for p in children), default=1)) / width)))
    kinds = sorted({p.status for p in children if is_failure(p)})
    counts = {k: np.zeros(n_win) for k in kinds}
    total = np.zeros(n_win)
    for p in children:
        w = min(n_win - 1, (p.iteration - 1) // width)
        total[w] += 1
        if is_failure(p):
            counts[p.status][w] += 1
    left = np.arange(n_win) * width + 1
    bottom = np.zeros(n_win)
    cmap = _palette()
    for i, k in enumerate(kinds):
        ax.bar(left, counts[k], width=width * 0.9, bottom=bottom, align="edge", color=cmap(i % 10),
               label=k)
        bottom += counts[k]
    ax.step(np.append(left, left[-1] + width), np.append(total, total[-1]), where="post",
            color="black", lw=1, label="proposals")
    ax.set_ylim(0, max(1.0, float(total.max())) * 1.45)  # headroom: the legend sits on top
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"programs per {width} iterations")
    ax.set_title("failures per window" + ("" if kinds else " (none)"))
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="upper left", ncols=3)


def _tree_nodes(best: Program, by_id: dict[int, Program], mates: dict[int, list[int]]) -> set[int]:
    """Ancestors of `best` through parents and crossover mates (capped for readability)."""
    seen: set[int] = set()
    stack = [best.id]
    while stack and len(seen) < MAX_TREE_NODES:
        pid = stack.pop()
        if pid in seen or pid not in by_id:
            continue
        seen.add(pid)
        p = by_id[pid]
        stack += ([p.parent_id] if p.parent_id is not None else []) + mates.get(pid, [])
    return seen


def _lineage(ax, best: Program | None, by_id: dict[int, Program], mates: dict[int, list[int]]):
    ax.set_title("lineage of the best program" + ("" if best else " (no successful program)"))
    if best is None:
        return
    nodes = _tree_nodes(best, by_id, mates)
    scores = [s for i in nodes if (s := by_id[i].score) is not None]
    floor = min(scores) if scores else 0.0

    def pos(i: int) -> tuple[float, float]:
        p = by_id[i]
        return p.iteration, p.score if p.score is not None else floor

    for i in nodes:
        p = by_id[i]
        if p.parent_id in nodes:
            (x0, y0), (x1, y1) = pos(p.parent_id), pos(i)
            ax.plot([x0, x1], [y0, y1], "-", color="tab:gray", lw=1, zorder=1)
        for m in mates.get(i, []):
            if m in nodes:
                (x0, y0), (x1, y1) = pos(m), pos(i)
                ax.plot([x0, x1], [y0, y1], "--", color="tab:purple", lw=1, zorder=1)
    proposers = sorted({by_id[i].proposer for i in nodes})
    cmap = _palette()
    for k, name in enumerate(proposers):
        pts = [pos(i) for i in nodes if by_id[i].proposer == name]
        ax.scatter(*zip(*pts), s=40, color=cmap(k % 10), label=name, zorder=2, edgecolor="black",
                   linewidth=0.5)
    if len(nodes) <= 40:
        for i in nodes:
            ax.annotate(f"#{i}", pos(i), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.scatter(*pos(best.id), s=160, marker="*", color="gold", edgecolor="black", zorder=3,
               label=f"best #{best.id}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("score")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right", title="solid: parent, dashed: mate", title_fontsize=7)


def plot(h: RunHandle, out: Path) -> dict:
    """Draw the four panels into `out` (PNG); returns what was drawn, for --json."""
    import matplotlib

    matplotlib.use("Agg")  # no display: this runs on servers and in CI
    import matplotlib.pyplot as plt

    programs = h.archive.programs(h.run.id)
    by_id = {p.id: p for p in programs}
    with h.archive.Session() as s:
        edges = s.execute(select(ProgramParent.program_id, ProgramParent.parent_id)
                          .join(Program, Program.id == ProgramParent.program_id)
                          .where(Program.run_id == h.run.id, ProgramParent.role == "mate")).all()
    mates: dict[int, list[int]] = {}
    for child, mate in edges:
        mates.setdefault(child, []).append(mate)
    ok = [p for p in programs if _ok(p) and p.proposer != "migration"]
    it = np.array([p.iteration for p in ok], dtype=float)
    wall = np.array([p.wall_offset or 0.0 for p in ok], dtype=float)
    score = np.array([p.score for p in ok], dtype=float)
    last_it = max((p.iteration for p in programs), default=0)
    it_window = max(1, int(np.ceil(last_it / 25)))
    top = h.archive.best(h.run.id, 1)
    best = top[0] if top else None

    fig, axes = plt.subplots(2, 2, figsize=(14, 9.5))
    last_wall = max((p.wall_offset or 0.0 for p in programs), default=0.0)
    _progress(axes[0, 0], it, score, "iteration", last_it)
    axes[0, 0].set_title("score vs iteration")
    _progress(axes[0, 1], wall, score, "wall time since start (s)", last_wall)
    axes[0, 1].set_title("score vs wall time")
    _failures(axes[1, 0], programs, it_window)
    _lineage(axes[1, 1], best, by_id, mates)
    fig.suptitle(f"{h.run.problem} run {h.run.id} ({h.run.status}): {len(programs)} programs, "
                 f"best {best.score:.4g} (#{best.id})" if best else f"{h.run.problem}: no best yet")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    fails = Counter(p.status for p in programs if is_failure(p))
    return {"path": str(out), "programs": len(programs), "ok": len(ok),
            "best_id": best.id if best else None, "failures": dict(fails)}
