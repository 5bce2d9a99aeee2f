"""Running the app: bind, serve, stop cleanly.

The socket is bound here before uvicorn starts (a port in use is one clear line and exit
2; port 0 takes a free port from the kernel, and the line ``listening on http://H:P`` on
stderr says which). SIGTERM or SIGINT: no new connections, live-status streams end, the
requests in flight finish (at most ``GRACE`` seconds), the tick loop stops after the pass
under way, and the process exits 0.

Logging goes to stderr, one line per request (``guard.py``: no tokens, no query strings)
and one per trouble of the tick loop; uvicorn's own access log is off.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
from pathlib import Path
from typing import Any

from cloudlease.core.errors import BadValue

GRACE = 30  # seconds in-flight requests get after SIGTERM
log = logging.getLogger("cloudlease.web")


def _logging() -> None:
    root = logging.getLogger("cloudlease")
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                               "%Y-%m-%dT%H:%M:%SZ"))
        logging.Formatter.converter = __import__("time").gmtime
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False


def bind(host: str, port: int) -> socket.socket:
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else \
            socket.AF_INET
    except ValueError:
        family = socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise BadValue(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                       code="cannot_listen") from None
    sock.set_inheritable(True)
    return sock


def run(home: Path, host: str | None = None, port: int | None = None, *,
        lock_timeout: float | None = None) -> int:
    import uvicorn

    from cloudlease.web.app import build

    _logging()
    app = build(home, lock_timeout=lock_timeout)
    runtime = app.runtime
    host = host or runtime.serve.host
    port = runtime.serve.port if port is None else port
    sock = bind(host, port)
    where = sock.getsockname()
    shown = f"[{where[0]}]" if ":" in where[0] else where[0]
    if not _loopback(host) and not runtime.serve.trusted_proxies:
        log.warning("listening on %s without a reverse proxy in [serve] trusted_proxies: "
                    "tenants' pages need TLS in front (README, 'Serving tenants')", host)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=GRACE, server_header=False,
                            proxy_headers=False, ws="none")
    server = _Server(config, runtime)
    print(f"listening on http://{shown}:{where[1]}", file=sys.stderr, flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    log.info("stopped")
    return 0 if server.started else 1


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class _Server:
    """uvicorn's server, ending the live-status streams as soon as a stop is asked for
    (they would otherwise hold the graceful shutdown open until its timeout)."""

    def __new__(cls, config: Any, runtime: Any) -> Any:
        import uvicorn

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: Any) -> None:
                hub = runtime.hub
                loop = getattr(hub, "_loop", None)
                if loop is not None:
                    loop.call_soon_threadsafe(hub.close)
                super().handle_exit(sig, frame)
                # a stop asked for is a clean exit (0), not death by the signal, which
                # uvicorn would raise again once it has shut down
                self._captured_signals.clear()

        return Server(config)
