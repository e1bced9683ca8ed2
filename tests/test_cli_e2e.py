"""Both inspection commands on a small real run made by `evolve` with the built-in proposer."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from sqlalchemy import select

from evolve.archive import Archive, Run
from evolve.cli import archive as archive_cli
from evolve.cli import replay as replay_cli
from tests.engine_util import ROOT, SORTING, run_evolve

ITERATIONS = 8


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e2e") / "runs" / "sorting" / "r1"
    run_evolve(*SORTING, "proposer=builtin", f"search.iterations={ITERATIONS}",
               "evaluator.workers=1", f"run_dir={folder}", "progress=false")
    return folder


def cli(capsys, main, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return out


@pytest.mark.slow
def test_every_subcommand_on_a_real_run(run_dir, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the run's problem config names its class by a relative path
    archive = Archive.open_folder(run_dir)
    with archive.Session() as s:  # the newest (here the only) run of the archive
        run = s.scalars(select(Run).order_by(Run.id.desc()).limit(1)).first()
    best = archive.best(run.id, 1)[0]
    programs = archive.programs(run.id)

    runs = json.loads(cli(capsys, archive_cli.main, "runs", run_dir.parent.parent, "--json"))
    assert [(r["folder"], r["best_id"], r["status"]) for r in runs] == [
        (str(run_dir), best.id, "finished")]
    assert runs[0]["iterations"] == ITERATIONS

    top = json.loads(cli(capsys, archive_cli.main, "top", run_dir.parent, "-k", "3", "--by",
                         "train", "--json"))
    assert top[0]["id"] == best.id and len(top) == min(3, sum(p.status == "ok" for p in programs))

    shown = json.loads(cli(capsys, archive_cli.main, "show", run_dir, best.id, "--json"))
    assert shown["code"] == best.code and shown["metrics"] == best.metrics

    chain = json.loads(cli(capsys, archive_cli.main, "lineage", run_dir, best.id,
                           "--json"))["chain"]
    assert chain[0]["proposer"] == "seed" and chain[-1]["id"] == best.id
    assert all(step["parent_id"] == prev["id"] for prev, step in pairwise(chain))

    stats = json.loads(cli(capsys, archive_cli.main, "stats", run_dir, "--json"))
    assert stats["total"]["children"] == ITERATIONS
    made = {p.proposer for p in programs if p.iteration > 0 and p.proposer != "migration"}
    assert {r["name"] for r in stats["by_proposer"]} == made
    assert sum(r["children"] for r in stats["by_proposer"]) == ITERATIONS

    png = tmp_path / "plot.png"
    cli(capsys, archive_cli.main, "plot", run_dir, "-o", png)
    assert png.read_bytes()[:4] == b"\x89PNG"

    exported = tmp_path / "best.py"
    trust = SORTING[:2]  # the run's problem is defined outside the package: --config-dir trusts it
    cli(capsys, archive_cli.main, "export", run_dir, "-o", exported, *trust)
    assert exported.read_text().endswith((run_dir / "best.py").read_text())

    assert f"program #{best.id}" in cli(capsys, archive_cli.main, "show", run_dir, best.id)
    assert f"lineage of #{best.id}" in cli(capsys, archive_cli.main, "lineage", run_dir, best.id)
    assert "by proposer" in cli(capsys, archive_cli.main, "stats", run_dir)

    d = json.loads(cli(capsys, replay_cli.main, run_dir, "--json", *trust))
    chosen = archive.best_validated(run.id, 1)[0]  # replay and best.py: the validation-best
    assert d["problem"] == "sorting" and d["program"]["id"] == chosen.id
    assert set(d["baselines"]) == {"argsort", "identity"}
    assert all("inversions" in s["metrics"] for s in d["sets"])
