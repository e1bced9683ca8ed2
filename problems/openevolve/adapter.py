"""What the OpenEvolve and ShinkaEvolve adapters share: the whole candidate program is written to
a file in the sandboxed child, the framework's own evaluator runs there on it, and its metrics
and artifacts come back as plain arrays (the only thing that crosses the sandbox boundary).

Trust: such an evaluator computes the score in the same process as the candidate, so a hostile
candidate can change its own score. The adapter says so at run start; untrusted models belong on
the native `Problem` contract, whose scorer runs outside the candidate's process.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import io
import math
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from evolve.problem import (
    Candidate,
    InstanceSet,
    InvalidOutput,
    Problem,
    ProblemError,
    SetScore,
    Summary,
)
from evolve.trust import config_bases, resolve_file

TRUST_NOTE = ("scores come from {what}, which runs inside the candidate's sandboxed process: they "
              "are only as trustworthy as that evaluator (a candidate can tamper with it); for "
              "untrusted models use the native Problem contract")
MAX_TEXT = 8000  # characters kept of one artifact
MAX_ITEMS = 64  # metrics plus artifacts one stage may return
# Imported in the warm worker before any fork: a candidate's child may not read the Python
# installation, and evaluators import these lazily (concurrent.futures' executors, ...).
PRELOAD = ("concurrent.futures.thread", "concurrent.futures.process", "multiprocessing",
           "threading", "traceback", "signal", "argparse", "json", "pickle", "tempfile",
           "inspect", "importlib.util", "subprocess", "dataclasses")


def load_user_module(path: Path, key: str, what: str) -> ModuleType:
    """Import the user's evaluator file (trusted code, in the warm worker before any fork); its
    folder goes on the import path as the upstream frameworks do."""
    if not path.is_file():
        raise ProblemError(f"problem.{what}={str(path)!r}: file not found")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise ProblemError(f"problem.{what}={str(path)!r}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - any import error is the user's, one line
        raise ProblemError(f"problem.{what}={str(path)!r}: importing it failed: "
                           f"{type(e).__name__}: {e}") from None
    return module


def first_function(code: str) -> str:
    """The first function defined inside the EVOLVE-BLOCK (else the first top-level one): what
    the built-in mutator edits and constant tuning calls."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ""
    lines = code.splitlines()
    start = next((i for i, x in enumerate(lines, 1) if "EVOLVE-BLOCK-START" in x), 0)
    end = next((i for i, x in enumerate(lines, 1) if "EVOLVE-BLOCK-END" in x), len(lines) + 1)
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    inside = [f for f in funcs if start < f.lineno < end]
    return (inside or funcs or [ast.FunctionDef(name="")])[0].name  # type: ignore[call-arg]


