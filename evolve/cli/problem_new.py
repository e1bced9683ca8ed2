"""`evolve-problem new NAME [--dir PARENT] [--from-openevolve DIR]`: write a native problem folder.

    NAME/problem/NAME.yaml   the config (`evolve --config-dir NAME problem=NAME`)
    NAME/NAME_problem.py     the Problem subclass: run / score_set / summarize to write
    NAME/seeds/seed.py       the first candidate
    NAME/instances.json      a tiny instance file
    NAME/test_NAME.py        runs 5 iterations (pytest NAME/test_NAME.py)

With --from-openevolve DIR the seed is DIR's initial program and the problem's description is
its evaluator's docstring: the native contract then scores outside the candidate's process.
"""

from __future__ import annotations

import argparse
import ast
import keyword
import re
import sys
from pathlib import Path

from evolve.problems.openevolve.adapter import first_function

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

YAML = """\
# `evolve --config-dir {name} problem={name}`: relative paths below are looked for next to this
# file, then in {name}/ (and in the current folder).
name: {name}
target: {name}_problem.py:{cls}
seed_program: seed          # seeds/seed.py
instances: instances.json   # read by {cls}.instance_sets
"""

PROBLEM = '''\
"""{name}: evolve `{entry}(x) -> float`. Fill in the three methods marked TODO."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from evolve.problem import InstanceSet, InvalidOutput, Problem, SetScore, Summary, readonly


class {cls}(Problem):
    """{description}"""

    name = "{name}"
    entry = "{entry}"
    signature = "def {entry}(x: np.ndarray[float64]) -> float"
    description = {description!r}
    # jit_entry = True  # compile the entry with numba (then it must be numba-compatible)

    def instance_sets(self, split: str) -> list[InstanceSet]:
        """Every split reads instances.json here; give validation/test their own files."""
        path = Path(__file__).parent / str(self.cfg.get("instances", "instances.json"))
        rows = json.loads(path.read_text())[split]
        return [InstanceSet(f"{{split}}", np.array(rows, dtype=np.float64), len(rows))]

    def run(self, candidate, iset: InstanceSet) -> dict[str, np.ndarray]:
        """Untrusted (sandboxed child): call the candidate on each instance, return raw outputs."""
        # TODO e.g. return {{"y": np.array([candidate.fn(readonly(x)) for x in iset.data])}}
        raise NotImplementedError("{cls}.run: call candidate.fn on each instance of iset.data "
                                  "and return a dict of numpy arrays")

    def score_set(self, iset: InstanceSet, outputs) -> SetScore:
        """Trusted: check the outputs (raise InvalidOutput) and compute the set's metrics."""
        # TODO e.g. y = outputs["y"]; check its shape;
        #      return SetScore(iset.name, iset.size, {{"err": ...}})
        raise NotImplementedError("{cls}.score_set: validate outputs (raise InvalidOutput) and "
                                  "return SetScore(iset.name, iset.size, {{metric: value}})")

    def summarize(self, split: str, scores: list[SetScore]) -> Summary:
        """Fold the sets' metrics into one score (higher is better) and feedback text."""
        # TODO e.g. err = mean of the sets' "err"; Summary(score=-err, metrics={{"err": err}}, ...)
        raise NotImplementedError("{cls}.summarize: return Summary(score=..., metrics={{...}}, "
                                  "feedback='...') with a higher score for better candidates")
'''

SEED = '''\
import numpy as np


def {entry}(x):
    return float(np.mean(x))
'''

