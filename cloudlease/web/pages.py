"""The HTML pages: the storefront (``/``) and the lease page (``/l/<token>``), rendered on
the server with Jinja2, usable without JavaScript (forms post here and are answered with a
redirect; a ``<noscript>`` refresh keeps a waiting page current). ``/static/app.js`` adds
copy buttons, countdowns and live status (the page's ``<main>`` is fetched again when the
lease's event stream says it changed: no reload).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from cloudlease.core.errors import CloudleaseError
from cloudlease.ops import leasepage, storefront
from cloudlease.web import view
from cloudlease.web.api import base_url, call, runtime
from cloudlease.web.errors import HttpError, from_domain

TEMPLATES = Path(__file__).with_name("templates")
_env: Any = None


def env() -> Any:
    global _env
    if _env is None:
        import jinja2

        _env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                                  autoescape=True, trim_blocks=True, lstrip_blocks=True)
        _env.filters.update(sats=view.sats, when=view.when, fiat=view.fiat,
                            duration=view.duration, minutes=view.minutes)
    return _env


def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    rt = runtime(request)
    site = rt.settings.operator_name or "cloudlease"
    html = env().get_template(name).render(site=site, **context)
    return HTMLResponse(html, status)


async def form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the only kind our forms send)."""
    raw = await request.body()
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise HttpError(400, "bad_form", "the form could not be read") from None
    return {k: v[0] for k, v in fields.items()}


def _fresh_key() -> str:
    return secrets.token_urlsafe(24)


# -- the storefront ------------------------------------------------------------------------
async def store(request: Request, *, status: int = 200, error: str | None = None,
                values: dict[str, str] | None = None) -> Response:
    offers = await call(request, storefront.offers)
    rt = runtime(request)
    ln = rt.settings.lightning.enabled
    driver = await call(request, storefront.provisioning)
    return render(request, "store.html", status, offers=offers, error=error,
                  values=values or {}, idem=_fresh_key(), lightning=ln, driver=driver,
                  network=rt.settings.network)


async def rent(request: Request) -> Response:
    rt = runtime(request)
    values = await form(request)
    client = request.scope["state"]["client"]
    key = values.get("idempotency_key") or None
    try:
        async with rt.client_lock(client):
            await rt.check_caps(client)
            rental = await rt.call(
                storefront.rent, plan=values.get("plan", ""), hours=values.get("hours", ""),
                method=values.get("method") or None, ssh_key=values.get("ssh_key") or None,
                email=values.get("email") or None, key=_form_key(key))
            if rental.created and rental.request is not None:
                rt.opened(client, rental.request.id)
    except (CloudleaseError, HttpError) as exc:
        err = from_domain(exc) if isinstance(exc, CloudleaseError) else exc
        return await store(request, status=err.status, error=err.message, values=values)
    rt.wake()
    return RedirectResponse(f"/l/{rental.token}", 303)


def _form_key(key: str | None) -> str | None:
    """The form's hidden key (random per page, so a double submit makes one lease)."""
    if key is None:
        return None
    try:
        from cloudlease.ops.tokens import client_key

        return client_key(key)
    except CloudleaseError:
        return None


# -- the lease page ----------------------------------------------------------------------
async def lease(request: Request, *, status: int = 200, error: str | None = None) -> Response:
    token = request.path_params["token"]
    rt = runtime(request)
    page, state = await call(request, _lease_page, token, base_url(request))
    return render(request, "lease.html", status, token=token, page=page, error=error,
                  idem=_fresh_key(), lightning=rt.settings.lightning.enabled,
                  events=f"/api/v1/leases/{token}/events", signature=view.signature(state))


def _lease_page(ctx: Any, token: str, base: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Everything the lease page shows, on one worker thread: one ledger read, and the
    QR codes (made once per URI)."""
    state, receipts = leasepage.page(ctx, token)
    page = view.lease_page(state, receipts, driver=storefront.provisioning(ctx), now=_now())
    if page["checkout"] is not None:
        page["checkout"]["qr"] = leasepage.qr_svg(page["checkout"]["uri"])
    page.update(leasepage.payg(ctx, token, state, base))
    if page.get("topup"):
        page["topup"]["qr"] = leasepage.qr_svg("lightning:" + page["topup"]["lnurl"])
    return page, state


def _now() -> datetime:
    from cloudlease.core import clock

    return clock.now()


async def extend(request: Request) -> Response:
    rt = runtime(request)
    token = request.path_params["token"]
    values = await form(request)
    await call(request, leasepage.lease_id, token)  # unknown token: the 404 page
    client = request.scope["state"]["client"]
    try:
        async with rt.client_lock(client):
            await rt.check_caps(client)
            _, req, created = await rt.call(
                storefront.extend, token, hours=values.get("hours", ""),
                method=values.get("method") or None, key=_form_key(values.get(
                    "idempotency_key") or None))
            if created:
                rt.opened(client, req.id)
    except (CloudleaseError, HttpError) as exc:
        err = from_domain(exc) if isinstance(exc, CloudleaseError) else exc
        return await lease(request, status=err.status, error=err.message)
    rt.wake()
    return RedirectResponse(f"/l/{token}#pay", 303)


async def requote(request: Request) -> Response:
    rt = runtime(request)
    token = request.path_params["token"]
    await form(request)
    client = request.scope["state"]["client"]
    try:
        async with rt.client_lock(client):
            await rt.check_caps(client)
            rental = await rt.call(storefront.requote, token)
            if rental.created and rental.request is not None:
                rt.opened(client, rental.request.id)
    except CloudleaseError as exc:
        if exc.exit_code == 3:
            raise from_domain(exc) from None
        err = from_domain(exc)
        return await lease(request, status=err.status, error=err.message)
    except HttpError as err:
        return await lease(request, status=err.status, error=err.message)
    rt.wake()
    return RedirectResponse(f"/l/{rental.token}", 303)
