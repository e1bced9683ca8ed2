"""`key=value` overrides of the problem section in `evolve-replay` (Hydra's override syntax).

They are applied to the problem section of the replay (the run's, after evolve.trust checked it,
or the shipped config's) and only to keys that section already has: a replay changes how the
problem is set up (e.g. `problem.suite=paper`), never which code is imported, so `problem.name`
and `problem.target` are refused (`--problem NAME --config-dir DIR` chooses another problem).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from evolve.cli.common import CliError

# `problem.x=...`, `+problem.x=...`, `~problem.x`: what the command line hands on as an override
_LOOKS_LIKE = re.compile(r"^[+~]{0,2}[A-Za-z_][\w.\-/@]*(=|$)")
_REFUSED = {
    "problem.target": "the code a replay imports is the run's registered problem",
    "problem.name": "the problem's identity",
}


@dataclass(frozen=True)
class Override:
    """One parsed `problem.key=value`, as typed and as a value."""

    key: str
    value: Any
    text: str


def looks_like_override(arg: str) -> bool:
    return "=" in arg and bool(_LOOKS_LIKE.match(arg))


def parse_overrides(texts: list[str]) -> list[Override]:
    """Parse with Hydra's grammar; one line naming the override for anything a replay refuses."""
    if not texts:
        return []
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    out: list[Override] = []
    for text in texts:
        try:
            ov = parser.parse_overrides([text])[0]
        except HydraException as e:
            first = (str(e).strip().splitlines() or [""])[0]
            raise CliError(f"{text}: not a key=value override ({first})") from None
        key = ov.key_or_group
        if ov.is_delete() or ov.is_add() or ov.is_force_add():
            raise CliError(f"{text}: a replay only changes existing problem keys (plain "
                           f"key=value, no + or ~)")
        if ov.is_sweep_override():
            raise CliError(f"{text}: a replay takes one value per key (sweeps are for "
                           f"`evolve -m`)")
        if key == "problem":
            raise CliError(f"{text}: choose the problem with --problem NAME")
        if not key.startswith("problem."):
            raise CliError(f"{text}: only problem.* keys can be overridden in a replay "
                           f"(e.g. problem.suite=paper)")
        if key in _REFUSED:
            raise CliError(f"{text}: {key} cannot be overridden ({_REFUSED[key]}); use "
                           f"--problem NAME (with --config-dir DIR for your own problems)")
        out.append(Override(key, ov.value(), text))
    return out


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def apply_overrides(section: dict[str, Any], overrides: list[Override]) -> dict[str, Any]:
    """`section` (the problem config) with `overrides` applied: each key must exist there and
    keep its kind (a number stays a number; null accepts anything); the values the problem
    then refuses are reported by its own checks (ProblemError) when it is built."""
    if not overrides:
        return section
    from omegaconf import DictConfig, OmegaConf

    root = OmegaConf.create({"problem": section})
    for o in overrides:
        parent, _, leaf = o.key.rpartition(".")
        node = OmegaConf.select(root, parent)
        # keys(), not `in`: a required key still unset (???) is a key the user may set
        if not isinstance(node, DictConfig) or leaf not in node.keys():  # noqa: SIM118 - see above
            valid = ", ".join(sorted(map(str, node.keys()))) if isinstance(node, DictConfig) \
                else "none"
            raise CliError(f"{o.text}: unknown key {o.key} (valid keys under {parent}: {valid})")
        old = OmegaConf.to_container(root, resolve=True)
        before = _lookup(old, o.key)
        want, got = _kind(before), _kind(o.value)
        if want is not None and got is not None and want != got:
            raise CliError(f"{o.text}: expected {want} (the config has {before!r})")
        OmegaConf.update(root, o.key, o.value, merge=False)
        try:
            OmegaConf.select(root, o.key, throw_on_missing=True)
            resolved = OmegaConf.to_container(root, resolve=True)
        except Exception as e:  # noqa: BLE001 - ${...} interpolations the user typed
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise CliError(f"{o.text}: {first}") from None
    assert isinstance(resolved, dict)
    return dict(resolved["problem"])


def _lookup(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = cfg.get(part) if isinstance(cfg, dict) else None
    return cfg


def describe_overrides(overrides: list[Override]) -> str:
    """`problem.suite=paper, problem.validation_windows=2` for tables and --json."""
    return ", ".join(o.text for o in overrides)
