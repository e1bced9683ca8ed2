"""The engine's config schema: every key `evolve` reads, its type, range and default (the only one).

The YAML under evolve/conf/ chooses presets (problem=, proposer=, llm=) and sets what a preset
changes; every default lives here. Problems declare their own section next to their code
(problems/<name>/schema.py, a `SCHEMAS` dict); `register()` puts everything in Hydra's ConfigStore:
the root as `engine_schema`, problem sections as `schema/problem/<name>`.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from omegaconf import MISSING

from evolve.config_check import items, num
from evolve.llm.settings import LLMConfig


class ParentSelection(StrEnum):
    """How a parent is picked on its island."""

    power_law = "power_law"  # P(rank r) ~ (r + 1) ** -power_law_alpha
    weighted = "weighted"  # sigmoid of the score around the median (weighted_sharpness)
    tournament = "tournament"  # best of tournament_k random programs
    uniform = "uniform"


class Strategy(StrEnum):
    """Whether children build on each other (the ablation's two arms)."""

    evolve = "evolve"  # parents from the archive, inspirations, islands, MAP-Elites
    parallel = "parallel"  # every child mutates the seed: independent sampling, no evolution


class Feature(StrEnum):
    """A MAP-Elites axis."""

    code_length = "code_length"
    behaviour = "behaviour"
    score = "score"


@dataclass
class MapElites:
    """The diversity grid that `exploration` picks parents from."""

    features: list[Feature] = items(lambda: [Feature.code_length, Feature.behaviour],
                                    nonempty=True)
    bins: int = num(8, gt=0)


@dataclass
class SearchConfig:
    """The evolutionary loop: budget, islands, parent selection, inspirations."""

    iterations: int = num(300, ge=0)  # proposals after the seed
    seed: int = num(0, ge=0)
    islands: int = num(2, gt=0)
    migration_interval: int = num(25, ge=0)  # ring migration every N iterations (0: never)
    migration_count: int = num(1, ge=0)  # programs copied to the next island
    max_seconds: float | None = num(None, gt=0)  # wall-clock budget
    target_score: float | None = None  # stop once the best score reaches this
    concurrency: int = num(4, gt=0)  # in-flight proposals; also the lag of the deterministic view
    strategy: Strategy = Strategy.evolve
    parent_selection: ParentSelection = ParentSelection.power_law
    power_law_alpha: float = num(1.0, ge=0)
    weighted_sharpness: float = num(10.0, gt=0)
    tournament_k: int = num(3, gt=0)
    fix_probability: float = num(0.1, ge=0, le=1)  # LLM runs: hand a failed program to "fix"
    exploration: float = num(0.2, ge=0, le=1)  # chance to pick the parent from the MAP-Elites grid
    num_top_inspirations: int = num(2, ge=0)
    num_diverse_inspirations: int = num(1, ge=0)
    # programs entering the training top-k are also scored on the validation split; the best
    # there is the run's reported best (best.py, evolve-archive top/export, evolve-replay). 0: off
    validate_top_k: int = num(5, ge=0, le=1000)
    map_elites: MapElites = field(default_factory=MapElites)


class Backend(StrEnum):
    """Where the warm workers run."""

    local = "local"  # subprocesses of this machine
    ray = "ray"  # one per Ray actor, on a Ray cluster (evaluator.ray)


@dataclass
class RayConfig:
    """The Ray backend: which cluster, and what each actor asks of it."""

    address: str | None = None  # None: a private local Ray; auto; host:port; ray://host:port
    resources: dict[str, float] = field(default_factory=dict)  # per actor, e.g. {GPU: 1}
    num_cpus: float = num(1.0, ge=0)  # CPUs each actor reserves (0.5 packs two per core)
    start_timeout_s: float = num(120.0, gt=0)  # hang guard: joining, starting an actor


@dataclass
class EvaluatorConfig:
    """The sandbox pool."""

    workers: int = num(2, gt=0)  # warm sandbox workers (processes; with ray: actors)
    backend: Backend = Backend.local
    ray: RayConfig = field(default_factory=RayConfig)
    timeout_s: float = num(60.0, gt=0)  # wall clock per candidate evaluation
    memory_mb: int = num(2048, gt=0)  # address space a candidate may add on top of the worker
    max_output_kb: int = num(256, gt=0)  # captured stdout/stderr per candidate
    isolate_network: bool = True  # fresh network namespace when running as root
    drop_privileges: bool = True  # run candidates as an unprivileged user when running as root
    gate: bool = True  # cheap stage first (cascade)


@dataclass
class ArchiveConfig:
    """Where programs are stored."""

    url: str | None = None  # any SQLAlchemy URL; None: sqlite:///<run folder>/archive.sqlite


@dataclass
class Operators:
    """Prior weight of each built-in operator (0 switches it off); a bandit adapts the mix."""

    const_perturb: float = num(1.0, ge=0)  # one numeric literal: relative or absolute step
    op_swap: float = num(0.5, ge=0)  # + - * / exchanged, or min <-> max
    cmp_swap: float = num(0.3, ge=0)  # < <= > >= exchanged
    expr_replace: float = num(1.0, ge=0)  # a value expression -> random expression over scope
    expr_wrap: float = num(1.0, ge=0)  # e -> max(e, x), min(e, x), e * c, e + x, ...
    stmt_delete: float = num(0.2, ge=0)  # an assignment in a loop body removed
    stmt_duplicate: float = num(0.2, ge=0)  # an accumulating statement in a loop body repeated
    feature_add: float = num(0.5, ge=0)  # np.mean/max/min/sum/std of an input, used at a site
    update_gate: float = num(0.5, ge=0)  # an update's effect (v *= e) weighted by a size ramp
    xo_function: float = num(0.3, ge=0)  # crossover: a whole function from an inspiration
    xo_statement: float = num(0.5, ge=0)  # crossover: the right-hand side of a matching statement
    xo_subtree: float = num(0.5, ge=0)  # crossover: any compatible sub-expression
    xo_append: float = num(0.5, ge=0)  # crossover: a mate's update of a value (v *= e), appended
    cmaes: float = num(0.5, ge=0)  # constant tuning (CMA-ES in one sandbox call)
    grow_cmaes: float = num(0.5, ge=0)  # one structural mutation, then its constants tuned
    block_grow: float = num(1.0, ge=0)  # e -> e + c*T, e * (1 + c*T), max/min(e, T); T a block
    block_swap: float = num(0.5, ge=0)  # a scalar sub-expression -> a block (or a template of one)


@dataclass
class Bandit:
    """The operator bandit."""

    window: int = num(200, gt=0)  # only the last N built-in children count (what works drifts)
    prior_n: float = num(4.0, ge=0)  # pseudo-trials at the pooled success rate
    floor: float = num(0.1, ge=0, le=1)  # an operator keeps this fraction of its prior share


class TuneSets(StrEnum):
    """What constant tuning scores on."""

    train = "train"  # what the engine scores (smtt gap 1.91 -> 1.80)
    gate = "gate"  # the cheap stage: overfits tiny instances (smtt 1.91 -> 2.24); slow problems


@dataclass
class Tune:
    """Constant tuning (CMA-ES); its only budget is max_evals (no clock), so runs replay."""

    max_params: int = num(6, gt=0)  # literals lifted per tuning (a random subset beyond)
    max_evals: int = num(64, gt=0)  # objective evaluations per tuning (under evaluator.timeout_s)
    sigma0: float = num(0.3, gt=0)  # initial step, relative to each literal's magnitude
    sets: TuneSets = TuneSets.train
    max_sets: int | None = num(None, gt=0)  # only the first N of those instance sets


@dataclass
class Builtin:
    """The built-in (no-LLM) proposer: AST mutation, crossover, constant tuning."""

    operators: Operators = field(default_factory=Operators)
    bandit: Bandit = field(default_factory=Bandit)
    expr_depth: int = num(2, gt=0)  # depth of random expressions
    const_prob: float = num(0.25, ge=0, le=1)  # chance that a random leaf is a constant
    rel_step: float = num(0.3, ge=0)  # const_perturb: sd of the log-scale (relative) step
    abs_step: float = num(1.0, ge=0)  # const_perturb: sd of the absolute step
    depth_bias: float = num(2.0, ge=0)  # sites inside k loops weigh 1 + depth_bias * k
    key_bias: float = num(3.0, ge=0)  # ... times this when they feed a decision
    max_attempts: int = num(16, gt=0)  # operator applications tried before diff_failed
    seed_blocks: bool = True  # building blocks mined from the problem's seeds (seeds/<problem>/)
    seed_mates: bool = True  # the problem's seeds are crossover mates beside the inspirations
    gate_prob: float = num(0.5, ge=0, le=1)  # xo_append weights the update by a size ramp
    elite_blocks: int = num(3, ge=0)  # blocks also mined from the N best programs of the history
    novelty: bool = True  # reject a child equal to a known program up to algebra, unevaluated
    probe: bool = False  # ... or whose outputs equal its parent's on the gate set (Python run)
    tune: Tune = field(default_factory=Tune)


class ProposerKind(StrEnum):
    """Who proposes children."""

    auto = "auto"  # builtin when no llm.model is configured, llm otherwise
    builtin = "builtin"
    llm = "llm"
    mixed = "mixed"  # llm and builtin, builtin_fraction of the proposals for builtin
    scripted = "scripted"  # replays `programs` in order (tests, demos)


@dataclass
class ProposerConfig:
    """Which proposer(s) and their settings."""

    kind: ProposerKind = ProposerKind.auto
    builtin_fraction: float = num(0.0, ge=0, le=1)  # with an LLM: share left to the mutator
    builtin: Builtin = field(default_factory=Builtin)
    programs: list[str] = field(default_factory=list)  # scripted: files, (i - 1) mod N


@dataclass
class ProblemBase:
    """Keys the engine reads in every problem section (a problem's schema extends this one)."""

    name: str = MISSING  # runs go to runs/<name>/
    target: str = MISSING  # module:Class or file.py:Class
    seed_program: str = MISSING  # seeds/<problem>/<name>.py or a path to a .py file
    preload: list[str] = field(default_factory=list)  # extra modules warm workers import
    # the folder of the problem's yaml under --config-dir (recorded at compose time): a relative
    # `target` or seed is looked for there (and in the config dir) when not in the current folder
    config_dir: str | None = None
    prompt: str = ""  # background for LLM prompts: the text itself or a .md file (see README)

    @staticmethod
    def rules(node: Any) -> str:
        from evolve.config_check import required

        return required(node, ("name", "target", "seed_program"))


class LogLevel(StrEnum):
    """Console log level (run.log always has INFO)."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


@dataclass
class RootConfig:
    """The whole config of `evolve`."""

    problem: Any = MISSING  # a problem's schema (problem=<name>), or an open section (user problem)
    search: SearchConfig = field(default_factory=SearchConfig)
    proposer: ProposerConfig = field(default_factory=ProposerConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)
    resume: str | None = None  # a run folder to continue (its saved config is reused)
    run_dir: str | None = None  # default: runs/<problem name>/<timestamp>
    log_level: LogLevel = LogLevel.INFO
    progress: bool = True  # rich live line on a terminal


def problem_schemas() -> dict[str, type]:
    """ConfigStore name -> schema of every shipped problem (problems/*/schema.py `SCHEMAS`)."""
    import evolve.problems as pkg

    out: dict[str, type] = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        name = f"evolve.problems.{info.name}.schema"
        if info.ispkg and importlib.util.find_spec(name) is not None:
            out.update(importlib.import_module(name).SCHEMAS)
    return out


def schema_for(section: Any) -> type:
    """The schema of a plain problem section: the shipped one with its `target`, else the base."""
    target = section.get("target") if hasattr(section, "get") else None
    for cls in problem_schemas().values():
        default = {f.name: f.default for f in dataclasses.fields(cls)}.get("target")
        if target is not None and default == target:
            return cls
    return ProblemBase


_REGISTERED: list[bool] = []


def register() -> None:
    """Put the schema into Hydra's ConfigStore (once per process)."""
    if _REGISTERED:
        return
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="engine_schema", node=RootConfig)
    for name, cls in problem_schemas().items():
        cs.store(group="schema/problem", name=name, node=cls)
    _REGISTERED.append(True)
