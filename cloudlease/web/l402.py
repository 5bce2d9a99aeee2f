"""L402 on the API (``ops/l402.py`` says the protocol): ``POST /api/v1/leases`` and
``POST /api/v1/leases/{token}/extend`` answer ``402 Payment Required`` with
``WWW-Authenticate: L402 macaroon="…", invoice="…"`` when the client sends
``Accept-Payment: L402`` (or the plan asks for it), and ``201`` when the same request
comes back with ``Authorization: L402 <macaroon>:<preimage>`` that opens it. A credential
that does not (replayed, tampered, expired, a wrong preimage, another lease, plan, hours or
key) is ``401`` with a fresh challenge. The body repeats the challenge for clients that
read JSON: ``{"error": {code, message}, "macaroon", "invoice"}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cloudlease.core.errors import CloudleaseError
from cloudlease.ops import l402, leasepage
from cloudlease.web import api
from cloudlease.web.api import as_json, call, lease_url, runtime
from cloudlease.web.errors import from_domain


async def create_lease(request: Request) -> Response:
    """``POST /api/v1/leases``: L402 when asked for (or the plan wants it), else the API's
    own answer."""
    data = await api.body_object(request, api.RENT_FIELDS, ("plan", "hours"))
    if await wanted(request, data):
        return await rent(request, data)
    return await api.create_lease(request)


async def extend_lease(request: Request) -> Response:
    """``POST /api/v1/leases/{token}/extend``: L402 when asked for."""
    if not asked(request):
        return await api.extend(request)
    api.idempotency_key(request)
    data = await api.body_object(request, api.EXTEND_FIELDS, ("hours",))
    token = request.path_params["token"]
    await call(request, leasepage.lease_id, token)  # 404 first, for any unknown token
    return await extend(request, token, data)


def asked(request: Request) -> bool:
    """The client wants L402 (``Accept-Payment: L402``) or brings a credential."""
    accept = request.headers.get("accept-payment", "")
    auth = request.headers.get("authorization", "")
    return "l402" in accept.lower() or auth[:5].upper() in ("L402 ", "LSAT ")


async def wanted(request: Request, data: dict[str, Any]) -> bool:
    return asked(request) or await call(request, l402.wanted, data.get("plan"))


def _challenge(ch: l402.Challenge, status: int, message: str) -> Response:
    code = "payment_required" if status == 402 else "l402_refused"
    return as_json({"error": {"code": code, "message": message},
                    "macaroon": ch.macaroon, "invoice": ch.invoice}, status,
                   {"WWW-Authenticate": ch.header()})


async def _redeem(request: Request, fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, str]:
    """``fn``'s result, or (None, why the credential was refused)."""
    try:
        return await runtime(request).call(fn, *args, **kwargs), ""
    except l402.Refused as exc:
        return None, exc.reason
    except CloudleaseError as exc:
        raise from_domain(exc) from None


async def rent(request: Request, data: dict[str, Any]) -> Response:
    rt = runtime(request)
    auth = request.headers.get("authorization")
    why = "pay the invoice, then send the request again with Authorization: L402 " \
          "<macaroon>:<preimage>"
    if auth:
        token, why = await _redeem(request, l402.redeem_rent, auth, plan=data.get("plan"),
                                   hours=data.get("hours"), ssh_key=data.get("ssh_key"))
        if token is not None:
            rt.wake()
            state = await call(request, leasepage.state, token)
            return as_json({"token": token, "url": lease_url(request, token), **state}, 201)
    client = request.scope["state"]["client"]
    async with rt.client_lock(client):
        await rt.check_caps(client)
        try:
            ch = await rt.call(l402.challenge_rent, plan=data.get("plan"),
                               hours=data.get("hours"), ssh_key=data.get("ssh_key"),
                               email=data.get("email"))
        except CloudleaseError as exc:
            raise from_domain(exc) from None
        rt.opened(client, ch.request_id)
    rt.wake()
    return _challenge(ch, 401 if auth else 402, why)


async def extend(request: Request, token: str, data: dict[str, Any]) -> Response:
    rt = runtime(request)
    auth = request.headers.get("authorization")
    why = "pay the invoice, then send the request again with Authorization: L402 " \
          "<macaroon>:<preimage>"
    if auth:
        done, why = await _redeem(request, _redeem_extend, token, auth, data.get("hours"))
        if done is not None:
            rt.wake()
            return as_json({"lease": done["lease"], "payment": done["payment"],
                            "machine": done["machine"]}, 201)
    client = request.scope["state"]["client"]
    async with rt.client_lock(client):
        await rt.check_caps(client)
        try:
            ch = await rt.call(l402.challenge_extend, token, hours=data.get("hours"))
        except CloudleaseError as exc:
            raise from_domain(exc) from None
        rt.opened(client, ch.request_id)
    rt.wake()
    return _challenge(ch, 401 if auth else 402, why)


def _redeem_extend(ctx: Any, token: str, auth: str, hours: Any) -> dict[str, Any]:
    l402.redeem_extend(ctx, token, auth, hours=hours)
    return leasepage.state(ctx, token)
