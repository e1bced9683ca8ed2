"""Outside problems resume from any folder: a `--config-dir` problem's relative target resolves
from its yaml (not the current folder), a folder copied elsewhere resumes against the config dir
the user passes there, and the files an adapter imports (problem.evaluator, ...) follow the same
trust rule as the target: registered by a config the user passed, or named by the user."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

from tests.engine_util import rows

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "tests" / "byop"
FUNCMIN = ROOT / "examples" / "openevolve_funcmin"
EVIL = 'from pathlib import Path\nPath(__file__).with_name("MARKER").write_text("imported")\n'


def evolve(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evolve.app", *args, "progress=false",
                           "evaluator.workers=1"], cwd=cwd, capture_output=True, text=True,
                          timeout=900)  # a hang guard only


def iterations(run: Path) -> int:
    return max(it for (it,) in rows(run, "select iteration from programs"))


def test_outside_problem_resumes_from_another_folder_and_after_a_copy(tmp_path):
    a, b, c = (tmp_path / n for n in "abc")
    for d in (a, b, c):
        d.mkdir()
    proc = evolve(a, "--config-dir", str(HERE), "problem=cascade3", "search.iterations=2",
                  "hydra.run.dir=run")
    assert proc.returncode == 0, proc.stderr
    # another folder, where `cascade3.py` means nothing: found next to the yaml
    refused = evolve(b, "resume=../a/run", "search.iterations=3")
    assert refused.returncode == 2 and "not a registered problem" in refused.stderr
    proc = evolve(b, "--config-dir", str(HERE), "resume=../a/run", "search.iterations=3")
    assert proc.returncode == 0, proc.stderr
    assert iterations(a / "run") == 3
    # the run folder and the config dir both moved (another machine): the folder's recorded
    # config_dir is stale; the config dir passed here is the one trusted and imported
    conf = c / "conf"
    shutil.copytree(HERE, conf, ignore=shutil.ignore_patterns("__pycache__"))
    with (conf / "cascade3.py").open("a") as f:
        f.write('\nfrom pathlib import Path\nPath(__file__).with_name("USED").write_text("y")\n')
    shutil.copytree(a / "run", c / "run", symlinks=True)
    proc = evolve(c, "--config-dir", "conf", "resume=run", "search.iterations=4")
    assert proc.returncode == 0, proc.stderr
    assert iterations(c / "run") == 4 and (conf / "USED").exists()
    assert iterations(a / "run") == 3


def test_adapter_files_named_by_a_folder_need_the_users_word(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    b.mkdir()
    shutil.copytree(FUNCMIN, a / "fm", ignore=shutil.ignore_patterns("__pycache__"))
    proc = evolve(a, "problem=openevolve", "problem.evaluator=fm/evaluator.py",
                  "problem.initial_program=fm/initial_program.py", "search.iterations=1",
                  "hydra.run.dir=run")
    assert proc.returncode == 0, proc.stderr
    # the saved paths are relative to folder a: from b the user names the files again
    refused = evolve(b, "resume=../a/run", "search.iterations=2")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "problem.evaluator=" in refused.stderr and "to trust that file" in refused.stderr
    proc = evolve(b, "resume=../a/run", "search.iterations=2",
                  "problem.evaluator=../a/fm/evaluator.py",
                  "problem.initial_program=../a/fm/initial_program.py")
    assert proc.returncode == 0, proc.stderr
    assert iterations(a / "run") == 2
    # a crafted folder naming other code as its evaluator: refused before any import
    (a / "evil.py").write_text(EVIL)
    cfg = OmegaConf.load(a / "run" / "config.yaml")
    cfg.problem.evaluator = str(a / "evil.py")
    OmegaConf.save(cfg, a / "run" / "config.yaml")
    for argv in (["-m", "evolve.app", "resume=../a/run", "search.iterations=3"],
                 ["-m", "evolve.cli.replay", "../a/run", "--baselines", "none"]):
        bad = subprocess.run([sys.executable, *argv], cwd=b, capture_output=True, text=True,
                             timeout=900)
        assert bad.returncode == 2 and "problem.evaluator=" in bad.stderr, bad.stderr
        assert not (a / "MARKER").exists()
