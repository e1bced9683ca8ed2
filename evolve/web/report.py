"""`evolve-archive report RUN -o report.html`: the web UI's views of one run as a single static
file (inline CSS, JS and data; no network), for a paper or a pull request."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from evolve.cli.runref import open_run
from evolve.web import programdata, rundata
from evolve.web.links import ReportLinks
from evolve.web.panels import panel_for, set_rows
from evolve.web.render import render, static_text

MAX_PATH_PROGRAMS = 60  # programs shown in full: the seed -> best chain, newest kept


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def build(spec: str | Path) -> tuple[str, dict[str, Any]]:
    """The report's HTML and what it holds (for the CLI's --json)."""
    with open_run(spec) as h:
        data = rundata.run_page(h)
        tree = rundata.tree(h)
        fails = rundata.failures(h)
        chain = tree["best_path"][-MAX_PATH_PROGRAMS:]
        programs = [programdata.program_page(h, pid) for pid in chain]
        if programs and programs[-1]["outcome"] == "ok":
            data["panel"] = panel_for(h.run, programs[-1]["metrics"],
                                      set_rows(h.archive, programs[-1]["id"]))
    css, js = static_text("app.css"), static_text("app.js")
    # the package's own CSS/JS (never archive data) goes in verbatim; the CSP allows exactly
    # these two blocks by hash, so nothing else inline can run or style the page
    report = {"css": Markup(css), "js": Markup(js), "css_hash": _sha256(css),
              "js_hash": _sha256(js)}
    page = render("report.html", data=data, tree=tree, fails=fails, programs=programs,
                  run_key=1, link=ReportLinks(chain), report=report,
                  written=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    info = {"programs": len(data["points"]), "best_id": data["summary"]["best_id"],
            "best_score": data["summary"]["best_score"], "programs_in_full": len(programs)}
    return page, info


def write(spec: str | Path, out: Path) -> dict[str, Any]:
    page, info = build(spec)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return {"path": str(out), "bytes": len(page.encode("utf-8")), **info}
