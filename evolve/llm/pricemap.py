"""litellm's bundled price map and tokenizer files, read without importing litellm (5 s).

The map (`model_prices_and_context_window_backup.json`, what litellm itself uses with
LITELLM_LOCAL_MODEL_COST_MAP) gives each model's USD per token and context window. Prompt sizes
for the start-up window check and the trimming of prompts are counted with the o200k tokenizer
litellm ships (tiktoken, offline), plus OpenAI's chat framing: an estimate for other vendors'
models, which is what the check needs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

_MAP_FILE = "model_prices_and_context_window_backup.json"
# OpenAI's chat accounting: tokens around each message's content, and before the reply
_PER_MESSAGE, _PER_REPLY = 3, 3


def _litellm_dir() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=1)
def price_map() -> dict[str, dict[str, Any]]:
    """Model name -> litellm's entry (input_cost_per_token, max_input_tokens, ...); {} without
    litellm."""
    folder = _litellm_dir()
    if folder is None or not (folder / _MAP_FILE).is_file():
        return {}
    data = json.loads((folder / _MAP_FILE).read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def entry(model: str) -> dict[str, Any] | None:
    """The map's entry for a litellm model string (`openai/gpt-4.1-mini` or `gpt-4.1-mini`)."""
    table = price_map()
    for key in (model, model.split("/", 1)[-1]):
        if key in table:
            return table[key]
    return None


@lru_cache(maxsize=1)
def _encoder() -> Any:
    folder = _litellm_dir()
    if folder is not None:  # the BPE files litellm bundles: no download
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(folder / "litellm_core_utils" /
                                                        "tokenizers"))
    try:
        import tiktoken

        return tiktoken.get_encoding("o200k_base")
    except Exception:  # noqa: BLE001 - no tiktoken or no BPE file: count ~4 characters a token
        return None


def count_text(text: str) -> int:
    enc = _encoder()
    if enc is None:
        return (len(text) + 3) // 4
    return len(enc.encode(text, disallowed_special=()))


def count_messages(messages: list[dict]) -> int:
    """Prompt tokens of chat messages, framing included."""
    return _PER_REPLY + sum(_PER_MESSAGE + count_text(str(m.get("content") or ""))
                            for m in messages)


def _tokens_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "adrs-evolve" / "prompt_tokens.json"


def count_messages_cached(messages: list[dict]) -> int:
    """count_messages, remembered across runs in the user's cache (the start-up window check
    counts the same synthetic prompt every time: loading the tokenizer took 0.45 s of it)."""
    try:
        version = importlib.metadata.version("tiktoken")
    except importlib.metadata.PackageNotFoundError:
        version = "none"
    key = hashlib.sha256(json.dumps([version, messages], sort_keys=True).encode()).hexdigest()
    path = _tokens_file()
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(known, dict) and isinstance(known.get(key), int):
            return int(known[key])
    except (OSError, ValueError):
        known = {}
    n = count_messages(messages)
    known = dict(list(known.items())[-199:]) if isinstance(known, dict) else {}
    known[key] = n
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False,
                                         encoding="utf-8") as fh:
            json.dump(known, fh)
        os.replace(fh.name, path)
    except OSError:
        pass  # a read-only home: counted again next time
    return n
