"""Secrets stay in the controller: workers get an allowlisted environment, text is scrubbed.

Workers (and so every sandboxed child) start from `child_env()`: a short allowlist of variables
that numeric code needs, never API keys, tokens, passwords or proxy settings. Text that comes
back from a candidate (errors, feedback, output) goes through `scrub` before it is stored, shown
or put into a prompt, so a secret the candidate found anyway (a file, a side door) is masked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

ALLOWED = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "TERM", "PYTHONHASHSEED", "PYTHONPATH",
                     "VIRTUAL_ENV", "XDG_CACHE_HOME", "NUMBA_CACHE_DIR", "SOURCE_DATE_EPOCH"})
ALLOWED_PREFIXES = ("LC_", "NUMBA_", "OMP_", "OPENBLAS_", "MKL_", "BLIS_", "EVOLVE_")
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|PROXY",
                         re.I)
MASK = "[secret]"


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a worker process starts with: the allowlist, minus anything secret-named."""
    env = os.environ if env is None else env
    return {k: v for k, v in env.items()
            if (k in ALLOWED or k.startswith(ALLOWED_PREFIXES)) and not SECRET_NAME.search(k)}


def secret_values(env: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> list[str]:
    """Values worth masking: every secret-named variable's value (8+ chars), longest first."""
    env = os.environ if env is None else env
    found = {v for k, v in env.items() if SECRET_NAME.search(k) and len(v) >= 8}
    found.update(v for v in extra if v and len(v) >= 8)
    return sorted(found, key=len, reverse=True)


class Scrubber:
    """Masks known secret values (and their common encodings) in text from the untrusted side."""

    def __init__(self, values: Iterable[str] | None = None):
        self.values = list(secret_values() if values is None else values)
        self._pattern = re.compile("|".join(re.escape(v) for v in self._variants())) \
            if self.values else None

    def _variants(self) -> list[str]:
        import base64

        out = set()
        for v in self.values:
            out.update({v, v[::-1], base64.b64encode(v.encode()).decode().rstrip("="),
                        v.encode().hex()})
        return sorted(out, key=len, reverse=True)

    def __call__(self, text: str | None) -> str | None:
        if not text or self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)
