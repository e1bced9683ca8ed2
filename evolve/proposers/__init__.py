"""Proposers: the built-in program mutator (offline default) and the LLM proposer."""

from __future__ import annotations

from typing import Any

from evolve.config import ConfigError
from evolve.proposers.base import ProblemInfo, Proposer


def proposer_kind(proposer_cfg: dict, llm_cfg: dict) -> str:
    """auto -> llm when a model is configured, builtin otherwise."""
    kind = str(proposer_cfg.get("kind", "auto"))
    has_model = bool(llm_cfg.get("model") or llm_cfg.get("models"))
    if kind == "auto":
        return "llm" if has_model else "builtin"
    if kind in ("llm", "mixed") and not has_model:
        raise ConfigError(f"proposer={kind} needs a model: set llm=<preset> or llm.model=<name>")
    if kind not in ("builtin", "llm", "mixed", "scripted"):
        raise ConfigError(f"proposer.kind={kind!r}: choose auto, builtin, llm, mixed or scripted")
    return kind


def make_proposers(proposer_cfg: dict, llm_cfg: dict,
                   info: ProblemInfo) -> list[tuple[Proposer, float]]:
    """(proposer, weight) pairs; the controller picks one per iteration with the run's RNG."""
    kind = proposer_kind(proposer_cfg, llm_cfg)
    if kind == "scripted":
        from evolve.proposers.scripted import ScriptedProposer

        return [(ScriptedProposer(proposer_cfg), 1.0)]
    out: list[tuple[Proposer, float]] = []
    frac = float(proposer_cfg.get("builtin_fraction", 0.0) or 0.0)
    if kind in ("llm", "mixed"):
        from evolve.proposers.llm import LLMProposer

        out.append((LLMProposer(llm_cfg, proposer_cfg, info),
                    1.0 - frac if kind == "mixed" else 1.0))
    if kind == "builtin" or (kind == "mixed" and frac > 0) or (kind == "llm" and frac > 0):
        from evolve.proposers.builtin import BuiltinProposer

        out.append((BuiltinProposer(proposer_cfg, info), 1.0 if kind == "builtin" else frac))
    if kind == "llm" and frac > 0:
        out[0] = (out[0][0], 1.0 - frac)
    return out


__all__: list[Any] = ["ConfigError", "ProblemInfo", "Proposer", "make_proposers", "proposer_kind"]