TEST = '''\
"""Runs `evolve` on {name} for 5 iterations (built-in mutator, offline) in a temporary folder.

While {cls}'s methods are still stubs, the run must stop cleanly as `failed`, naming the
NotImplementedError; once they are written, it must finish its 5 iterations."""

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_five_iterations(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "evolve.app", "--config-dir", str(HERE), "problem={name}",
         "search.iterations=5", "proposer=builtin", "evaluator.workers=1", "progress=false",
         f"hydra.run.dir={{run_dir}}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900)
    run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
    with sqlite3.connect(run_dir / "archive.sqlite") as db:
        status, reason = db.execute("select status, stop_reason from runs where id = ?",
                                    (run_id,)).fetchone()
    stubs = "NotImplementedError" in (HERE / "{name}_problem.py").read_text()
    if stubs:
        assert proc.returncode == 1 and status == "failed", proc.stderr
        assert "NotImplementedError" in reason, reason
    else:
        assert proc.returncode == 0, proc.stderr
        assert status == "finished", reason
'''


def _class_name(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("_")) + "Problem"


def _from_openevolve(src: Path) -> tuple[str, str, str]:
    """(seed code, entry, description) from an OpenEvolve example folder."""
    initial = next((src / n for n in ("initial_program.py", "initial.py")
                    if (src / n).is_file()), None)
    if initial is None:
        raise SystemExit(f"evolve-problem: error: --from-openevolve {src}: no initial_program.py")
    code = initial.read_text()
    entry = first_function(code) or "solve"
    evaluator = src / "evaluator.py"
    doc = ""
    if evaluator.is_file():
        try:
            doc = ast.get_docstring(ast.parse(evaluator.read_text())) or ""
        except SyntaxError:
            doc = ""
    return code, entry, " ".join(doc.split())[:300] or f"Ported from {src.name}"


def new(name: str, parent: Path, source: Path | None) -> Path:
    """Write the folder; refuse to overwrite anything."""
    folder = parent / name
    if folder.exists():
        raise SystemExit(f"evolve-problem: error: {folder} already exists (nothing written)")
    cls = _class_name(name)
    entry, seed = "solve", SEED.format(entry="solve")
    description = f"Evolve solve(x) for the {name} problem (higher score is better)."
    if source is not None:
        seed, entry, description = _from_openevolve(source)
    (folder / "problem").mkdir(parents=True)
    (folder / "seeds").mkdir()
    (folder / "problem" / f"{name}.yaml").write_text(YAML.format(name=name, cls=cls))
    (folder / f"{name}_problem.py").write_text(PROBLEM.format(
        name=name, cls=cls, entry=entry, description=description.replace('"', "'")))
    (folder / "seeds" / "seed.py").write_text(seed)
    (folder / "instances.json").write_text(
        '{"train": [[1.0, 2.0, 3.0], [4.0, 0.5, 2.5]],\n'
        ' "validation": [[2.0, 2.0, 5.0]],\n "test": [[0.0, 1.0, 9.0]]}\n')
    (folder / f"test_{name}.py").write_text(TEST.format(name=name, cls=cls))
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="evolve-problem", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("new", help="write a native problem folder NAME/")
    p.add_argument("name", help="lower-case letters, digits and _ (a Python identifier)")
    p.add_argument("--dir", default=".", help="where NAME/ is made (default: here)")
    p.add_argument("--from-openevolve", metavar="DIR", default=None,
                   help="seed and description from an OpenEvolve example folder")
    args = parser.parse_args(argv)
    if not NAME.match(args.name) or keyword.iskeyword(args.name):
        print(f"evolve-problem: error: NAME={args.name!r}: use lower-case letters, digits and _ "
              "(starting with a letter)", file=sys.stderr)
        return 2
    src = Path(args.from_openevolve) if args.from_openevolve else None
    if src is not None and not src.is_dir():
        print(f"evolve-problem: error: --from-openevolve {src}: not a folder", file=sys.stderr)
        return 2
    try:
        folder = new(args.name, Path(args.dir), src)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    print(f"wrote {folder}/: fill in run / score_set / summarize in {folder}/"
          f"{args.name}_problem.py, then\n  evolve --config-dir {folder} problem={args.name}\n"
          f"  pytest {folder}/test_{args.name}.py")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
