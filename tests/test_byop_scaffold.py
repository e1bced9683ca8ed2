"""`evolve-problem new` writes a native problem folder whose own test passes: first with the
stubs (the run stops cleanly as `failed`), then with the README's example filled in (5 iterations
finish). The README example is extracted from README.md, so the README stays true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUNCMIN = ROOT / "examples" / "openevolve_funcmin"


def problem_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evolve.cli.problem_new", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def generated_test(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(folder / f"test_{folder.name}.py")], cwd=folder.parent,
                          capture_output=True, text=True, timeout=1800)  # a hang guard only


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- byop-example: demo/demo_problem.py -->\n```python\n(.*?)```", text, re.S)
    assert m, "README.md lost its Bring-your-own-problem example"
    return m.group(1)


def test_scaffold_then_readme_example(tmp_path):
    done = problem_cli("new", "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    demo = tmp_path / "demo"
    for name in ("problem/demo.yaml", "demo_problem.py", "seeds/seed.py", "instances.json",
                 "test_demo.py"):
        assert (demo / name).is_file(), name
    assert problem_cli("new", "demo", cwd=tmp_path).returncode == 2  # never overwrites
    assert problem_cli("new", "Bad-Name", cwd=tmp_path).returncode == 2
    stubs = generated_test(demo)
    assert stubs.returncode == 0, stubs.stdout + stubs.stderr
    (demo / "demo_problem.py").write_text(readme_example())
    filled = generated_test(demo)
    assert filled.returncode == 0, filled.stdout + filled.stderr


def test_from_openevolve(tmp_path):
    done = problem_cli("new", "funcmin", "--from-openevolve", str(FUNCMIN), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "funcmin"
    assert (folder / "seeds" / "seed.py").read_text() == \
        (FUNCMIN / "initial_program.py").read_text()
    code = (folder / "funcmin_problem.py").read_text()
    assert 'entry = "search_algorithm"' in code and "Find the global minimum" in code
    compile(code, "funcmin_problem.py", "exec")
