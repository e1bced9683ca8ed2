"""A stand-in for `openevolve.evaluation_result` when OpenEvolve is not installed: evaluators
written for OpenEvolve import `EvaluationResult` from it. Written after OpenEvolve's documented
contract (metrics: dict of numbers, artifacts: dict of texts), not copied from it."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from dataclasses import dataclass, field
from typing import Any


@dataclass
class EvaluationResult:
    """What an OpenEvolve evaluator may return instead of a plain metrics dict."""

    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, metrics: dict[str, Any]) -> EvaluationResult:
        return cls(metrics=dict(metrics))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.metrics)

    def has_artifacts(self) -> bool:
        return bool(self.artifacts)


def importable(name: str) -> bool:
    """The real package (a folder of that name in the current directory does not count)."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        return False
    return getattr(module, "__file__", None) is not None


def install() -> None:
    """Register the stand-in modules unless the real package is importable."""
    if importable("openevolve.evaluation_result"):
        return
    pkg = types.ModuleType("openevolve")
    pkg.__path__ = []  # a package, so that `import openevolve.evaluation_result` works
    mod = types.ModuleType("openevolve.evaluation_result")
    mod.EvaluationResult = EvaluationResult  # type: ignore[attr-defined]
    pkg.evaluation_result = mod  # type: ignore[attr-defined]
    sys.modules["openevolve"] = pkg
    sys.modules["openevolve.evaluation_result"] = mod
