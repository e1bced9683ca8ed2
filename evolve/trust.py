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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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


# Config keys naming a file the trusted side imports or runs besides the `target` (the OpenEvolve
# and ShinkaEvolve adapters' evaluator, and the initial program their warm-up evaluates).
CODE_KEYS = ("evaluator", "eval_program", "initial_program")


def resolve_file(value: str, bases: Sequence[Path] = (), cwd_first: bool = True) -> Path:
    """The absolute file a relative `value` names: the first that exists of the current folder
    and `bases` (the config's folders), in that order or the reverse; else under the first."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path.resolve()
    order = [Path.cwd(), *bases] if cwd_first else [*bases, Path.cwd()]
    for base in order:
        if (base / path).exists():
            return (base / path).resolve()
    return (order[1] if cwd_first and bases else order[0]).joinpath(path).resolve()


def is_file_target(target: str) -> bool:
    return str(target).rpartition(":")[0].endswith(".py")


def target_key(target: str, bases: Sequence[Path] = ()) -> str:
    """A comparable form of `target`: a `file.py:Class` path made absolute where
    `load_problem_class` would find it (the current folder, then `bases`: the config's
    folders), or `module:Class` as it is."""
    if not is_file_target(target):
        return str(target).strip()
    mod, _, cls = str(target).rpartition(":")
    return f"{resolve_file(mod, bases)}:{cls}"


def config_bases(section: Mapping[str, Any]) -> tuple[Path, ...]:
    """The folders relative paths of a problem section start from: its yaml's folder (recorded
    as `config_dir`) and the config directory above it (as evolve.problem.config_folders)."""
    d = section.get("config_dir")
    if not isinstance(d, str) or not d:
        return ()
    return (Path(d), Path(d).parent)


def _code_files(section: Mapping[str, Any], bases: Sequence[Path]) -> dict[str, Path]:
    """CODE_KEYS set in `section` -> the file each names (relative: from the config first)."""
    out = {}
    for key in CODE_KEYS:
        value = section.get(key)
        if isinstance(value, str) and value and value != "???":
            out[key] = resolve_file(value, bases, cwd_first=False)
    return out


@dataclass(frozen=True)
class Registered:
    """A problem config the package ships or the user passed: what it lets a folder import."""

    target: str  # as configured
    key: str  # target_key: the file (or module) it imports
    where: str  # "built-in:smtt", "<dir>:<name>"
    folder: Path | None  # the yaml's folder for a user config (relative paths start there)
    code: dict[str, Path] = field(default_factory=dict)  # CODE_KEYS -> file
    raw: dict[str, str] = field(default_factory=dict)  # CODE_KEYS -> as configured


def _config_section(path: Path, name: str, config_dirs: list[str]) -> dict | None:
    """The problem section a problem config file composes to (None when unreadable)."""
    from omegaconf import OmegaConf

    try:
        node = OmegaConf.to_container(OmegaConf.load(path), resolve=False) or {}
    except Exception:  # noqa: BLE001 - an unreadable config registers nothing
        return None
    if not isinstance(node, dict):
        return None
    if "defaults" not in node:
        return node
    # inherits from other configs: let Hydra compose it, exactly as `evolve` would
    from evolve.config import compose, to_dict

    try:
        cfg = to_dict(compose([f"problem={name}"], config_dirs))
    except ConfigError:
        return None
    section = cfg.get("problem")
    return section if isinstance(section, dict) else None


def registrations(config_dirs: Iterable[str] = ()) -> list[Registered]:
    """Every registered problem config, built-ins first."""
    dirs = [str(d) for d in config_dirs]
    found: list[Registered] = []
    roots: list[tuple[Path, str, list[str], bool]] = (
        [(builtin_config_dir(), "built-in", [], False)]
        + [(Path(d), d, dirs, True) for d in dirs])
    for root, label, search, user in roots:
        for yml in sorted((root / "problem").glob("*.yaml")):
            if yml.stem.startswith("_"):
                continue
            section = _config_section(yml, yml.stem, search)
            target = (section or {}).get("target")
            if not isinstance(target, str) or not target:
                continue
            folder = yml.parent.resolve() if user else None
            bases = (folder, folder.parent) if folder else ()
            raw = {k: v for k in CODE_KEYS
                   if isinstance(v := (section or {}).get(k), str) and v and v != "???"}
            found.append(Registered(target, target_key(target, bases), f"{label}:{yml.stem}",
                                    folder, _code_files(raw, bases), raw))
    return found


def registered_targets(config_dirs: Iterable[str] = ()) -> dict[str, tuple[str, str]]:
    """target_key -> (target as configured, where it is registered), built-ins first."""
    found: dict[str, tuple[str, str]] = {}
    for r in registrations(config_dirs):
        found.setdefault(r.key, (r.target, r.where))
    return found


def _match(target: str, section: Mapping[str, Any], known: list[Registered]) -> Registered | None:
    """The registration a folder's target names: the same file (a relative one resolved from the
    folder's own config folder, then the current one), else, for a folder copied from elsewhere,
    the same relative text a registered config has (its file is the one imported)."""
    key = target_key(target, config_bases(section))
    hits = [r for r in known if r.key == key]
    if not hits and is_file_target(target) and not Path(target).expanduser().is_absolute():
        hits = [r for r in known if r.folder is not None and r.target == target]
    named = [r for r in hits if r.where.rpartition(":")[2] == section.get("name")]
    return (named or hits)[0] if hits else None


def trusted_problem_cfg(cfg: Mapping[str, Any], config_dirs: Iterable[str] = (),
                        source: str | Path = "the run folder",
                        given: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The problem section to build a problem from, given the one a run folder stores.

    `cfg` is the folder's `problem` section (from config.yaml or the archive). When its `target`
    is registered (a built-in problem config, or a config under one of `config_dirs`, which the
    user passed explicitly), the folder's values are kept with the registered target in its
    absolute form, so the file that is imported is the one that was checked; a user config's
    folder replaces the folder's `config_dir`. The same holds for the files CODE_KEYS name: each
    must be named by a registered config, or be in `given` (paths the user typed for this
    command). Otherwise raises UntrustedTarget with one line naming `source`, the value and the
    way out. Nothing is imported here.
    """
    out = dict(cfg)
    target = str(out.get("target") or "")
    known = registrations(config_dirs)
    hit = _match(target, out, known) if target else None
    if hit is None:
        raise UntrustedTarget(
            f"run folder {source} names problem target {target!r}, which is not a registered "
            f"problem; pass --config-dir <dir with its config> to trust it")
    out["target"] = hit.key
    bases = config_bases(out)
    if hit.folder is not None and "config_dir" in out:
        out["config_dir"] = str(hit.folder)
    # configs of the same problem class (the named one first) register its code files
    same = [hit] + [r for r in known if r.key == hit.key and r is not hit]
    for key, path in _code_files(out, bases).items():
        typed = (given or {}).get(key)
        named = [r.code[key] for r in same if key in r.code
                 and (r.code[key] == path or r.raw[key] == out.get(key))]
        if typed:
            out[key] = str(resolve_file(typed))
        elif named:
            out[key] = str(named[0])
        else:
            raise UntrustedTarget(
                f"run folder {source} names problem.{key}={out.get(key)!r}, code that no "
                f"registered problem config names; pass --config-dir <dir with its config>, "
                f"or problem.{key}=<path> to trust that file")
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
    path = Path(folder) / "archive_url"
    if not path.exists():
        return None
    try:
        url = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise UntrustedInput(f"{path}: cannot read ({e})") from None
    try:
        db = missing_sqlite(url)
    except ValueError:
        raise UntrustedInput(f"{path}: not a database URL") from None
    if db is not None:
        raise UntrustedInput(f"{path}: names SQLite database {db or '(none)'!r}, which does "
                             f"not exist")
    return url


def missing_sqlite(url: str) -> str | None:
    """The database of an SQLite `url` whose file does not exist ("" when it names none), else
    None; ValueError when `url` does not parse. Connecting would create that file anywhere."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError(url) from None
    if not parsed.drivername.startswith("sqlite"):
        return None
    db = parsed.database or ""
    return None if db not in ("", ":memory:") and Path(db).is_file() else db
