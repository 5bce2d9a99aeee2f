"""The JSON API under ``/api/v1`` (``openapi.py`` describes it): the same operations and
the same shapes as the CLI's ``--json``, for scripts and agents.

Every POST takes an ``Idempotency-Key`` header: the same key again returns the same lease
(and the same token) or the same payment request instead of a second one; with other
parameters it is 409. A body is one JSON object with the documented fields only.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cloudlease.core import views
from cloudlease.core.errors import CloudleaseError
from cloudlease.ops import leasepage, lnrequests, storefront, tokens
from cloudlease.ops.context import Context
from cloudlease.web.errors import HttpError, from_domain
from cloudlease.web.hub import KEEPALIVE, encode
from cloudlease.web.runtime import Runtime

METHODS = ("onchain", "lightning", "both")
RENT_FIELDS = {"plan": (str,), "hours": (int,), "method": (str,), "ssh_key": (str,),
               "email": (str,)}
EXTEND_FIELDS = {"hours": (int,), "method": (str,)}


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def as_json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(data, default=views.json_default, ensure_ascii=False)
    return Response(text, status, headers=headers, media_type="application/json")


async def body_object(request: Request, fields: dict[str, tuple[type, ...]],
                      required: tuple[str, ...]) -> dict[str, Any]:
    """The body as one JSON object with known fields of the right JSON types."""
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise HttpError(400, "bad_json", "the body is not JSON; send one JSON object "
                        "(Content-Type: application/json)") from None
    if not isinstance(data, dict):
        raise HttpError(422, "bad_value", "the body must be a JSON object")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise HttpError(422, "bad_value", f"unknown field {unknown[0][:40]!r} (fields: "
                        f"{', '.join(fields)})")
    for name in required:
        if data.get(name) is None:
            raise HttpError(422, "bad_value", f"{name} is required")
    for name, kinds in fields.items():
        value = data.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)):
            expected = "a whole number" if kinds == (int,) else "a string"
            raise HttpError(422, "bad_value", f"{name} must be {expected}")
    if data.get("method") is not None and data["method"] not in METHODS:
        raise HttpError(422, "bad_value", "method must be onchain, lightning or both")
    return data


def idempotency_key(request: Request) -> str | None:
    try:
        return tokens.client_key(request.headers.get("idempotency-key"))
    except CloudleaseError as exc:
        raise from_domain(exc) from None


def base_url(request: Request) -> str:
    """Where tenants reach this server: ``[serve] public_url``, else the request's host."""
    return runtime(request).serve.public_url.rstrip("/") or str(request.base_url).rstrip("/")


def lease_url(request: Request, token: str) -> str:
    return f"{base_url(request)}/l/{token}"


async def call(request: Request, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """An operation on a worker thread, its domain error as an HTTP answer."""
    try:
        return await runtime(request).call(fn, *args, **kwargs)
    except CloudleaseError as exc:
        raise from_domain(exc) from None


# -- routes ------------------------------------------------------------------------------
async def plans(request: Request) -> Response:
    return as_json({"plans": await call(request, storefront.offers)})


def _rental(ctx: Context, rental: storefront.WebRental) -> dict[str, Any]:
    reqs = [rental.request] if rental.request is not None else []
    lease = views.lease(rental.lease, reqs)
    lease["idempotency_key"] = None
    for p in lease["payments"]:
        lnrequests.decorate(ctx.settings, p)
    lease["payment"] = lease["payments"][-1] if lease["payments"] else None
    return {"lease": lease, "payment": lease["payment"]}


def _rent(ctx: Context, **kwargs: Any) -> tuple[storefront.WebRental, dict[str, Any]]:
    rental = storefront.rent(ctx, **kwargs)
    return rental, _rental(ctx, rental)


def _replay(ctx: Context, key: str) -> bool:
    """Whether this key already made a lease (a retry is never capped)."""
    token = tokens.derived(storefront.token_key(ctx), "rent", key)
    try:
        storefront.find(ctx, token)
    except CloudleaseError:
        return False
    return True


async def create_lease(request: Request) -> Response:
    rt = runtime(request)
    key = idempotency_key(request)
    data = await body_object(request, RENT_FIELDS, ("plan", "hours"))
    client = request.scope["state"]["client"]
    async with rt.client_lock(client):
        if key is None or not await call(request, _replay, key):
            await rt.check_caps(client)
        rental, shape = await call(request, _rent, key=key, **data)
        if rental.created and rental.request is not None:
            rt.opened(client, rental.request.id)
    rt.wake()
    out = {"token": rental.token, "url": lease_url(request, rental.token), **shape}
    return as_json(out, 201, {"Idempotent-Replayed": "false" if rental.created else "true"})


async def lease(request: Request) -> Response:
    return as_json(await call(request, leasepage.state, request.path_params["token"]))


async def receipts(request: Request) -> Response:
    found = await call(request, leasepage.receipts, request.path_params["token"])
    return as_json({"receipts": found})


def _extend(ctx: Context, token: str, **kwargs: Any) -> tuple[bool, str, dict[str, Any]]:
    lease_, req, created = storefront.extend(ctx, token, **kwargs)
    state = leasepage.state(ctx, token)
    return created, req.id, state


async def extend(request: Request) -> Response:
    rt = runtime(request)
    token = request.path_params["token"]
    key = idempotency_key(request)
    data = await body_object(request, EXTEND_FIELDS, ("hours",))
    await call(request, leasepage.lease_id, token)  # 404 first, for any unknown token
    client = request.scope["state"]["client"]
    async with rt.client_lock(client):
        await rt.check_caps(client)
        created, rid, state = await call(request, _extend, token, key=key, **data)
        if created:
            rt.opened(client, rid)
    rt.wake()
    return as_json({"lease": state["lease"], "payment": state["payment"]},
                   201 if created else 200)


async def events(request: Request) -> Response:
    """Server-Sent Events: ``status`` with the lease, its payment and its machine, at once
    and on every change; a comment every ``KEEPALIVE`` seconds when idle."""
    rt = runtime(request)
    state = await call(request, leasepage.state, request.path_params["token"])
    lease_id = state["lease"]["id"]
    first = encode(state)
    hub = rt.hub
    queue = hub.subscribe(lease_id, first)

    async def stream() -> Any:
        try:
            yield f"retry: 2000\nevent: status\ndata: {first}\n\n"
            while not hub.closing:
                try:
                    item = await asyncio.wait_for(queue.get(), KEEPALIVE)
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if item is None:
                    return
                yield f"event: status\ndata: {item}\n\n"
        finally:
            hub.unsubscribe(lease_id, queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})


def _health(ctx: Context) -> dict[str, Any]:
    ledger = ctx.read()
    return {"ledger": "ok", "engine": "postgresql" if ctx.ledger_url else "sqlite",
            "network": ledger.network}


async def healthz(request: Request) -> Response:
    rt = runtime(request)
    try:
        ledger = await rt.call(_health)
    except Exception as exc:  # anything that keeps the ledger from being read
        code = exc.code if isinstance(exc, CloudleaseError) else "internal"
        ledger = {"ledger": "unavailable", "error": code}
    tick = rt.ticker.health() if rt.ticker is not None else {"ok": False, "running": False}
    ok = ledger.get("ledger") == "ok" and tick["ok"]
    return as_json({"ok": ok, **ledger, "tick": tick}, 200 if ok else 503)


async def openapi(request: Request) -> Response:
    from cloudlease.web.openapi import document

    offers = await call(request, storefront.offers)
    return as_json(document(runtime(request).serve.public_url or
                            str(request.base_url).rstrip("/"), [p["name"] for p in offers]))
