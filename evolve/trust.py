"""What a run folder may make this process do: import a problem, or open a database.

A run folder is input, not code: it may have been copied from another machine (README) or
crafted. Its `config.yaml` and archive name a problem `target` (`module:Class` or
`file.py:Class`); importing it runs arbitrary code as the user. So a target from a folder is
imported only when it is one of

* a registered problem: the `target` of a problem config shipped in `evolve/conf/problem/`, or
* a problem config in a directory the user passed (`--config-dir DIR`, or `evolve --config-dir`).

`trusted_problem_cfg` is the one place that decides; `evolve-replay`, `evolve-archive export` and
`evolve resume=` call it before anything imports the target. The same goes for the sandbox
switches in a folder's evaluator section (`trusted_limits`) and for `archive_url`
(`folder_archive_url`): a folder may choose numbers, never weaker isolation or a silent
connection to a database the user did not see.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from evolve.config import ConfigError


class UntrustedTarget(ConfigError):
    """A run folder names problem code that neither the package nor the user registered."""


class UntrustedInput(ConfigError):
    """A run folder holds a value this process refuses to act on (one line for the user)."""


def builtin_config_dir() -> Path:
    return Path(str(resources.files("evolve.conf")))


def target_key(target: str, base: Path | None = None) -> str:
    """A comparable form of `target`: a `file.py:Class` path made absolute (relative paths are
    relative to the current folder, where `load_problem_class` would look), or `module:Class`."""
    mod, sep, cls = str(target).rpartition(":")
    if not sep or not mod.endswith(".py"):
        return str(target).strip()
    path = Path(mod).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return f"{path.resolve()}:{cls}"


def _config_target(path: Path, name: str, config_dirs: list[str]) -> str | None:
    """The `target` a problem config file resolves to (None when it names none)."""
    from omegaconf import OmegaConf

    try:
        node = OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}
    except Exception:  # noqa: BLE001 - an unreadable config registers nothing
        return None
    if not isinstance(node, dict):
        return None
    if "defaults" not in node:
        target = node.get("target")
        return str(target) if isinstance(target, str) else None
    # inherits from other configs: let Hydra compose it, exactly as `evolve` would
    from evolve.config import compose, to_dict

    try:
        cfg = to_dict(compose([f"problem={name}"], config_dirs))
    except ConfigError:
        return None
    target = (cfg.get("problem") or {}).get("target")
    return str(target) if isinstance(target, str) else None


def registered_targets(config_dirs: Iterable[str] = ()) -> dict[str, tuple[str, str]]:
    """target_key -> (target as configured, where it is registered), built-ins first."""
    dirs = [str(d) for d in config_dirs]
    found: dict[str, tuple[str, str]] = {}
    roots: list[tuple[Path, str, list[str]]] = ([(builtin_config_dir(), "built-in", [])]
                                                + [(Path(d), d, dirs) for d in dirs])
    for root, label, search in roots:
        for yml in sorted((root / "problem").glob("*.yaml")):
            if yml.stem.startswith("_"):
                continue
            target = _config_target(yml, yml.stem, search)
            if target:
                found.setdefault(target_key(target), (target, f"{label}:{yml.stem}"))
    return found


def trusted_problem_cfg(cfg: Mapping[str, Any], config_dirs: Iterable[str] = (),
                        source: str | Path = "the run folder") -> dict[str, Any]:
    """The problem section to build a problem from, given the one a run folder stores.

    `cfg` is the folder's `problem` section (from config.yaml or the archive). When its `target`
    is registered (a built-in problem config, or a config under one of `config_dirs`, which the
    user passed explicitly), the folder's values are kept with the registered target in its
    absolute form, so the file that is imported is the one that was checked. Otherwise raises
    UntrustedTarget with one line naming `source`, the target and the way out. Nothing is
    imported here.
    """
    out = dict(cfg)
    target = str(out.get("target") or "")
    known = registered_targets(config_dirs)
    hit = known.get(target_key(target)) if target else None
    if hit is None:
        raise UntrustedTarget(
            f"run folder {source} names problem target {target!r}, which is not a registered "
            f"problem; pass --config-dir <dir with its config> to trust it")
    configured = hit[0]
    out["target"] = target_key(configured) if configured.rpartition(":")[0].endswith(".py") \
        else configured
    return out


# Sandbox limits a folder may set: sizes and times only. The isolation switches
# (isolate_network, drop_privileges, hide) and anything unknown keep the engine's defaults.
_FOLDER_LIMITS = {"timeout_s": float, "memory_mb": int, "max_output_kb": int, "max_result_mb": int}


def trusted_limits(evaluator_cfg: Mapping[str, Any] | None,
                   source: str | Path = "the run folder") -> dict[str, Any]:
    """The numeric sandbox limits of a folder's `evaluator` section, checked to be positive."""
    out: dict[str, Any] = {}
    for key, typ in _FOLDER_LIMITS.items():
        value = (evaluator_cfg or {}).get(key)
        if value is None:
            continue
        try:
            cast = typ(value)
            ok = not isinstance(value, bool) and math.isfinite(cast) and cast > 0
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise UntrustedInput(f"run folder {source}: evaluator.{key}={value!r} is not a "
                                 f"positive number")
        out[key] = cast
    return out


def masked_url(url: str) -> str:
    """`url` with its password hidden, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL: show nothing that could be a secret
        return "<unparseable URL>"


def folder_archive_url(folder: str | Path) -> str | None:
    """The database URL a folder's `archive_url` file names (None when it has none), checked:
    it must parse, and an SQLite file must already exist (opening would create one anywhere).
    Callers must tell the user which URL they connect to (see `masked_url`)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    path = Path(folder) / "archive_url"
    if not path.exists():
        return None
    try:
        url = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise UntrustedInput(f"{path}: cannot read ({e})") from None
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise UntrustedInput(f"{path}: not a database URL") from None
    if parsed.drivername.startswith("sqlite"):
        db = parsed.database or ""
        if db in ("", ":memory:") or not Path(db).is_file():
            raise UntrustedInput(f"{path}: names SQLite database {db or '(none)'!r}, which does "
                                 f"not exist")
    return url
