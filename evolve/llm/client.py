"""One model behind the openai SDK or litellm: timeout, retries with backoff and jitter, size
cap, cost.

OpenAI-compatible endpoints (`openai/<model>`: local servers, the OpenAI API) are called with the
openai SDK, everything else with litellm.acompletion (`llm.client` chooses explicitly): importing
litellm takes about 5 s, which every run with a local server paid before its first request.
Prices and context windows come from litellm's price map either way (evolve.llm.pricemap).

`complete()` never raises for a failed call: the error is in the returned Completion, with the
number of attempts, so the archive can store failed calls next to good ones.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import random
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from evolve.llm import pricemap
from evolve.llm.errors import ConfigError
from evolve.llm.settings import ModelSpec

log = logging.getLogger(__name__)

_LITELLM = None
# Status codes worth another try: rate limits, server-side failures, request timeouts.
_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}


def litellm():
    """The litellm module, imported on first use (the import takes seconds)."""
    global _LITELLM
    if _LITELLM is None:
        # Use the price map shipped with litellm instead of fetching it at import time: runs must
        # not depend on the network for anything but the model calls themselves.
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        # litellm's types make pydantic warn (lazily, at the first call) about ReadOnly items.
        warnings.filterwarnings("ignore", message=r".*using the `ReadOnly` qualifier",
                                category=UserWarning)
        import litellm as _mod

        # one INFO line per call otherwise
        for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
            logging.getLogger(name).setLevel(logging.WARNING)
        _mod.suppress_debug_info = True
        _mod.telemetry = False
        _mod.disable_hf_tokenizer_download = True  # token counts fall back to tiktoken, offline
        _LITELLM = _mod
    return _LITELLM


def transport(spec: ModelSpec) -> str:
    """"openai" or "litellm": `llm.client`, or for `auto` the openai SDK for `openai/` models."""
    if spec.client != "auto":
        return str(spec.client)
    return "openai" if spec.model.startswith("openai/") else "litellm"


def preload(transports: set[str]) -> None:
    """Import the call libraries in a thread: it overlaps the workers' warm-up and the seed's
    evaluation instead of delaying the first request."""
    loaders: dict[str, Callable[[], object]] = {
        "openai": lambda: importlib.import_module("openai"), "litellm": litellm,
        "tokenizer": lambda: pricemap.count_text("")}
    for name in sorted(transports) + ["tokenizer"]:
        threading.Thread(target=loaders[name], daemon=True, name=f"evolve-import-{name}").start()


@dataclass
class Completion:
    """What one logical call returned: text or error, usage, cost, latency and attempts."""

    text: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    attempts: int = 1
    error: str | None = None
    finish_reason: str | None = None


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError)):
        return True
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status in _RETRY_STATUS
    # Connection-level errors of openai/httpx carry no status code.
    return any(c.__name__ in ("APIConnectionError", "APITimeoutError", "Timeout", "ConnectError",
                              "ReadTimeout", "RemoteProtocolError") for c in type(exc).__mro__)


def _describe(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {msg}"[:600]


def _retry_after(exc: BaseException) -> float | None:
    """Seconds asked for by a Retry-After header, when the error carries one."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    try:
        value = headers.get("retry-after") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class LLMClient:
    """Calls one model (openai SDK or litellm) with the reliability settings of the `llm`
    section."""

    def __init__(self, spec: ModelSpec, timeout_s: float, retries: int, backoff_s: float,
                 max_backoff_s: float, max_reply_chars: int, seed: int | None = None):
        self.spec = spec
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_reply_chars = max_reply_chars
        self._jitter = random.Random(seed)  # jitter only spreads retries; it never changes results
        self._warned_price = False
        self.transport = transport(spec)
        self._sdk: tuple[Any, Any] | None = None  # (event loop, openai.AsyncOpenAI) last used

    # ---- start-up checks ------------------------------------------------------------------
    def api_key(self) -> str:
        env = self.spec.api_key_env
        if env is None:
            # Local OpenAI-compatible servers ignore the key, but the openai client wants one.
            return "sk-no-key-required"
        key = os.environ.get(env)
        if not key:
            raise ConfigError(f"{env} is not set: export it to call {self.spec.model} "
                              f"(or choose another llm preset)")
        return key

    def context_window(self) -> int | None:
        """Input tokens the model accepts: the config value, else litellm's price map."""
        if self.spec.context_window:
            return self.spec.context_window
        info = pricemap.entry(self.spec.model) or {}
        win = info.get("max_input_tokens") or info.get("max_tokens")
        return int(win) if win else None

    def count_tokens(self, messages: list[dict], remember: bool = False) -> int:
        """Prompt tokens; `remember`: look the count up in (and add it to) the user's cache."""
        if remember:
            return pricemap.count_messages_cached(messages)
        return pricemap.count_messages(messages)

    # ---- calling --------------------------------------------------------------------------
    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for one call: the configured price, else litellm's map, else 0 (warned once)."""
        if self.spec.price is not None:
            return (prompt_tokens * self.spec.price["input"]
                    + completion_tokens * self.spec.price["output"]) / 1e6
        info = pricemap.entry(self.spec.model) or {}
        price_in, price_out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
        if isinstance(price_in, (int, float)) and isinstance(price_out, (int, float)):
            return prompt_tokens * float(price_in) + completion_tokens * float(price_out)
        if not self._warned_price:
            self._warned_price = True
            log.warning("no price known for %s in litellm's price map; its calls count as $0: "
                        "set llm.price", self.spec.model)
        return 0.0

    def _kwargs(self, messages: list[dict]) -> dict:
        kw: dict[str, Any] = dict(
            model=self.spec.model,
            messages=messages,
            max_tokens=self.spec.max_tokens,
            timeout=self.timeout_s,
            api_key=self.api_key(),
            max_retries=0,  # retries are ours (backoff + jitter, counted in attempts)
            num_retries=0,
            drop_params=True,  # providers that reject e.g. temperature get the call without it
        )
        if self.spec.temperature is not None:
            kw["temperature"] = self.spec.temperature
        if self.spec.api_base:
            kw["api_base"] = self.spec.api_base
        kw.update(self.spec.extra)
        return kw

    def _delay(self, attempt: int, exc: BaseException) -> float:
        base = min(self.max_backoff_s, self.backoff_s * (2 ** (attempt - 1)))
        asked = _retry_after(exc)
        if asked is not None and asked <= self.max_backoff_s:
            base = max(base, asked)
        return base * self._jitter.uniform(0.5, 1.5)

    def _sdk_client(self) -> Any:
        """The openai SDK client of the running event loop (its HTTP pool belongs to one loop)."""
        loop = asyncio.get_running_loop()
        if self._sdk is None or self._sdk[0] is not loop:
            import openai

            sdk = openai.AsyncOpenAI(api_key=self.api_key(), base_url=self.spec.api_base or None,
                                     max_retries=0, timeout=self.timeout_s)
            self._sdk = (loop, sdk)
        return self._sdk[1]

    def _sdk_call(self, messages: list[dict]) -> Any:
        """chat.completions.create with the same arguments litellm would send; `extra` keys the
        SDK does not name go in the request body."""
        client = self._sdk_client()
        kw: dict[str, Any] = dict(model=self.spec.model.removeprefix("openai/"), messages=messages,
                                  max_tokens=self.spec.max_tokens, timeout=self.timeout_s)
        if self.spec.temperature is not None:
            kw["temperature"] = self.spec.temperature
        named = _sdk_parameters()
        body = {k: v for k, v in self.spec.extra.items() if k not in named}
        kw.update({k: v for k, v in self.spec.extra.items() if k in named})
        if body:
            kw["extra_body"] = {**kw.get("extra_body", {}), **body}
        return client.chat.completions.create(**kw)

    def _call(self, messages: list[dict]) -> Any:
        if self.transport == "openai":
            return self._sdk_call(messages)
        return litellm().acompletion(**self._kwargs(messages))

    async def complete(self, messages: list[dict]) -> Completion:
        """One logical call (up to 1 + retries attempts); never raises for API errors."""
        t0 = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                # A hard outer limit: some providers do not honour the client timeout.
                resp = await asyncio.wait_for(self._call(messages),
                                              timeout=self.timeout_s * 1.5 + 1.0)
            except ConfigError as e:
                return Completion(None, latency_s=time.monotonic() - t0, attempts=attempt,
                                  error=str(e))
            except Exception as e:  # noqa: BLE001 - SDKs map provider errors to many classes
                if attempt <= self.retries and _retryable(e):
                    delay = self._delay(attempt, e)
                    log.info("%s: %s; retry %d/%d in %.1fs", self.spec.model, _describe(e)[:120],
                             attempt, self.retries, delay)
                    await asyncio.sleep(delay)
                    continue
                tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                return Completion(None, latency_s=time.monotonic() - t0, attempts=attempt,
                                  error=_describe(e) + tries)
            return self._finish(resp, time.monotonic() - t0, attempt)

    def _finish(self, resp: Any, latency: float, attempts: int) -> Completion:
        usage = getattr(resp, "usage", None)
        pt = int(getattr(usage, "prompt_tokens", 0) or 0)
        ct = int(getattr(usage, "completion_tokens", 0) or 0)
        try:
            choice = resp.choices[0]
            text = choice.message.content
            finish = getattr(choice, "finish_reason", None)
        except (AttributeError, IndexError, TypeError):
            text, finish = None, None
        out = Completion(text, pt, ct, self.cost(pt, ct), latency, attempts, None, finish)
        if not text or not text.strip():
            out.error = f"empty reply (finish_reason={finish})"
        elif len(text) > self.max_reply_chars:
            out.error = (f"reply of {len(text)} chars exceeds "
                         f"llm.max_reply_chars={self.max_reply_chars}")
            out.text = text[: self.max_reply_chars]
        return out


@lru_cache(maxsize=1)
def _sdk_parameters() -> frozenset[str]:
    import inspect

    from openai.resources.chat.completions import AsyncCompletions

    return frozenset(inspect.signature(AsyncCompletions.create).parameters) - {"self"}
