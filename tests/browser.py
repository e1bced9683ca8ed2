"""The web UI under test: `evolve-archive serve` as a real process, and Debian's chromium driven
by Playwright (no browser download: `.ci/run` installs the chromium package)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / "build" / "screenshots"  # build/ is git-ignored
HANG_GUARD_S = 120  # only reached when something hangs; never a timing assumption


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


@contextmanager
def chromium() -> Iterator:
    """A headless Chromium; yields the Browser."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def served(spec: str | Path, *extra: str, root: Path = ROOT,
           env: dict[str, str] | None = None) -> Iterator[str]:
    """`evolve-archive serve SPEC --port 0` in a subprocess; yields its base URL and stops it.
    `root` is the source tree it runs from (`python -m` imports `evolve` from there first: the
    benchmark serves an older checkout next to this one)."""
    proc = subprocess.Popen([sys.executable, "-m", "evolve.cli.archive", "serve", str(spec),
                             "--port", "0", *extra], cwd=root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        url, seen = None, []
        assert proc.stderr is not None
        while url is None:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                raise AssertionError(f"serve exited {proc.returncode}: {''.join(seen)}")
            seen.append(line)
            m = re.search(r"at (http://\S+?)/ ", line)
            if m:
                url = m.group(1)
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not start: {''.join(seen)}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=HANG_GUARD_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def new_page(browser, **kw):
    """A 1280x900 page whose waits time out only as hang guards (a busy 2-core machine can take
    well over Playwright's default 30 s to serve a cold Compare page)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900}, **kw)
    page.set_default_timeout(HANG_GUARD_S * 1000)
    page.set_default_navigation_timeout(HANG_GUARD_S * 1000)
    return page


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def click_mark(page, canvas: str, pid: int) -> None:
    """Click program `pid` on a canvas chart, as a user would (a real mouse click where the
    chart says it drew that program)."""
    where = page.locator(canvas).evaluate("(c, id) => c._locate(id)", pid)
    assert where is not None, f"program {pid} is not drawn on {canvas}"
    box = page.locator(canvas).bounding_box()
    page.mouse.click(box["x"] + where["x"], box["y"] + where["y"])


def hover_text(page, canvas: str, pid: int) -> str:
    """The tip a chart shows when the pointer rests on program `pid`."""
    where = page.locator(canvas).evaluate("(c, id) => c._locate(id)", pid)
    box = page.locator(canvas).bounding_box()
    page.mouse.move(box["x"] + where["x"], box["y"] + where["y"])
    tip = page.locator(canvas + " ~ .tip.on")
    tip.wait_for()
    return tip.inner_text()
