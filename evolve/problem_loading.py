"""Loading a problem from its config: the `target` class (a module or a file), its folders."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evolve.problem import Problem, ProblemError


def _target_file(target: str, path: Path, search: tuple[Path, ...]) -> Path:
    """`path` as given when it exists from the current folder, else the first match under the
    config's folders (where the user's yaml lives)."""
    if path.is_absolute() or path.exists():
        return path
    for base in search:
        if (base / path).exists():
            return base / path
    where = ", ".join(str(b) for b in search)
    raise ProblemError(f"problem.target={target!r}: file {path} not found"
                       + (f" (looked in the current folder and {where})" if where else ""))


def load_problem_class(target: str, search: tuple[Path, ...] = ()):
    """Import `module:Class` or `path/to/file.py:Class`; a relative file is looked for in the
    current folder, then in `search` (the config's folders). The file's folder goes on the
    import path so that a problem may import its own helper modules (in the workers too)."""
    mod_name, _, cls_name = target.rpartition(":")
    if not mod_name or not cls_name:
        raise ProblemError(f"problem.target={target!r}: expected 'module:Class' or 'file.py:Class'")
    if mod_name.endswith(".py"):
        path = _target_file(target, Path(mod_name), search).resolve()
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        key = f"_evolve_problem_{path.stem}"
        if key in sys.modules:
            module = sys.modules[key]
        else:
            spec = importlib.util.spec_from_file_location(key, path)
            if spec is None or spec.loader is None:
                raise ProblemError(f"problem.target={target!r}: {path} is not a Python module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[key] = module
            try:
                spec.loader.exec_module(module)
            except Exception as e:  # noqa: BLE001 - any import error is the user's, one line
                del sys.modules[key]
                raise ProblemError(f"problem.target={target!r}: importing {path} failed: "
                                   f"{type(e).__name__}: {e}") from None
    else:
        module = importlib.import_module(mod_name)
    try:
        return getattr(module, cls_name)
    except AttributeError:
        raise ProblemError(f"problem.target={target!r}: {mod_name} has no {cls_name}") from None


def config_folders(cfg: Mapping[str, Any]) -> tuple[Path, ...]:
    """The folders a relative `target` or seed is looked for in: the folder of the problem's
    yaml (recorded as `config_dir` at compose time) and the config directory above it."""
    d = cfg.get("config_dir")
    if not d:
        return ()
    folder = Path(str(d))
    return (folder, folder.parent)


def config_dir_of(choice: str | None, config_dirs: Any) -> str | None:
    """The folder of `<dir>/problem/<choice>.yaml` in the first user config dir that has it
    (what `config_dir` records; None for a built-in problem)."""
    if not choice:
        return None
    for d in config_dirs or ():
        yml = Path(str(d)).expanduser() / "problem" / f"{choice}.yaml"
        if yml.is_file():
            return str(yml.parent.resolve())
    return None


def record_config_dir(composed: Any, choice: str | None, config_dirs: Any) -> None:
    """Record in a composed config where its problem yaml came from (`problem.config_dir`), so
    that relative targets and seeds resolve against it whatever the current folder is."""
    from omegaconf import open_dict

    folder = config_dir_of(choice, config_dirs)
    if folder and "problem" in composed and not composed.problem.get("config_dir"):
        with open_dict(composed):
            composed.problem.config_dir = folder


def _own_jit_setting(cls: type) -> bool:
    return any("jit_entry" in vars(c) for c in cls.__mro__ if c is not Problem)


def make_problem(cfg: Mapping[str, Any]) -> Problem:
    """Build a problem from its config section (`target` names the class).

    An outside problem (a `file.py:Class` target) that does not set `jit_entry` itself runs its
    candidates as plain Python: ordinary programs (np.random, helper functions, dicts) would not
    compile with numba, and a problem that wants numba says so with `jit_entry = True`."""
    cfg = dict(cfg)
    search = config_folders(cfg)
    target = str(cfg.get("target", ""))
    cls = load_problem_class(target, search)
    keep = getattr(cls, "reads_config_dir", False)  # resolves its own paths from the yaml
    problem = cls({k: v for k, v in cfg.items() if keep or k != "config_dir"})
    if target.rpartition(":")[0].endswith(".py"):
        if not _own_jit_setting(cls):
            problem.jit_entry = False
        home = Path(sys.modules[cls.__module__].__file__ or ".").resolve().parent
        problem.source_dirs = (*search, home)
    return problem
