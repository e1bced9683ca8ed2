"""The web UI treats archive content as hostile: a program whose code, error, feedback, operator
name and LLM prompt/reply carry `<script>` shows them as text and runs nothing (server and static
report); the server never writes the archive, sends a CSP, and takes only integer paths."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from evolve.archive import Archive, LLMCall, Program, sqlite_url
from evolve.cli import archive as archive_cli
from tests.browser import HANG_GUARD_S, chromium, hover_text, new_page, served, shot

XSS = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile") / "run"
    folder.mkdir()
    a = Archive(sqlite_url(folder / "archive.sqlite"))
    run = a.create_run("sorting", str(folder), {"problem": {"name": "sorting", "target": IMG},
                                                 "search": {"iterations": 1}}, seed=0)
    seed = a.record(Program(run_id=run.id, iteration=0, code=f"# {XSS}\ndef solve(x):\n"
                            "    return x\n", proposer="seed", status="ok", score=-3.0,
                            metrics={IMG: 1.0}, feedback=XSS))
    a.record(Program(run_id=run.id, iteration=1, parent_id=seed.id, proposer="llm_diff",
                     operator=IMG, model=XSS, code=f"# {XSS}\ndef solve(x):\n    return {IMG}\n",
                     status="runtime_error", error=f"Traceback: {XSS} {IMG}", feedback=XSS),
             calls=[LLMCall(run_id=run.id, iteration=1, model=XSS, mode="diff",
                            prompt=[{"role": "user", "content": XSS}], reply=f"{XSS}{IMG}",
                            error=XSS)])
    a.record(Program(run_id=run.id, iteration=2, parent_id=seed.id, proposer="mutation",
                     operator="scale", code="def solve(x):\n    return x[::-1]\n", status="ok",
                     score=-1.0, stage="gate"))
    a.close()
    return folder


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _get(url: str, **headers: str):
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:  # hang guard only
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


PAGES = ["/", "/run/1", "/run/1/tree", "/run/1/failures", "/run/1/program/1",
         "/run/1/program/2", "/run/1/program/3", "/run/1/data.json", "/run/1/tree.json",
         "/run/1/failures?kind=runtime_error"]


def test_hostile_text_is_shown_as_text_and_runs_nothing(hostile_run):
    before = _digest(hostile_run)
    dialogs: list[str] = []
    with served(hostile_run) as url:
        for path in PAGES:
            status, headers, body = _get(url + path)
            assert status == 200, path
            assert "<script>alert" not in body and "<img src=x" not in body, path
            assert "default-src 'none'" in headers["content-security-policy"]
            assert "script-src 'self'" in headers["content-security-policy"]
        status, _, body = _get(url + "/run/1/program/2")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body  # escaped, still readable
        with chromium() as browser:
            page = new_page(browser)
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            for path in PAGES[:7]:
                page.goto(url + path)
                page.wait_for_load_state("load")
            page.goto(url + "/run/1/program/2")
            shot(page, "hostile-program")
            assert XSS in page.locator("pre.error").first.inner_text()
            assert XSS in page.locator("pre.reply").inner_text()
            assert XSS in page.locator("#code").inner_text()
            assert page.locator("img").count() == 0
            page.goto(url + "/run/1/tree")
            page.wait_for_selector("body[data-ready]")
            tree = page.locator("canvas.tree")
            assert tree.get_attribute("data-failed") == "1"
            assert tree.get_attribute("data-gate") == "1"  # gate-stopped: drawn distinctly
            assert "stopped at the gate" in hover_text(page, "canvas.tree", 3)
            assert "failed: runtime_error" in hover_text(page, "canvas.tree", 2)
    assert dialogs == []
    assert _digest(hostile_run) == before  # nothing written, not even SQLite's side files


def test_static_report_of_hostile_run_runs_nothing(hostile_run, tmp_path):
    out = tmp_path / "r.html"
    assert archive_cli.main(["report", str(hostile_run), "-o", str(out)]) == 0
    html = out.read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    dialogs: list[str] = []
    with chromium() as browser:
        page = browser.new_context(offline=True).new_page()
        page.set_default_timeout(HANG_GUARD_S * 1000)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(out.as_uri())
        page.wait_for_selector("body[data-ready]")
        assert page.locator("canvas.tree").get_attribute("data-nodes") == "3"
        assert XSS in page.locator("#p1 #code").inner_text()
    assert dialogs == []


def test_paths_methods_and_hosts(hostile_run):
    with served(hostile_run) as url:
        for path in ("/run/abc", "/run/1/program/..%2F..%2Fetc%2Fpasswd",
                     "/static/../archive.sqlite",
                     "/static/..%2F..%2Fcli%2Farchive.py", "/run/1/program/-1"):
            status, _, body = _get(url + path)
            assert status == 404, path
            assert "SELECT" not in body and "Traceback" not in body
        assert _get(url + "/compare?run=1&run=x")[0] == 400
        req = urllib.request.Request(url + "/run/1", method="POST", data=b"x")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=60)
        assert e.value.code == 405
        # a page of another site that rebinds its DNS name to 127.0.0.1 is refused
        assert _get(url + "/run/1", Host="evil.example")[0] == 400


def test_serve_input_errors_are_one_line(tmp_path, capsys):
    assert archive_cli.main(["serve", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing" in err
    assert archive_cli.main(["serve", "sqlite:///" + str(tmp_path / "none.sqlite")]) == 2
    assert not (tmp_path / "none.sqlite").exists()
    assert archive_cli.main(["serve", str(tmp_path), "--port", "http"]) == 2
    assert "--port" in capsys.readouterr().err
