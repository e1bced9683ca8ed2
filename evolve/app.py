"""`evolve`: the Hydra application that launches runs and sweeps, or resumes a run.

    evolve problem=smtt search.iterations=300          # one run in runs/smtt/<timestamp>
    evolve -m problem.seed_program=edd,mdd search.seed=0,1,2   # a sweep: 6 runs
    evolve -m hydra/launcher=joblib search.seed=0,1,2  # ... in parallel (or hydra/launcher=ray)
    evolve hydra.run.dir=my_runs/first                 # the run folder (alias: run_dir=)
    evolve resume=runs/smtt/2026-11-23_10-00-00 search.iterations=500
    evolve resume=runs/smtt                            # the newest run there (`latest`)
    evolve --cfg job problem=smtt                      # print the config (--show: resolved)
    evolve --config-dir my_conf problem=my_problem     # add config groups / choices
    evolve --help | --hydra-help | --info | -sc install=bash

Hydra's own command line (`hydra.main` machinery, its argument parser, sweeper and launcher
plugins); on top of it: every job's config is checked before any job starts or any folder is
made, mistakes are one line with exit code 2, and the exit code is the session's (0, 1 failed,
2 config, 130 interrupted; a sweep: the first failed job's).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from omegaconf import OmegaConf

from evolve.config import ConfigError, register, validate
from evolve.hydra_app import (
    FolderRefused,
    JobFailed,
    State,
    link_latest,
    setup_logging,
    sweep_summary,
    task,
)
from evolve.preflight import check_jobs, job_overrides, sweeper_params
from evolve.resume import resume_config, resume_folder, trust_folder

CONFIG_MODULE, CONFIG_NAME = "pkg://evolve.conf", "config"


def _parser():
    """Hydra's own argument parser, with one-line errors instead of argparse's usage block."""
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()
    parser.prog = "evolve"

    def error(message: str):
        raise ConfigError(f"{message} (see evolve --help)")

    parser.error = error
    return parser


def _rewrite(argv: list[str]) -> list[str]:
    """`--show` is `--cfg job --resolve`; `run_dir=X` is `hydra.run.dir=X`; see the Ray note."""
    out: list[str] = []
    for a in argv:
        if a == "--show":
            out += ["--cfg", "job", "--resolve"]
        elif a.startswith("run_dir="):
            State.run_dir_key = "run_dir"
            out.append("hydra.run.dir=" + a.split("=", 1)[1])
        else:
            out.append(a)
    # hydra-ray-launcher sets a default object store size, which ray.init() refuses when it
    # joins a running cluster: name the cluster, and no size is asked for
    if any(a.startswith("hydra.launcher.ray.init.address=") for a in out) and \
            not any("ray.init.object_store_memory=" in a for a in out):
        out.append("+hydra.launcher.ray.init.object_store_memory=null")
    return out


def _start_workers(cfg) -> None:
    """The run's local workers start their problem-free warm-up now (evolve.prelaunch)."""
    from evolve import prelaunch

    try:
        prelaunch.start(cfg)
    except (OSError, ValueError) as e:  # the pool starts its own workers later
        print(f"evolve: could not start workers early ({e})", file=sys.stderr)


def _resume(args, spec: str) -> int:
    """Continue a run in its own folder (not a Hydra job: nothing new is created)."""
    if args.multirun:
        raise ConfigError("resume= continues one run; it cannot be combined with --multirun")
    folder = resume_folder(spec)
    overrides = [o for o in args.overrides if not o.startswith("resume=")]
    dirs = [args.config_dir] if args.config_dir else []
    cfg = resume_config(folder, overrides)
    trust_folder(cfg, folder, dirs, overrides)
    validate(cfg)
    if args.cfg:
        print(OmegaConf.to_yaml(cfg, resolve=True))
        return 0
    _start_workers(cfg)
    from evolve.session import run_session

    return asyncio.run(run_session(cfg, True, lambda _cfg: folder, link_latest, setup_logging))


def _hydra(args, parser) -> int:
    """Run Hydra's own dispatch (run, multirun, --cfg, --help, --info, completion)."""
    from hydra._internal.utils import _run_hydra

    shows = args.help or args.hydra_help or args.info or args.shell_completion
    if not shows:
        params = sweeper_params(args.config_name, args.config_dir, args.overrides) \
            if args.multirun and args.config_name else {}
        jobs = job_overrides(args.overrides, args.multirun, params)
        cfgs = check_jobs(jobs, args.config_name, args.config_dir, seeds=not args.cfg)
        if not args.multirun and not args.cfg and len(cfgs) == 1:
            _start_workers(cfgs[0])
    State.launcher_pid, State.exit_code, State.sweep_dir = os.getpid(), None, None
    # Hydra prints a traceback and a HYDRA_FULL_ERROR hint for any error; with the variable set
    # it re-raises instead, and main() turns the error into one line
    saved = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    failed: JobFailed | None = None
    try:
        register()  # the schemas, before Hydra composes anything (--info, --cfg, the job)
        _run_hydra(args=args, args_parser=parser, task_function=task,
                   config_path=CONFIG_MODULE, config_name=CONFIG_NAME)
    except JobFailed as e:
        failed = e
    except KeyboardInterrupt:
        if State.sweep_dir is None:
            raise
        print("evolve: interrupted", file=sys.stderr)
        failed = JobFailed(130, str(State.sweep_dir))
    finally:
        if saved is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = saved
    if State.sweep_dir is not None:
        return _summarize(State.sweep_dir, failed)
    return State.exit_code or 0


def _summarize(sweep_dir: Path, failed: JobFailed | None) -> int:
    lines = sweep_summary(sweep_dir)
    print(f"sweep folder: {sweep_dir}  ({len(lines)} jobs)")
    for line, _status in lines:
        print(line)
    if failed is not None:
        return failed.code
    return 1 if any(status in ("failed", "no run") for _, status in lines) else 0


def _one_line(e: BaseException) -> str:
    """Hydra's message on one line (an unknown hydra/... choice names the valid ones)."""
    from hydra.errors import MissingConfigException

    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, MissingConfigException) and "Could not find '" in text:
        bad = text.split("Could not find '")[1].split("'")[0]
        group, _, name = bad.rpartition("/")
        choices = ", ".join(sorted(o for o in (e.options or []) if not o.startswith("_")))
        return f"unknown {group} '{name}' (valid {group} choices: {choices or 'none'})"
    return text.split(" Set the environment variable HYDRA_FULL_ERROR")[0][:500]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        parser = _parser()
        args = parser.parse_intermixed_args(_rewrite(argv))
        resume = next((o.split("=", 1)[1] for o in args.overrides if o.startswith("resume=")),
                      None)
        if resume and not (args.help or args.hydra_help or args.info or args.shell_completion):
            return _resume(args, resume)
        return _hydra(args, parser)
    except (ConfigError, FolderRefused) as e:
        print(f"evolve: error: {e}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("evolve: interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:  # --help, --version
        return e.code if isinstance(e.code, int) else 0
    except Exception as e:
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException

        if isinstance(e, (HydraException, OmegaConfBaseException, ValueError)):
            print(f"evolve: error: {_one_line(e)}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
