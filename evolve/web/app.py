"""`evolve-archive serve`: the Starlette app. Every route is a GET that reads the archive; path
parameters are ints (Starlette's `int` convertor), so a request never names a file."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from evolve.cli.archive_query import handle_summary
from evolve.cli.common import CliError, fmt_time
from evolve.cli.runref import RunHandle
from evolve.web import programdata, rundata
from evolve.web.comparedata import compare_page
from evolve.web.links import ServerLinks
from evolve.web.panels import panel_for, set_rows
from evolve.web.render import page_json, render
from evolve.web.source import Source

# No inline script or style anywhere; data travels in JSON blocks that are never executed.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=HEADERS)


def _json(obj: Any) -> Response:
    return Response(str(page_json(obj)), media_type="application/json", headers=HEADERS)


def _not_found(what: str) -> HTMLResponse:
    return _html(render("error.html", message=what, link=ServerLinks()), 404)


class Pages:
    """The route handlers over one Source."""

    def __init__(self, source: Source):
        self.source = source
        self.link = ServerLinks()
        # (page, key) -> (the run's updated_at and status, data): a run that did not change
        # since the last request is not read again (every record() bumps updated_at)
        self._cache: dict[tuple[str, int], tuple[tuple, Any]] = {}
        # run key -> {program id: block length}: code is immutable, so a live run's new
        # programs are the only code a later request reads
        self._lengths: dict[int, dict[int, float]] = {}

    def _cached(self, page: str, key: int, h: RunHandle, build) -> Any:
        stamp = (h.run.updated_at, h.run.status)
        hit = self._cache.get((page, key))
        if hit is not None and hit[0] == stamp:
            return hit[1]
        data = build(h)
        self._cache[(page, key)] = (stamp, data)
        return data

    def _run(self, request: Request) -> tuple[int, RunHandle | None]:
        key = request.path_params["key"]
        return key, self.source.handle(key)

    def _runs(self) -> list[dict[str, Any]]:
        out = []
        for key in self.source.scan():
            ref = self.source.ref(key)
            assert ref is not None
            h = self.source.handle(key)
            if h is None:
                continue
            row = {"key": key, "label": ref.label}
            try:
                row.update(self._cached("runs", key, h, _run_row))
            except (SQLAlchemyError, CliError) as e:
                row["error"] = str(e).splitlines()[0]
            out.append(row)
        return out

    def runs(self, request: Request) -> Response:
        rows = self._runs()
        live = "1" if any(r.get("status") == "running" for r in rows) or not rows else ""
        return _html(render("runs.html", runs=rows, spec=self.source.spec, link=self.link,
                            live=live))

    def runs_json(self, request: Request) -> Response:
        return _json(self._runs())

    def _live_page(self, request: Request, page: str, build) -> Response:
        """A page of one run that polls its JSON twin while the run is writing."""
        key, h = self._run(request)
        if h is None:
            return _not_found(f"no run {key}")
        data = self._cached(page, key, h, build)
        return _html(render(f"{page}.html", data=data, run_key=key, link=self.link,
                            live="1" if h.run.status == "running" else ""))

    def _live_json(self, request: Request, page: str, build) -> Response:
        key, h = self._run(request)
        if h is None:
            return _json({"error": f"no run {key}"})
        return _json(self._cached(page, key, h, build))

    def _run_page(self, request: Request):
        lengths = self._lengths.setdefault(request.path_params["key"], {})
        return lambda h: rundata.run_page(h, lengths)

    def run(self, request: Request) -> Response:
        return self._live_page(request, "run", self._run_page(request))

    def run_json(self, request: Request) -> Response:
        return self._live_json(request, "run", self._run_page(request))

    def tree(self, request: Request) -> Response:
        return self._live_page(request, "tree", rundata.tree)

    def tree_json(self, request: Request) -> Response:
        return self._live_json(request, "tree", rundata.tree)

    def failures(self, request: Request) -> Response:
        key, h = self._run(request)
        if h is None:
            return _not_found(f"no run {key}")
        q = request.query_params
        progs = self._cached("rows", key, h, rundata.rows)  # filtering re-reads nothing
        head = self._cached("summary", key, h, _summary_of(progs))
        data = rundata.failures(h, q.get("kind", ""), q.get("operator", ""), q.get("model", ""),
                                progs=progs, head=head)
        return _html(render("failures.html", data=data, run_key=key, link=self.link))

    def program(self, request: Request) -> Response:
        key, h = self._run(request)
        pid = request.path_params["pid"]
        if h is None:
            return _not_found(f"no run {key}")
        try:
            p = programdata.program_page(h, pid)
        except CliError as e:
            return _not_found(str(e))
        panel = panel_for(h.run, p["metrics"], set_rows(h.archive, pid)) \
            if p["outcome"] == "ok" else []
        return _html(render("program.html", p=p, panel=panel, run_key=key, link=self.link))

    def compare(self, request: Request) -> Response:
        keys = []
        for v in request.query_params.getlist("run"):
            if not v.isdigit():
                return _html(render("error.html", message=f"run={v!r} is not a run number",
                                    link=self.link), 400)
            keys.append(int(v))
        try:
            data, curves = compare_page(self.source, keys)
        except CliError as e:
            return _html(render("error.html", message=str(e), link=self.link), 400)
        return _html(render("compare.html", data=data, curves=curves, link=self.link))


def _summary_of(progs: list[rundata.Row]):
    """The run header, its best found among the rows already read."""
    return lambda h: rundata.summary(h, rundata.best_row(progs))


def _run_row(h: RunHandle) -> dict[str, Any]:
    """A runs-table row: `evolve-archive runs`'s summary of the run (SQL aggregates)."""
    s = handle_summary(h, h.label)
    best = s["best_score"]
    return {"problem": s["problem"], "status": s["status"], "iterations": s["iterations"],
            "programs": s["programs"], "failures": s["failures"],
            "best_score": best if best is None or math.isfinite(best) else None,
            "cost_usd": s["cost_usd"], "started": fmt_time(h.run.started_at)}


def make_app(source: Source, allowed_hosts: list[str] | None = None) -> Starlette:
    from importlib import resources

    pages = Pages(source)
    static = StaticFiles(directory=str(resources.files("evolve.web") / "static"))
    routes = [
        Route("/", pages.runs),
        Route("/runs.json", pages.runs_json),
        Route("/run/{key:int}", pages.run),
        Route("/run/{key:int}/data.json", pages.run_json),
        Route("/run/{key:int}/tree", pages.tree),
        Route("/run/{key:int}/tree.json", pages.tree_json),
        Route("/run/{key:int}/failures", pages.failures),
        Route("/run/{key:int}/program/{pid:int}", pages.program),
        Route("/compare", pages.compare),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Mount("/static", app=static, name="static"),
    ]
    # a page of another site cannot reach the server through a rebound DNS name
    middleware = [Middleware(TrustedHostMiddleware,
                             allowed_hosts=allowed_hosts or ["127.0.0.1", "localhost", "[::1]"])]

    async def server_error(request: Request, exc: Exception) -> Response:
        return _html(render("error.html", message=f"{type(exc).__name__}: {exc}",
                            link=ServerLinks()), 500)

    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={500: server_error})
