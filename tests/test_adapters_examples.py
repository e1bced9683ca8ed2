"""The OpenEvolve and ShinkaEvolve adapters run the examples' evaluators unchanged, offline, in
the sandbox: scores, cascade stops, artifacts in the archive and in `evolve-archive show`, and
the trust line at run start."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from tests.engine_util import rows

ROOT = Path(__file__).resolve().parents[1]
FUNCMIN = ROOT / "examples" / "openevolve_funcmin"
SHINKA = ROOT / "examples" / "shinka_spread_points"


def evolve(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evolve.app", *args, "progress=false",
                           "evaluator.workers=1"], cwd=cwd, capture_output=True, text=True,
                          timeout=900)  # a hang guard only


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.py")}


def show(run: Path, program_id: int) -> str:
    return subprocess.run([sys.executable, "-m", "evolve.cli.archive", "show", str(run),
                           str(program_id)], capture_output=True, text=True, timeout=300).stdout


def test_openevolve_funcmin_cascade_and_artifacts(tmp_path):
    before = digests(FUNCMIN)
    broken = tmp_path / "broken.py"
    broken.write_text((FUNCMIN / "initial_program.py").read_text().replace(
        "    x, y, value = search_algorithm()", "    raise ValueError('no search today')"))
    run = tmp_path / "run"
    proc = evolve(tmp_path, "problem=openevolve", f"problem.evaluator={FUNCMIN / 'evaluator.py'}",
                  f"problem.initial_program={FUNCMIN / 'initial_program.py'}",
                  "proposer=scripted", f"proposer.programs=[{broken}]",
                  "search.iterations=1", f"hydra.run.dir={run}")
    assert proc.returncode == 0, proc.stderr
    assert "only as trustworthy as that evaluator" in (run / "run.log").read_text()
    got = {it: (status, stage, score) for it, status, stage, score in rows(
        run, "select iteration, status, stage, score from programs "
                 "where proposer != 'seed' or island = 0")}
    assert got[0][:2] == ("ok", "full") and got[0][2] > 0.8  # the initial program, both stages
    assert got[1] == ("ok", "stage1", 0.0)  # every trial failed: stopped below the 0.5 threshold
    arts = dict(rows(run, "select a.name, a.text from artifacts a join programs p "
                          "on p.id = a.program_id where p.iteration = 1"))
    assert "no search today" in arts["errors"]
    assert "artifact: stage2" in show(run, 1) and "no search today" in show(run, 3)
    assert digests(FUNCMIN) == before  # the example's files are run as they are


def test_shinka_spread_points_evolves(tmp_path):
    before = digests(SHINKA)
    run = tmp_path / "run"
    proc = evolve(tmp_path, "problem=shinka", f"problem.eval_program={SHINKA / 'evaluate.py'}",
                  f"problem.initial_program={SHINKA / 'initial.py'}", "proposer=builtin",
                  "search.iterations=4", f"hydra.run.dir={run}")
    assert proc.returncode == 0, proc.stderr
    assert "ShinkaEvolve evaluator" in (run / "run.log").read_text()
    seed = rows(run, "select status, score, metrics from programs where iteration = 0")[0]
    assert seed[0] == "ok" and 0.1 < seed[1] < 0.5
    assert "public.min_distance_n8" in seed[2]
    assert len(rows(run, "select id from programs where iteration > 0")) == 4
    arts = dict(rows(run, "select name, text from artifacts where program_id = 1"))
    assert arts["text_feedback"].startswith("closest pair is tightest")
    assert "combined_score=" in arts["output"]  # the script's print, captured and stored
    assert digests(SHINKA) == before


def test_adapter_config_mistakes_are_one_line(tmp_path):
    missing = evolve(tmp_path, "problem=shinka", f"problem.eval_program={SHINKA / 'evaluate.py'}")
    assert missing.returncode == 2
    assert missing.stderr.strip() == \
        "evolve: error: problem.initial_program: missing (a path to a .py file)"
    wrong = evolve(tmp_path, "problem=openevolve", "problem.evaluator=nope.py",
                   f"problem.initial_program={FUNCMIN / 'initial_program.py'}",
                   f"hydra.run.dir={tmp_path / 'run'}")
    assert wrong.returncode == 2 and "problem.evaluator=" in wrong.stderr
    assert "file not found" in wrong.stderr and not (tmp_path / "run").exists()
