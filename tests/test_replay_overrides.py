"""`evolve-replay TARGET problem.KEY=VALUE`: overrides of the problem section (the spot `paper`
suite), refused keys and bad values as one line (exit 2), and progress per set on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from evolve.archive import Archive, Program, sqlite_url
from evolve.cli.replay import main
from evolve.cli.replay_progress import ReplayProgress, set_line
from evolve.cli.replay_target import compose_config
from evolve.program import code_hash
from tests.cli_archive_fixture import build_run

REPO = Path(__file__).resolve().parents[1]
TRUST = ("--config-dir", "tests/conf")  # the fixture run's problem is defined outside the package
SPOT_SEED = REPO / "seeds" / "spot_single" / "greedy.py"
PAPER_ENVS = ("us-west-2a_k80_1", "us-west-2b_k80_1", "us-west-2a_v100_1", "us-west-2b_v100_1")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("overrides"))[0]


@pytest.fixture(autouse=True)
def in_repo(monkeypatch):
    monkeypatch.chdir(REPO)  # tests/conf/problem/sorting.yaml names its class by relative path


def one_line_error(capsys, *argv) -> str:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and out == "" and len(lines) == 1, (rc, out, err)
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(("override", "says"), [
    ("problem.bogus=1", "unknown key problem.bogus (valid keys under problem: instances, n,"),
    ("problem.n=abc", "problem.n=abc: expected a number (the config has 12)"),
    ("problem.n=1,2", "a replay takes one value per key"),
    ("+problem.extra=1", "only changes existing problem keys"),
    ("~problem.n", "only changes existing problem keys"),
    ("problem.n=[1", "not a key=value override"),
    ("problem.target=tests/problems/sorting.py:SortingProblem", "problem.target cannot be "
                                                                 "overridden"),
    ("problem.name=other", "problem.name cannot be overridden"),
    ("problem=smtt", "choose the problem with --problem NAME"),
    ("search.seed=3", "only problem.* keys can be overridden"),
    ("problem.n=${oc.env:EVOLVE_TEST_UNSET_VARIABLE}", "problem.n=${oc.env:"),
])
def test_bad_overrides_are_one_line_naming_them(run, capsys, override, says):
    line = one_line_error(capsys, run, *TRUST, override, "--baselines", "none")
    assert says in line, line


def test_an_override_does_not_get_round_the_trust_check(run, capsys):
    """Without --config-dir the run's problem is not registered: refused before any override."""
    line = one_line_error(capsys, run, "problem.n=5")
    assert "not a registered problem" in line


def test_the_problems_own_checks_name_the_key(capsys):
    line = one_line_error(capsys, SPOT_SEED, "--problem", "spot_single", "problem.suite=bogus")
    assert line.endswith("problem.suite='bogus': choose one of leaderboard, paper"), line
    line = one_line_error(capsys, SPOT_SEED, "--problem", "spot_multi", "problem.suite=paper")
    assert "unknown key problem.suite" in line  # the paper suite is spot_single's


def test_overrides_typed_after_instances_are_overrides(run, capsys, tmp_path):
    data = tmp_path / "small.txt"
    data.write_text("0.5 0.1 0.9\n")
    line = one_line_error(capsys, run, *TRUST, "--instances", data, "problem.bogus=2")
    assert "unknown key problem.bogus" in line


def test_json_stays_clean_with_progress_and_reports_the_overrides(run):
    """A real process: --progress always writes per-set lines on stderr, stdout is one JSON."""
    proc = subprocess.run(
        [sys.executable, "-m", "evolve.cli.replay", str(run), *TRUST, "problem.instances=3",
         "--split", "validation", "--baselines", "argsort", "--json", "--progress", "always"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["overrides"] == {"problem.instances": 3}
    assert all(s["n_instances"] == 3 for s in d["sets"])
    assert all(s["n_instances"] == 3 for s in d["baselines"]["argsort"]["sets"])
    err = proc.stderr.splitlines()
    assert "evolve-replay: warming the sandbox worker (compiling the simulator)" in err
    n = len(d["sets"])
    assert any(ln.startswith("evolve-replay: program #") and f"set {n}/{n} " in ln
               for ln in err), err
    assert any(ln.startswith("evolve-replay: baseline argsort: ") for ln in err), err


def _spot_run(root: Path) -> Path:
    """A spot_single run folder as `evolve` leaves it: config, archive with the seed, best.py."""
    folder = root / "runs" / "spot_single" / "2026-01-01_00-00-00"
    folder.mkdir(parents=True)
    config = compose_config("spot_single")
    OmegaConf.save(OmegaConf.create(config), folder / "config.yaml")
    archive = Archive(sqlite_url(folder / "archive.sqlite"))
    run = archive.create_run("spot_single", str(folder), config, seed=0)
    code = SPOT_SEED.read_text()
    archive.record(Program(run_id=run.id, iteration=0, island=0, generation=0, code=code,
                           code_hash=code_hash(code), proposer="seed", status="ok", score=-100.0,
                           metrics={}, feedback="", stage="full"),
                   run_updates={"status": "finished"})
    archive.close()
    (folder / "best.py").write_text(code)
    return folder


def test_a_spot_run_replays_on_the_paper_suite(tmp_path):
    folder = _spot_run(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "evolve.cli.replay", str(folder), "problem.suite=paper",
         "problem.validation_windows=1", "--split", "validation", "--baselines", "greedy",
         "--progress", "never"],
        cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # --progress never
    for env in PAPER_ENVS:  # the paper suite's envs, not the leaderboard's
        assert f"{env} (9 instances)" in proc.stdout, proc.stdout
    assert "us-west-2a_k80_8" not in proc.stdout
    assert "problem overrides: problem.suite=paper, problem.validation_windows=1" in proc.stdout


class _Stream:
    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s

    def flush(self):
        pass

    def isatty(self):
        return False


def test_auto_progress_shows_nothing_for_a_quick_replay_and_everything_for_a_long_one():
    note = {"set": "a", "done": 1, "of": 2, "n_instances": 9, "runtime_s": 1.25}
    quick = _Stream()
    with ReplayProgress("auto", quick, quiet_s=3600) as p:  # ends before it would show
        p.phase("warming")
        p.set_done("program #1", note)
    assert quick.text == ""
    slow = _Stream()
    with ReplayProgress("auto", slow, quiet_s=3600) as p:
        p.phase("warming")
        p.reveal()  # what the timer does once the replay has run quiet_s seconds
        p.set_done("program #1", note)
    assert slow.text.splitlines() == ["evolve-replay: warming",
                                      "evolve-replay: program #1: set 1/2 a (9 instances) in "
                                      "1.2 s"]
    assert set_line("baseline edd", {**note, "set": None, "done": 2}) == \
        "baseline edd: 2 sets (9 instances) in 1.2 s"


def test_a_required_key_still_unset_can_be_given():
    from evolve.cli.replay_overrides import apply_overrides, parse_overrides

    section = {"name": "openevolve", "evaluator": "???", "cascade_thresholds": [0.5]}
    got = apply_overrides(section, parse_overrides(["problem.evaluator=/x/evaluator.py"]))
    assert got["evaluator"] == "/x/evaluator.py"
