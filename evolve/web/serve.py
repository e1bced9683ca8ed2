"""`evolve-archive serve`: run the web app with uvicorn on loopback (by default)."""

from __future__ import annotations

import ipaddress
import socket
import sys

from evolve.cli.common import CliError
from evolve.web.source import Source


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(spec: str, host: str, port: int) -> int:
    import uvicorn

    from evolve.web.app import make_app
    from evolve.web.render import compile_all

    source = Source(spec)
    allowed = ["127.0.0.1", "localhost", "[::1]"]
    if not _is_loopback(host):
        # the archive holds code, prompts and costs: say clearly that others can now read them
        sys.stderr.write(f"warning: --host {host}: the archive is readable by anyone who can "
                         f"reach this address (no login)\n")
        allowed = ["*"]
    app = make_app(source, allowed_hosts=allowed)
    compile_all()  # before "serving": the first page should not pay for it
    # bound here, not by uvicorn: a taken port is a one-line error, and --port 0 prints the
    # port the system chose
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    except OSError as e:
        sock.close()
        raise CliError(f"--host {host} --port {port}: cannot listen ({e.strerror or e})") from None
    port = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    sys.stderr.write(f"serving {spec} at http://{shown}:{port}/ (read-only; Ctrl-C stops)\n")
    sys.stderr.flush()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        source.close()
    return 0
