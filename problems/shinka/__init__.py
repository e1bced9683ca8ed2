"""Runs an unmodified ShinkaEvolve evaluation script (`main(program_path, results_dir)`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .problem import ShinkaProblem


def __getattr__(name: str) -> Any:
    # lazy, so that importing .schema (Hydra's ConfigStore at start-up) stays light
    if name == "ShinkaProblem":
        from .problem import ShinkaProblem

        return ShinkaProblem
    raise AttributeError(name)


__all__ = ["ShinkaProblem"]
