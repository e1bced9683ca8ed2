"""The problem contract: what every problem under `problems/` provides to the engine.

A problem splits evaluation into two halves so that a candidate can never grade itself:

* `run(candidate, iset)` executes in the sandboxed child process. It calls the candidate on the
  instances of one set and returns its raw outputs (a dict of numpy arrays). It is untrusted.
* `score_set(iset, outputs)` executes in the trusted worker. It validates the outputs against the
  contract (raising `InvalidOutput`) and computes the metrics with the problem's simulator.

A problem that `streams` splits `run` further (evolve/episode.py): `feed(isets)` stays in the
worker and hands out each round's visible inputs, `respond` answers them in the child, which
then holds nothing else of the data (no references, no later window, no future of a trace).

`summarize(split, scores)` folds the per-set scores into one number (higher is better), a metrics
dict and short feedback text for the next prompt.
"""

from __future__ import annotations

import sys
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

SPLITS = ("train", "validation", "test")
# every InstanceSet of this process, so that a streaming problem's candidate child can drop them all
LIVE_SETS: weakref.WeakValueDictionary[int, InstanceSet] = weakref.WeakValueDictionary()
Feed = Generator[dict[str, np.ndarray], dict[str, np.ndarray], list[dict[str, np.ndarray]]]
SetFeed = Generator[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]


class ProblemError(Exception):
    """Bad problem input (config value, data file, instance file): one-line message for the user."""


class InvalidOutput(Exception):
    """The candidate's output violates the contract (recorded as `invalid_output`)."""


class InputMutation(Exception):
    """The candidate changed its read-only inputs (recorded as `input_mutation`)."""


@dataclass(frozen=True)
class InstanceSet:
    """A named batch of instances evaluated together; `data` is problem-specific."""

    name: str
    data: Any
    size: int

    def __post_init__(self) -> None:
        LIVE_SETS[id(self)] = self


@dataclass
class SetScore:
    """Trusted metrics of one instance set."""

    name: str
    n_instances: int
    metrics: dict[str, float]
    feedback: str = ""
    runtime_s: float = 0.0
    artifacts: dict[str, str] = field(default_factory=dict)  # named texts (whole-program scorers)
    # (n_instances,) float64: the problem's `paired_metric` per instance (NaN where undefined),
    # which `evolve-replay` pairs with a baseline's on the same instances (None: not given)
    per_instance: np.ndarray | None = None


@dataclass
class Summary:
    """What a problem reports for a whole split: score (higher is better), metrics, feedback."""

    score: float
    metrics: dict[str, float]
    feedback: str
    behaviour: float | None = None  # optional behaviour descriptor for the MAP-Elites grid
    sets: list[SetScore] = field(default_factory=list)
    artifacts: dict[str, str] = field(default_factory=dict)  # named texts stored per program


@dataclass(frozen=True)
class Stage:
    """One cheap step of the evaluation cascade, run before the full split.

    A candidate goes on to the next stage only when `pass_if(summary)` is true (a float is a
    threshold on the stage's score; None always passes). `timeout_s` bounds this stage's wall
    clock from the moment the previous one was scored (None: the evaluation's own limit)."""

    name: str  # recorded as the program's `stage` when it stops here (16 characters at most)
    sets: list[InstanceSet]
    pass_if: Callable[[Summary], bool] | float | None = None
    timeout_s: float | None = None

    def passes(self, summary: Summary) -> bool:
        if self.pass_if is None:
            return True
        if callable(self.pass_if):
            return bool(self.pass_if(summary))
        return float(summary.score) >= float(self.pass_if)


def readonly(a: np.ndarray, dtype=None) -> np.ndarray:
    """A copy of `a` that cannot be made writable again (it views an immutable bytes object)."""
    a = np.ascontiguousarray(a, dtype=dtype)
    return np.frombuffer(a.tobytes(), dtype=a.dtype).reshape(a.shape)


