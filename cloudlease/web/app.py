"""The ASGI app: routes, error answers, and the lifespan that starts and stops the tick
loop and the live-status hub."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from cloudlease.core.errors import CloudleaseError
from cloudlease.ops.context import Context
from cloudlease.web import api, l402, pages, payg
from cloudlease.web.errors import HttpError, from_domain
from cloudlease.web.guard import Guard, wants_html
from cloudlease.web.hub import Hub
from cloudlease.web.runtime import Runtime
from cloudlease.web.ticker import Ticker

STATIC = Path(__file__).with_name("static")
log = logging.getLogger("cloudlease.web")


async def _error(request: Request, exc: Exception) -> Response:
    err = exc if isinstance(exc, HttpError) else (
        from_domain(exc) if isinstance(exc, CloudleaseError) else
        HttpError(500, "internal", "internal error"))
    if not isinstance(exc, HttpError | CloudleaseError):
        log.error("internal error: %s: %s", type(exc).__name__, exc)
    if wants_html(request.scope):
        from html import escape

        text = (f"<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport "
                f"content='width=device-width, initial-scale=1'><title>{err.status}</title>"
                f"<link rel=stylesheet href=/static/app.css><main class=narrow><h1>"
                f"{'Not found' if err.status == 404 else err.status}</h1><p>"
                f"{escape(err.message)}</p><p><a href=/>See the plans</a></p></main></html>")
        return Response(text, err.status, headers=err.headers, media_type="text/html")
    return api.as_json({"error": {"code": err.code, "message": err.message}}, err.status,
                       err.headers)


async def _not_found(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 404)
    if code == 405:
        return await _error(request, HttpError(405, "method_not_allowed",
                                               "that method is not allowed here"))
    return await _error(request, HttpError(404, "not_found", "no such page"))


def routes() -> list[Any]:
    return [
        Route("/", pages.store, methods=["GET"]),
        Route("/rent", pages.rent, methods=["POST"]),
        Route("/l/{token}", pages.lease, methods=["GET"]),
        Route("/l/{token}/extend", pages.extend, methods=["POST"]),
        Route("/l/{token}/requote", pages.requote, methods=["POST"]),
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/api/v1/openapi.json", api.openapi, methods=["GET"]),
        Route("/api/v1/plans", api.plans, methods=["GET"]),
        Route("/api/v1/leases", l402.create_lease, methods=["POST"]),
        Route("/api/v1/leases/{token}", api.lease, methods=["GET"]),
        Route("/api/v1/leases/{token}/extend", l402.extend_lease, methods=["POST"]),
        Route("/api/v1/leases/{token}/receipts", api.receipts, methods=["GET"]),
        Route("/api/v1/leases/{token}/events", api.events, methods=["GET"]),
        Route("/api/v1/leases/{token}/renewal", payg.renewal, methods=["GET", "PUT", "DELETE"]),
        Route("/l/{token}/renewal", payg.renewal_form, methods=["POST"]),
        Route("/lnurlp/{pid}", payg.lnurlp, methods=["GET"]),
        Route("/lnurlp/{pid}/callback", payg.lnurlp_callback, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]


def build(home: Path, *, lock_timeout: float | None = None, tick: bool = True) -> Any:
    """The app for ``home``, wrapped in ``Guard``. ``tick=False`` leaves the tick loop out
    (tests that drive passes themselves)."""
    runtime = Runtime(home, lock_timeout)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub = Hub(runtime)
        runtime.hub = hub
        hub.start()
        if tick:
            poll = float(runtime.serve.chain_poll_seconds or Decimal(10))
            runtime.ticker = Ticker(Context.at(home, lock_timeout), poll, hub.poke)
            runtime.ticker.start()
        try:
            yield
        finally:
            hub.close()
            if runtime.ticker is not None:
                runtime.ticker.stop()
            await hub.stop()
            runtime.close()

    app = Starlette(routes=routes(), lifespan=lifespan, exception_handlers={
        HttpError: _error, CloudleaseError: _error, 404: _not_found, 405: _not_found,
        Exception: _error})
    app.state.runtime = runtime
    serve = runtime.serve
    guard = Guard(app, trusted_proxies=serve.trusted_proxies,
                  per_minute=serve.rate_limit_per_minute)
    guard.runtime = runtime  # type: ignore[attr-defined]
    return guard
