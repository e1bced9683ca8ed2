"""A loopback server speaking the OpenAI chat-completions protocol, for tests of the LLM proposer.

Replies come from a scripted queue (first in, first out); when the queue is empty the `default`
generator answers (for example `edit_generator`, which returns a valid SEARCH/REPLACE diff against
whatever parent program appears in the prompt). Usage tokens are counted with the o200k tokenizer
that litellm ships, so token numbers measured against this server are real prompt sizes.

    with LLMServer(default=edit_generator()) as srv:
        srv.push("no diff here", Reply(status=429), Reply(hang_s=5))
        ... litellm.acompletion(model="openai/test", api_base=srv.url, api_key="x", ...)

Only 127.0.0.1 is ever bound; each request handler stops waiting when the server stops.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Reply:
    """One scripted answer: content with status 200, or an HTTP error, or a hang."""

    content: str | None = ""
    status: int = 200
    hang_s: float = 0.0  # sleep before answering (a hang past the client's timeout)
    finish_reason: str = "stop"
    usage: dict | None = None  # overrides the counted usage
    body: str | None = None  # raw response body (malformed JSON, ...)
    headers: dict = field(default_factory=dict)


Item = str | Reply | Callable[[dict], str | Reply]


def _encoder():
    """o200k_base from litellm's bundled tokenizer files (no download), or None."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    bundled = (Path(next(iter(spec.submodule_search_locations)))
               / "litellm_core_utils" / "tokenizers")
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(bundled))
    try:
        import tiktoken

        return tiktoken.get_encoding("o200k_base")
    except Exception:  # noqa: BLE001 - fall back to a word count below
        return None


class LLMServer:
    """Threaded OpenAI-compatible HTTP server on 127.0.0.1 with a scripted reply queue."""

    def __init__(self, replies: list[Item] = (), default: Item | None = None,
                 model: str = "test-model"):
        self.queue: deque[Item] = deque(replies)
        self.default = default
        self.model = model
        self.requests: list[dict] = []  # JSON bodies received, in order
        self.usages: list[dict] = []  # usage returned for each 200 reply
        self.auth: list[str] = []  # Authorization header of each request
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._enc = _encoder()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self, port: int = 0) -> LLMServer:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *items: Item) -> None:
        with self._lock:
            self.queue.extend(items)

    # ---- answering ------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        if self._enc is not None:
            return len(self._enc.encode(text, disallowed_special=()))
        return len(text.split())

    def next_reply(self, body: dict) -> Reply:
        with self._lock:
            self.requests.append(body)
            item = self.queue.popleft() if self.queue else self.default
        if item is None:
            return Reply(status=500, body=json.dumps({"error": {"message": "script exhausted"}}))
        if callable(item):
            item = item(body)
        return Reply(content=item) if isinstance(item, str) else item

    def completion_body(self, body: dict, reply: Reply) -> dict:
        # Chat formats add ~4 tokens per message around the content (OpenAI's accounting).
        prompt = sum(4 + self.count_tokens(str(m.get("content") or ""))
                     for m in body.get("messages", []))
        usage = reply.usage or {
            "prompt_tokens": prompt,
            "completion_tokens": self.count_tokens(reply.content or ""),
        }
        usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
        self.usages.append(usage)
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": reply.finish_reason,
            }],
            "usage": usage,
        }


def _make_handler(server: LLMServer):
    class Handler(BaseHTTPRequestHandler):
        """Answers POST .../chat/completions from the server's script."""

        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, payload: str, headers: dict | None = None) -> None:
            data = payload.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, str(v))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                pass

        def do_GET(self) -> None:  # /v1/models, as some clients probe it
            models = {"object": "list", "data": [{"id": server.model, "object": "model"}]}
            self._send(200, json.dumps(models))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._send(400, json.dumps({"error": {"message": "bad JSON"}}))
                return
            if not self.path.rstrip("/").endswith("chat/completions"):
                self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}))
                return
            server.auth.append(self.headers.get("Authorization", ""))
            reply = server.next_reply(body)
            if reply.hang_s and server._stop.wait(reply.hang_s):
                return
            if reply.body is not None:
                self._send(reply.status, reply.body, reply.headers)
            elif reply.status != 200:
                err = {"error": {"message": f"scripted status {reply.status}",
                                 "type": "server_error"}}
                self._send(reply.status, json.dumps(err), reply.headers)
            else:
                self._send(200, json.dumps(server.completion_body(body, reply)), reply.headers)

    return Handler


