"""The `llm` config section, validated: models (one or an ensemble), reliability, modes, prompts.

Every key has a default here, so a preset only lists what it changes and `llm=none
llm.model=gpt-4.1-mini` works too. Unknown keys and bad values raise ConfigError naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from evolve.llm.errors import ConfigError

MODES = ("diff", "rewrite", "fix")

# Keys a model entry may set (top level for a single model, or per entry of `models`).
_MODEL_KEYS = ("model", "weight", "api_base", "api_key_env", "temperature", "max_tokens",
               "context_window", "price", "extra")


@dataclass
class ModelSpec:
    """One model the proposer may call: endpoint, key variable, sampling, window and price."""

    model: str
    weight: float = 1.0
    api_base: str | None = None
    api_key_env: str | None = None  # None: no key needed (local servers); a placeholder is sent
    temperature: float | None = 0.7
    max_tokens: int = 4096
    # tokens; None: litellm's price map (check skipped if unknown)
    context_window: int | None = None
    # {"input": usd_per_mtok, "output": usd_per_mtok}; None: litellm's map
    price: dict | None = None
    extra: dict = field(default_factory=dict)  # passed to litellm.acompletion as is


@dataclass
class LLMSettings:
    """The whole `llm` section after validation."""

    models: list[ModelSpec]
    max_cost_usd: float | None = None
    timeout_s: float = 120.0
    retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_reply_chars: int = 100_000
    selection: dict = field(default_factory=lambda: {"strategy": "weights", "ucb_c": 1.0,
                                                     "cost_floor_usd": 0.001})
    modes: dict = field(default_factory=lambda: {"diff": 0.8, "rewrite": 0.2, "fix": 1.0,
                                                 "adapt": True})
    prompt: dict = field(default_factory=lambda: {"max_inspirations": 3, "max_failures": 3,
                                                  "max_feedback_chars": 2000, "template_dir": None,
                                                  "check_code_chars": 6000})
    novelty: dict = field(default_factory=lambda: {"enabled": False, "threshold": 0.95})
    local_server: dict | None = None  # see evolve.llm.local (llm=local)

    @property
    def model_names(self) -> list[str]:
        return [m.model for m in self.models]


def _plain(cfg: Any) -> dict:
    """A plain dict from a dict or an OmegaConf DictConfig."""
    if cfg is None:
        return {}
    if hasattr(cfg, "_metadata"):  # DictConfig without importing omegaconf eagerly
        from omegaconf import OmegaConf

        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dict(cfg)


def _number(key: str, value: Any, kind=float, low: float | None = 0.0, allow_none=False):
    if value is None and allow_none:
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        out = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"llm.{key}={value!r}: expected a {kind.__name__}") from None
    if low is not None and out < low:
        raise ConfigError(f"llm.{key}={value!r}: must be >= {low}")
    return out


def _sub(key: str, value: Any, defaults: dict) -> dict:
    value = _plain(value)
    unknown = sorted(set(value) - set(defaults))
    if unknown:
        raise ConfigError(f"llm.{key}.{unknown[0]}: unknown key (known: {', '.join(defaults)})")
    return {**defaults, **value}


def _model_spec(where: str, entry: Mapping, base: Mapping) -> ModelSpec:
    entry = _plain(entry)
    unknown = sorted(set(entry) - set(_MODEL_KEYS))
    if unknown:
        raise ConfigError(f"llm.{where}.{unknown[0]}: unknown key "
                          f"(known: {', '.join(_MODEL_KEYS)})")
    merged = {k: base[k] for k in _MODEL_KEYS if k in base and k != "weight"}
    merged.update(entry)
    model = merged.get("model")
    if not model or not isinstance(model, str):
        raise ConfigError(f"llm.{where}.model: a litellm model string is required, got {model!r}")
    price = _plain(merged.get("price")) or None
    if price is not None:
        bad = sorted(set(price) - {"input", "output"})
        if bad or not price:
            raise ConfigError(f"llm.{where}.price: expected "
                              f"{{input: usd_per_mtok, output: usd_per_mtok}}")
        price = {k: _number(f"{where}.price.{k}", price.get(k, 0.0)) for k in ("input", "output")}
    spec = ModelSpec(
        model=model,
        weight=_number(f"{where}.weight", merged.get("weight", 1.0)),
        api_base=merged.get("api_base") or None,
        api_key_env=merged.get("api_key_env") or None,
        temperature=_number(f"{where}.temperature", merged.get("temperature", 0.7),
                            allow_none=True),
        max_tokens=_number(f"{where}.max_tokens", merged.get("max_tokens", 4096), int, low=1),
        context_window=_number(f"{where}.context_window", merged.get("context_window"), int, low=1,
                               allow_none=True),
        price=price,
        extra=_plain(merged.get("extra")) or {},
    )
    return spec


def parse_settings(cfg: Any) -> LLMSettings:
    """Validate the `llm` section; raises ConfigError with the offending key."""
    cfg = _plain(cfg)
    defaults = LLMSettings(models=[])
    top_keys = {f.name for f in fields(LLMSettings)} - {"models"}
    known = top_keys | set(_MODEL_KEYS) | {"models"}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ConfigError(f"llm.{unknown[0]}: unknown key")
    entries = cfg.get("models")
    if entries:
        if not isinstance(entries, (list, tuple)):
            raise ConfigError("llm.models: expected a list of {model, weight, ...}")
        models = [_model_spec(f"models[{i}]", e if not isinstance(e, str) else {"model": e}, cfg)
                  for i, e in enumerate(entries)]
    elif cfg.get("model"):
        models = [_model_spec("model", {}, cfg)]
    else:
        raise ConfigError("llm.model is not set (choose a preset: llm=openai, llm=ollama, ...)")
    names = [m.model for m in models]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:  # statistics and the archive's llm_calls are keyed by the model string
        raise ConfigError(f"llm.models: {twice[0]} is listed twice (give each entry its own model "
                          "string)")
    if sum(m.weight for m in models) <= 0:
        raise ConfigError("llm.models: weights sum to 0")
    s = LLMSettings(
        models=models,
        max_cost_usd=_number("max_cost_usd", cfg.get("max_cost_usd"), allow_none=True),
        timeout_s=_number("timeout_s", cfg.get("timeout_s", defaults.timeout_s), low=0.001),
        retries=_number("retries", cfg.get("retries", defaults.retries), int),
        backoff_s=_number("backoff_s", cfg.get("backoff_s", defaults.backoff_s)),
        max_backoff_s=_number("max_backoff_s", cfg.get("max_backoff_s", defaults.max_backoff_s)),
        max_reply_chars=_number("max_reply_chars",
                                cfg.get("max_reply_chars", defaults.max_reply_chars),
                                int, low=1),
        selection=_sub("selection", cfg.get("selection"), defaults.selection),
        modes=_sub("modes", cfg.get("modes"), defaults.modes),
        prompt=_sub("prompt", cfg.get("prompt"), defaults.prompt),
        novelty=_sub("novelty", cfg.get("novelty"), defaults.novelty),
        local_server=_plain(cfg.get("local_server")) or None,
    )
    if s.selection["strategy"] not in ("weights", "ucb"):
        raise ConfigError(f"llm.selection.strategy={s.selection['strategy']!r}: expected weights "
                          "or ucb")
    for k in ("diff", "rewrite", "fix"):
        _number(f"modes.{k}", s.modes[k])
    if s.modes["diff"] + s.modes["rewrite"] <= 0:
        raise ConfigError("llm.modes: diff and rewrite probabilities are both 0")
    if not 0.0 < float(s.novelty["threshold"]) <= 1.0:
        raise ConfigError(f"llm.novelty.threshold={s.novelty['threshold']!r}: expected a value in "
                          "(0, 1]")
    return s