def encode(metrics: Mapping[str, Any], artifacts: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Numbers as float arrays (`m:` names), texts as UTF-8 byte arrays (`a:` names)."""
    out: dict[str, np.ndarray] = {}
    for k, v in list(metrics.items())[:MAX_ITEMS]:
        if isinstance(v, (bool, int, float, np.integer, np.floating)):
            out[f"m:{str(k)[:64]}"] = np.array([float(v)])
        else:
            artifacts = {**artifacts, str(k): v}
    for k, v in list(artifacts.items())[:MAX_ITEMS]:
        text = v.decode(errors="replace") if isinstance(v, bytes) else str(v)
        out[f"a:{str(k)[:64]}"] = np.frombuffer(text[:MAX_TEXT].encode(), dtype=np.uint8)
    return out


def decode(outputs: Mapping[str, np.ndarray]) -> tuple[dict[str, float], dict[str, str]]:
    """The metrics and artifacts a child sent, checked as untrusted data."""
    if len(outputs) > 2 * MAX_ITEMS:
        raise InvalidOutput(f"{len(outputs)} outputs (at most {2 * MAX_ITEMS})")
    metrics, artifacts = {}, {}
    for name, a in outputs.items():
        kind, _, key = name.partition(":")
        if kind == "m" and a.shape == (1,) and a.dtype == np.float64:
            if math.isfinite(float(a[0])):  # JSON (the archive) holds finite numbers only
                metrics[key[:64]] = float(a[0])
        elif kind == "a" and a.ndim == 1 and a.dtype == np.uint8:
            artifacts[key[:64]] = a[:MAX_TEXT].tobytes().decode(errors="replace")
        else:
            raise InvalidOutput(f"output {name[:40]!r} is neither a metric nor an artifact")
    return metrics, artifacts


def combined(metrics: Mapping[str, float]) -> float:
    """The score: `combined_score`, else the mean of the numeric metrics but `error` (OpenEvolve's
    rule); not finite counts as -inf so that it never wins."""
    if "combined_score" in metrics:
        x = metrics["combined_score"]
    else:
        vals = [v for k, v in metrics.items() if k != "error"]
        x = sum(vals) / len(vals) if vals else -math.inf
    return x if math.isfinite(x) else -math.inf


def write_program(code: str, folder: str | None = None) -> str:
    """The candidate as a file in the child's private working folder (the evaluator imports it
    by path, as upstream)."""
    path = os.path.join(folder or os.getcwd(), "program.py")
    with open(path, "w") as f:
        f.write(code)
    return path


class WholeProgramProblem(Problem):
    """A problem whose candidate is a whole program scored by a framework's own evaluator."""

    whole_program = True
    jit_entry = False
    reads_config_dir = True  # problem.evaluator=evaluator.py in a yaml is next to that yaml
    # the user's evaluator may sample or time the program (OpenEvolve's function_minimization does
    # both): nothing promises the same score twice
    deterministic = False
    evaluator_key = ""  # the config key naming the evaluator file
    framework = ""

    def __init__(self, cfg: Mapping[str, Any] | None = None):
        super().__init__(cfg)
        self.module: ModuleType | None = None
        self.initial = self._path(str(self.cfg.get("initial_program") or ""), "initial_program")
        self.entry = str(self.cfg.get("entry") or "") or first_function(
            self.initial.read_text() if self.initial.is_file() else "")
        self.signature = f"the whole program (the evaluator imports it; keep `{self.entry}`)"
        for key, path in ((self.evaluator_key, self.evaluator_path()),
                          ("initial_program", self.initial)):
            if not path.is_file():  # before any run folder exists: a one-line config error
                raise ProblemError(f"problem.{key}={str(path)!r}: file not found")

    def _path(self, value: str, key: str) -> Path:
        if not value or value == "???":  # ??? is OmegaConf's mark for a missing value
            raise ProblemError(f"problem.{key}: missing (a path to a .py file)")
        # relative to the problem's yaml when one configured it (then the current folder)
        return resolve_file(value, config_bases(self.cfg), cwd_first=False)

    def evaluator_path(self) -> Path:
        return self._path(str(self.cfg.get(self.evaluator_key) or ""), self.evaluator_key)

    def describe(self, path: Path) -> str:
        """The prompt's task text: `problem.description`, else the evaluator's docstring."""
        text = str(self.cfg.get("description") or "")
        if not text and path.is_file():
            try:
                text = ast.get_docstring(ast.parse(path.read_text())) or ""
            except SyntaxError:
                text = ""
        return (text or f"Improve the program; the {self.framework} evaluator scores it "
                "(combined_score, higher is better).") + (
            "\nChange only the code between the EVOLVE-BLOCK-START and EVOLVE-BLOCK-END markers "
            "and keep the functions the evaluator calls.")

    def warm_up(self) -> None:
        for name in PRELOAD:
            importlib.import_module(name)
        self.module = load_user_module(self.evaluator_path(), f"_evolve_{self.framework}_eval",
                                       self.evaluator_key)

    def warm_run(self) -> None:
        """Evaluate the user's own initial program once here, before any fork, in a temporary
        folder: whatever the evaluator imports lazily is then loaded for every child. Trusted
        like the evaluator itself; its outcome is ignored."""
        if not self.initial.is_file():
            return
        with tempfile.TemporaryDirectory() as tmp:
            cwd = os.getcwd()
            try:
                os.chdir(tmp)
                with contextlib.redirect_stdout(io.StringIO()), \
                        contextlib.redirect_stderr(io.StringIO()):
                    self.run(Candidate(module=None, py=print, code=self.initial.read_text()),
                             self.instance_sets("train")[0])
            except Exception:  # noqa: BLE001 - a warm-up only; the seed's evaluation reports
                pass
            finally:
                os.chdir(cwd)

    def start_note(self) -> str:
        return TRUST_NOTE.format(what=f"the {self.framework} evaluator {self.evaluator_path()}")

    def seed_path(self, name_or_path: str) -> Path:
        if name_or_path:
            return super().seed_path(name_or_path)
        if not self.initial.is_file():
            raise ProblemError(f"problem.initial_program={str(self.initial)!r}: file not found")
        return self.initial

    def instance_sets(self, split: str) -> list[InstanceSet]:
        # the evaluator owns its data: every split is one run of its final stage
        return [InstanceSet(self.final_stage(), self.final_stage(), 1)]

    def final_stage(self) -> str:
        return "evaluate"

    def score_set(self, iset: InstanceSet, outputs: Mapping[str, np.ndarray]) -> SetScore:
        metrics, artifacts = decode(outputs)
        if not math.isfinite(combined(metrics)):
            raise InvalidOutput("the evaluator returned no finite combined_score")
        return SetScore(iset.name, 1, metrics, artifacts=artifacts)

    def summarize(self, split: str, scores: list[SetScore]) -> Summary:
        metrics: dict[str, float] = {}
        artifacts: dict[str, str] = {}
        for s in scores:
            metrics.update(s.metrics)
            artifacts.update(s.artifacts)
        score = combined(metrics)
        shown = ", ".join(f"{k}={v:.6g}" for k, v in list(metrics.items())[:12])
        return Summary(score=score, metrics=metrics, feedback=f"metrics: {shown}",
                       artifacts=artifacts)
