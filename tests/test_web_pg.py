"""`evolve-archive serve` on a PostgreSQL archive (a real server, tests/pgserver.py): a short
real run writes to it, then every page loads in Chromium from the database URL and from the
run folder (its `archive_url` file), with the numbers the CLI prints."""

from __future__ import annotations

import json
import subprocess
import sys

from evolve.cli.common import fmt_num
from tests.browser import HANG_GUARD_S, ROOT, chromium, click_mark, new_page, served, shot
from tests.engine_util import SORTING, evolve_cmd

ITERATIONS = 6


def _cli(env, *argv: str):
    out = subprocess.run([sys.executable, "-m", "evolve.cli.archive", *argv, "--json"],
                         cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=HANG_GUARD_S)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _rows(url: str, query: str) -> list[tuple]:
    import psycopg

    from tests.pgserver import PASSWORD

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                         password=PASSWORD) as con:
        return list(con.execute(query).fetchall())


def test_every_page_on_postgres(pg_url, pg_server, tmp_path):
    env = pg_server.env()
    run_dir = tmp_path / "pgrun"
    done = subprocess.run(evolve_cmd(*SORTING, "proposer=builtin", f"archive.url={pg_url}",
                                     f"search.iterations={ITERATIONS}", "evaluator.workers=1",
                                     f"run_dir={run_dir}", "progress=false"),
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (summary,) = _cli(env, "runs", pg_url)
    best_id = summary["best_id"]
    (code,) = _rows(pg_url, f"SELECT code FROM programs WHERE id = {int(best_id)}")[0]
    (scored,) = _rows(pg_url, "SELECT count(*) FROM programs WHERE status = 'ok' AND "
                              "duplicate_of IS NULL AND proposer != 'migration'")[0]
    errors: list[str] = []
    with chromium() as browser:
        for spec in (pg_url, run_dir):
            with served(spec, env=env) as url:
                page = new_page(browser)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(url + "/")
                assert str(summary["programs"]) in page.locator("#runs-table").inner_text()
                page.click("#runs-table a")
                page.wait_for_selector("body[data-ready]")
                shot(page, "pg-run")
                best = page.locator("#summary [data-field=best_score]").inner_text()
                assert best == fmt_num(summary["best_score"])
                points = page.locator(".score-chart canvas").get_attribute("data-points")
                assert int(points) == scored
                page.click("header nav >> text=Lineage")
                page.wait_for_selector("body[data-ready]")
                assert int(page.locator("canvas.tree").get_attribute("data-nodes")) >= ITERATIONS
                click_mark(page, "canvas.tree", best_id)
                page.wait_for_url(f"**/program/{best_id}")
                assert page.locator("#code").inner_text().split() == code.split()
                page.click("header nav >> text=Failures")
                page.wait_for_selector("#fail-table, .empty")
                page.close()
    assert not errors, errors
