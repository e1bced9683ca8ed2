"""Before Hydra starts: the jobs a command line makes (comma lists, `hydra.sweeper.params`)
are composed and checked one by one, so that a bad value in any job starts none."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from evolve.config import ConfigError, compose, to_dict, validate


def job_overrides(overrides: list[str], multirun: bool, params: dict | None = None) \
        -> list[list[str]]:
    """The engine overrides of each job Hydra's basic sweeper will launch (hydra.* left out; the
    comma lists and `hydra.sweeper.params` expanded the way the sweeper does it)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    engine = [o for o in overrides if not o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    if not multirun:
        return [engine]
    swept = [f"{k}={v}" for k, v in (params or {}).items()]
    for o in overrides:
        key, _, value = o.lstrip("+").partition("=")
        if key.startswith("hydra.sweeper.params."):
            swept.append(f"{key.removeprefix('hydra.sweeper.params.')}={_unquote(value)}")
    parsed = OverridesParser.create().parse_overrides(swept + engine)
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def _unquote(value: str) -> str:
    """`'0,1,2'` -> `0,1,2`: a quoted params value is the sweep itself."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _compose(overrides: list[str], config_name: str | None, dirs: list[str],
             hydra_node: bool = False) -> DictConfig:
    """evolve.config.compose (its one-line errors), or a user's primary config (-cn NAME)."""
    if config_name is None and not hydra_node:
        return compose(overrides, dirs)
    from hydra._internal.hydra import Hydra
    from hydra._internal.utils import create_automatic_config_search_path
    from hydra.core.config_search_path import SearchPathQuery
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    # the search path _run_hydra builds: evolve.conf, and --config-dir before it
    path = create_automatic_config_search_path(None, None, "pkg://evolve.conf")
    for d in dirs:
        path.prepend(provider="command-line", path=f"file://{Path(d).resolve()}",
                     anchor=SearchPathQuery(provider="schema"))
    GlobalHydra.instance().clear()
    try:
        hydra = Hydra.create_main_hydra2(task_name="evolve", config_search_path=path)
        # `composed` holds Hydra's own `hydra` node next to the engine's sections
        composed = hydra.compose_config(config_name or "config", overrides,
                                        run_mode=RunMode.RUN, with_log_configuration=False)
        if not hydra_node:
            with read_write(composed), open_dict(composed):
                del composed["hydra"]
        return composed
    finally:
        GlobalHydra.instance().clear()


def sweeper_params(config_name: str, config_dir: str | None, overrides: list[str]) -> dict:
    """`hydra.sweeper.params` of a user's primary config (`--config-dir DIR -cn NAME`)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    fixed = [o.input_line for o in OverridesParser.create().parse_overrides(overrides)
             if not o.is_sweep_override() and o.input_line is not None]
    cfg = _compose(fixed, config_name, [config_dir] if config_dir else [], hydra_node=True)
    params = OmegaConf.select(cfg, "hydra.sweeper.params", default=None)
    return {str(k): str(v) for k, v in params.items()} if isinstance(params, DictConfig) else {}


def check_jobs(jobs: list[list[str]], config_name: str | None, config_dir: str | None,
               seeds: bool) -> list[DictConfig]:
    """Compose and validate every job (and find its seed program) before any job starts;
    -> the jobs' configs."""
    from hydra.errors import HydraException

    from evolve.problem import record_config_dir

    dirs = [config_dir] if config_dir else []
    common = set.intersection(*(set(j) for j in jobs)) if jobs else set()
    out = []
    for i, job in enumerate(jobs):
        try:
            cfg = _compose(job, config_name, dirs)
            choice = next((o.split("=", 1)[1] for o in reversed(job)
                           if o.lstrip("+").startswith("problem=")), None)
            record_config_dir(cfg, choice, dirs)
            validate(cfg)
            if seeds:
                _check_seed(cfg)
            out.append(cfg)
        except (ConfigError, HydraException) as e:
            text = " ".join(str(e).split())
            which = " ".join(o for o in job if o not in common)
            raise ConfigError(f"job #{i} ({which}): {text}" if len(jobs) > 1 else text) \
                from None
    return out


def _check_seed(cfg: DictConfig) -> None:
    """The seed program must exist (a typo in one sweep value must not start the others)."""
    from evolve.problem import ProblemError, make_problem
    from evolve.session import ENGINE_PROBLEM_KEYS

    problem_cfg = to_dict(cfg.problem)
    try:
        problem = make_problem({k: v for k, v in problem_cfg.items()
                                if k not in ENGINE_PROBLEM_KEYS})
        problem.seed_path(str(problem_cfg.get("seed_program", "")))
    except ProblemError as e:
        raise ConfigError(str(e)) from None
