"""Pages follow a run that is still writing: the runs page picks up a run that starts after the
server, and the Run page's numbers and charts move without a reload."""

from __future__ import annotations

import signal
import subprocess
import time

from tests.browser import HANG_GUARD_S, chromium, new_page, served, shot
from tests.engine_util import SORTING, evolve_cmd

GUARD_MS = HANG_GUARD_S * 1000 * 3  # a busy 2-core machine; only reached on a hang


def _wait_true(page, js: str) -> None:
    """Poll `js` (a function expression) until it returns true. Not wait_for_function: its
    string form needs eval, which the page's Content-Security-Policy rightly forbids."""
    deadline = time.monotonic() + GUARD_MS / 1000
    while not page.evaluate(js):
        assert time.monotonic() < deadline, f"never true: {js}"
        page.wait_for_timeout(300)


def test_pages_update_while_the_run_writes(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    with served(root) as url, chromium() as browser:
        page = new_page(browser)
        page.goto(url + "/")
        assert "No run found yet" in page.content()
        run = subprocess.Popen(evolve_cmd(*SORTING, "proposer=builtin", "search.iterations=400",
                                          "evaluator.workers=1", f"run_dir={root / 'live'}",
                                          "progress=false"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # the runs page polls and reloads itself when a run appears
            page.wait_for_selector("#runs-table a", timeout=GUARD_MS)
            page.click("#runs-table a")
            page.wait_for_selector(".score-chart canvas", timeout=GUARD_MS)
            assert page.locator("body").get_attribute("data-live") == "1"
            page.evaluate("window.__notReloaded = true")
            before = int(page.locator("#summary [data-field=programs]").inner_text())
            _wait_true(page, "() => window.__notReloaded === true && Number(document."
                             "querySelector('#summary [data-field=programs]').textContent) > "
                             f"{before}")
            after = int(page.locator("#summary [data-field=programs]").inner_text())
            assert after > before
            # the chart was redrawn from the polled data (one mark per scored program)
            _wait_true(page,
                "() => { const d = document.querySelector('script.page-data').parentElement"
                "._data; return Number(document.querySelector('.score-chart canvas')"
                ".dataset.points) === "
                "d.points.filter(p => p[3] !== null).length && "
                f"d.summary.programs >= {after}; }}")
            assert "live" in page.locator("#live-state").inner_text()
            shot(page, "run-live")
        finally:
            run.send_signal(signal.SIGINT)  # the engine stops cleanly and records why
            try:
                run.wait(timeout=HANG_GUARD_S)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait()