# ---- rule-based replies --------------------------------------------------------------------
_FENCE = re.compile(r"```[a-zA-Z0-9_+-]*[ \t]*\n(.*?)```", re.S)
_FLOAT = re.compile(r"(?<![\w.])(\d+\.\d+)(?![\w.])")


def parent_code(messages: list[dict]) -> str | None:
    """The program shown under '## Parent program' (else the last fenced program with markers)."""
    text = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")
    head = text.find("## Parent program")
    fences = [m for m in _FENCE.finditer(text) if "EVOLVE-BLOCK-START" in m.group(1)]
    for m in fences:
        if head >= 0 and m.start() > head:
            return m.group(1)
    return fences[-1].group(1) if fences else None


def edit_generator(seed: int = 0) -> Callable[[dict], str]:
    """A reply function that edits the parent: scales one float literal inside the block.

    The k-th call picks the k-th literal (cyclically) and multiplies it by a factor that differs per
    call, so children are distinct programs; without literals it inserts a new assignment line.
    Prompts asking for a rewrite (the shipped mode_rewrite.j2) get the whole edited program in a
    ```python fence instead of a SEARCH/REPLACE block.
    """
    state = {"calls": seed}

    def reply(body: dict) -> str:
        state["calls"] += 1
        k = state["calls"]
        code = parent_code(body.get("messages", []))
        if code is None:
            return "I cannot find the program in your prompt."
        lines = code.splitlines()
        try:
            start = next(i for i, ln in enumerate(lines) if "EVOLVE-BLOCK-START" in ln) + 1
            end = next(i for i, ln in enumerate(lines) if "EVOLVE-BLOCK-END" in ln)
        except StopIteration:
            start, end = 0, len(lines)
        editable = [
            i for i in range(start, end)
            if _FLOAT.search(lines[i].split("#")[0]) and not lines[i].lstrip().startswith(("def ",
                                                                                           "#",
                                                                                           "@"))
        ]
        factor = 1.0 + 0.1 * (1 + k % 7) * (1 if k % 2 else -0.5)
        if editable:
            i = editable[k % len(editable)]
            body_part, _, comment = lines[i].partition("#")
            matches = list(_FLOAT.finditer(body_part))
            m = matches[k % len(matches)]
            new_num = repr(round(float(m.group(1)) * factor, 4))  # stays a float literal
            new = body_part[: m.start()] + new_num + body_part[m.end():]
            new += ("#" + comment) if comment else ""
            search, replace = lines[i], new
        else:
            i = next((j for j in range(start, end) if lines[j].strip()), start)
            indent = re.match(r"[ \t]*", lines[i]).group(0) if i < len(lines) else ""
            search = lines[i]
            replace = f"{indent}_knob_{k} = {factor!r}\n{lines[i]}"
        prompt = "\n".join(str(m.get("content") or "") for m in body.get("messages", []))
        if "complete new program" in prompt:  # rewrite mode: answer with the whole program
            new_code = "\n".join(lines[:i] + replace.split("\n") + lines[i + 1:])
            return f"I will adjust a constant (call {k}).\n\n```python\n{new_code.rstrip()}\n```\n"
        return (
            f"I will adjust a constant (call {k}).\n\n"
            f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"
        )

    return reply


def start_server(replies: list[Item] = (), default: Item | None = None, port: int = 0) -> LLMServer:
    """Start a server (caller stops it); `default` answers once `replies` run out."""
    return LLMServer(list(replies), default).start(port)


def main(argv: list[str] | None = None) -> None:
    """`python -m tests.llm_server [--port P]`: serve edit_generator replies until SIGTERM / Ctrl-C.

    Prints the base URL (http://127.0.0.1:P/v1) as the first line of stdout, for subprocess use.
    """
    import argparse
    import signal

    ap = argparse.ArgumentParser(
        description="Loopback OpenAI-compatible server with scripted edits")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model-alias", default="test-model")
    args = ap.parse_args(argv)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    srv = LLMServer(default=edit_generator(args.seed), model=args.model_alias).start(args.port)
    print(srv.url, flush=True)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