class Problem(ABC):
    """A heuristic-discovery task: data, candidate contract, trusted scoring and baselines."""

    name: str = ""
    entry: str = ""  # the function a candidate module must define
    signature: str = ""  # e.g. "def schedule(p, d) -> np.ndarray[int]"
    description: str = ""  # prompt text: the task, the contract, what "better" means
    jit_entry: bool = True  # compile the entry with numba.njit (Python fallback otherwise)
    primitives: tuple[str, ...] = ()  # extra names the built-in mutator may use in expressions
    key_metrics: tuple[str, ...] = ()  # metrics tables show first (all of them when empty)
    # the set metric that is a mean of per-instance values score_set also returns
    # (SetScore.per_instance), and its direction: what paired comparisons use ("": none)
    paired_metric: str = ""
    paired_lower_is_better: bool = True
    deterministic: bool = True  # False when the score includes a measured runtime
    timed_calls: int = 0  # > 0: the trusted worker times this many entry calls (see timing_args)
    # True: the candidate is a whole program handed to `run` as text (`candidate.code`), with no
    # entry function to load (the OpenEvolve / ShinkaEvolve adapters)
    whole_program: bool = False
    # True: `run` is `feed` + `respond` (see the module docstring and evolve/episode.py)
    streams: bool = False
    # where an outside problem lives (its config's folder, its file's folder): seeds are looked
    # for there; set by make_problem
    source_dirs: tuple[Path, ...] = ()

    def __init__(self, cfg: Mapping[str, Any] | None = None):
        self.cfg = dict(cfg or {})

    # ---- data -----------------------------------------------------------------------------
    @abstractmethod
    def instance_sets(self, split: str) -> list[InstanceSet]:
        """The instance sets of `split` (train / validation / test)."""

    def gate_sets(self) -> list[InstanceSet]:
        """A few small instances run first (the cheap stage of the cascade); [] disables it."""
        return []

    def load_instances(self, paths: list[str]) -> list[InstanceSet]:
        """Instance sets read from user files (evolve-replay --instances)."""
        raise ProblemError(f"problem {self.name!r} does not read instance files")

    def warm_up(self) -> None:
        """Load data and compile simulators once per warm worker, before any candidate runs."""
        for split in ("train",):
            self.instance_sets(split)
        self.gate_sets()

    # ---- evaluation -----------------------------------------------------------------------
    @abstractmethod
    def run(self, candidate: Candidate, iset: InstanceSet) -> dict[str, np.ndarray]:
        """Untrusted: call the candidate on every instance of `iset`, return raw outputs."""

    def feed(self, isets: list[InstanceSet]) -> Feed:
        """Trusted (streaming problems), the sets of one stage: yield each round's visible
        inputs, receive the candidate's raw outputs for that round (raise InvalidOutput on bad
        ones) before the next round's inputs exist anywhere the candidate runs; return the list
        of each set's outputs for score_set."""
        raise NotImplementedError

    def respond(self, candidate: Candidate, state: dict[str, Any],
                inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Untrusted (streaming problems): the candidate's raw outputs for one round's inputs;
        `state` is the problem's scratch space for one stage (e.g. a policy's memory)."""
        raise NotImplementedError

    def forget(self) -> None:  # noqa: B027 - optional hook, nothing to forget by default
        """Drop the data this object and its modules cache (a streaming problem's candidate
        child calls it: what stays in a candidate's process, the candidate can read)."""

    def private_dirs(self) -> tuple[str, ...]:
        """Folders candidates see empty (mount namespace) when the problem streams (its data
        reaches a candidate only through `feed`): the `data` folder beside its module and those
        of the built-in problems."""
        if not self.streams:
            return ()
        home = Path(sys.modules[type(self).__module__].__file__ or ".").resolve().parent
        builtin = Path(str(resources.files("evolve.problems")))
        found = {home / "data", *builtin.glob("*/data")}
        return tuple(sorted(str(d) for d in found if d.is_dir()))

    @abstractmethod
    def score_set(self, iset: InstanceSet, outputs: Mapping[str, np.ndarray]) -> SetScore:
        """Trusted: validate `outputs` (raise InvalidOutput) and compute the set's metrics."""

    @abstractmethod
    def summarize(self, split: str, scores: list[SetScore]) -> Summary:
        """Fold per-set scores into the split's score, metrics and feedback."""

    def gate_passes(self, summary: Summary) -> bool:
        """Whether a candidate that survived the gate deserves the full evaluation."""
        return True

    def cascade(self) -> list[Stage]:
        """The cheap stages run in order before the full split (contract v2: any number, each
        with its own pass rule and timeout). The default is the one-stage gate above."""
        sets = self.gate_sets()
        return [Stage("gate", sets, self.gate_passes)] if sets else []

    def background(self) -> str:
        """Extra background for LLM prompts: `problem.prompt` (the text, or a .md file), else a
        prompt.md next to the problem's config or code ("" when there is none)."""
        value = str(self.cfg.get("prompt") or "").strip()
        home = Path(sys.modules[type(self).__module__].__file__ or ".").resolve().parent
        if value and not value.endswith(".md"):
            return value
        names = [Path(value)] if value else [Path("prompt.md")]
        for base in (Path.cwd(), *self.source_dirs, home) if value else (*self.source_dirs, home):
            for n in names:
                if (base / n).is_file():
                    return (base / n).read_text()
        if value:
            raise ProblemError(f"problem.prompt={value!r}: file not found")
        return ""

    def start_note(self) -> str:
        """One line the run logs at its start (e.g. how far its scores can be trusted)."""
        return ""

    # ---- runtime objectives (measured by the trusted side, never by the candidate) --------
    def timing_args(self, rng: np.random.Generator) -> list[tuple]:
        """Arguments of the `timed_calls` entry calls, drawn fresh in the trusted worker.

        They reach the candidate one call at a time, after its sets ran, so it cannot have
        computed the answers beforehand. The first call is a warm-up and is not timed.
        """
        return []

    def call_entry(self, candidate: Candidate, args: tuple) -> dict[str, np.ndarray]:
        """Untrusted: one call of the entry on `args` (what the worker times); its raw outputs."""
        candidate.fn(*args)
        return {}

    def check_call(self, args: tuple, outputs: Mapping[str, np.ndarray]) -> float:
        """Trusted: validate one timed call's outputs for its `args` (raise InvalidOutput) and
        return its quality, so that a fast but stale or shortcut answer is seen for what it is."""
        return float("nan")

    def apply_timing(self, summary: Summary, call_seconds: np.ndarray,
                     call_quality: np.ndarray | None = None) -> Summary:
        """Fold the measured per-call times (seconds) and qualities, warm-up excluded."""
        return summary

    # ---- references -----------------------------------------------------------------------
    def baselines(self) -> dict[str, Callable]:
        """Name -> callable with the entry's signature (trusted code, run in-process)."""
        return {}

    def default_baselines(self) -> list[str]:
        """Baselines shown by evolve-replay when the user does not choose."""
        return list(self.baselines())

    # ---- web UI -----------------------------------------------------------------------------
    @classmethod
    def panel(cls, metrics: Mapping[str, float],
              sets: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
        """Problem-specific tables of a program's stored metrics for the web UI (`evolve-archive
        serve`), each {"title", "columns", "rows", "note"}; a classmethod so that showing an
        archive never builds the problem (no data loading). [] when the problem has none.
        `sets`: the program's per-set results, {"split", "set", "score", "metrics"} each."""
        return []

    # ---- seeds ----------------------------------------------------------------------------
    def seeds_root(self) -> Path:
        """The folder of this problem's seed programs: seeds/<name>/ in the package; for an
        outside problem, `seeds/` next to its config (or its file) when there is one."""
        for d in self.source_dirs:
            if (d / "seeds").is_dir():
                return d / "seeds"
        return Path(str(resources.files("evolve.seeds"))) / self.name

    def seed_path(self, name_or_path: str) -> Path:
        """A seed program: a name under seeds/<problem>/, or a path to a .py file (relative to
        the current folder or to the problem's own folders)."""
        p = Path(name_or_path)
        if p.suffix == ".py":
            for base in (Path.cwd(), *self.source_dirs):
                if (base / p).exists():
                    return base / p
        root = self.seeds_root()
        cand = root / f"{name_or_path.removesuffix('.py')}.py"
        if cand.exists():
            return cand
        choices = sorted(x.stem for x in root.glob("*.py")) if root.exists() else []
        raise ProblemError(
            f"problem.seed_program={name_or_path!r}: no such seed or .py file "
            f"(seeds for {self.name}: {', '.join(choices) or 'none'})"
        )


@dataclass
class Candidate:
    """A loaded candidate module: `fn` is the callable to use (jitted, or Python on fallback)."""

    module: Any
    py: Callable
    jit: Any = None  # numba dispatcher, or None when not compiled / fell back
    fallback_reason: str = ""
    code: str = ""  # the program text (what a whole-program problem runs)

    @property
    def fn(self) -> Callable:
        return self.jit if self.jit is not None else self.py


# loading a problem from its config (kept importable from here, where every caller looks)
from evolve.problem_loading import (  # noqa: E402 - needs Problem above
    config_dir_of,
    config_folders,
    load_problem_class,
    make_problem,
    record_config_dir,
)

__all__ = ["config_dir_of", "config_folders", "load_problem_class", "make_problem",
           "record_config_dir"]
