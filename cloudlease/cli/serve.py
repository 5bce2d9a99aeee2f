"""``cloudlease serve``: the tenants' storefront, checkout pages and JSON API, with the
tick loop inside (``cloudlease/web/``).

The web face is a sibling of this one (import-linter keeps ``cli/`` and ``web/`` apart):
it is loaded by name, when this command runs, as every command module is loaded on use
(``main.py``). So no other command's start-up loads Starlette, uvicorn or Jinja2.
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from cloudlease.cli.common import STATE, Result, command, ctx


def serve(
    host: Annotated[str | None, typer.Option(
        help="Address to listen on (default: [serve] host, 127.0.0.1).", metavar="<addr>",
        show_default=False)] = None,
    port: Annotated[int | None, typer.Option(
        help="TCP port (default: [serve] port, 8080; 0: any free port).", metavar="<int>",
        min=0, max=65535, show_default=False)] = None,
) -> Result:
    """Serve tenants: the storefront at /, each lease's page at /l/TOKEN, the JSON API
    under /api/v1 (OpenAPI at /api/v1/openapi.json), /healthz; and the tick loop.

    Runs until SIGTERM or Ctrl-C, then finishes the requests in flight and exits 0. Put
    a TLS reverse proxy in front of it (README, "Serving tenants").

    Example: cloudlease serve --port 8080
    """
    c = ctx()
    _ = c.settings  # a bad config.toml is exit 5 here, before anything listens
    home, timeout = c.home.path, STATE.lock_timeout
    c.close()
    server = importlib.import_module("cloudlease.web.server")
    code = server.run(home, host, port, lock_timeout=timeout)
    return Result(None, "none", exit_code=code)


def register(root: typer.Typer) -> None:
    command(root, "serve")(serve)
