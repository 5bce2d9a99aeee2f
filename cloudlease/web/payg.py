"""Pay as you go on the web: LNURL-pay top-ups (``/lnurlp/...``, ``ops/topups.py``) and
NWC auto-renewal (``/api/v1/leases/{token}/renewal`` and the lease page's form,
``ops/renewals.py``). L402 is in ``web/l402.py``.

LNURL answers follow LUD-06: JSON, errors as ``{"status": "ERROR", "reason": "..."}``
with the status of the exit code (404 unknown link, 409 a lease that is not running,
422 a bad amount or comment, 503 a backend down).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from cloudlease.core.errors import CloudleaseError
from cloudlease.ops import renewals, topups
from cloudlease.web.api import as_json, base_url, body_object, call, runtime
from cloudlease.web.errors import HttpError, from_domain


def site(request: Request) -> str:
    return runtime(request).settings.operator_name or "cloudlease"


def _lud_error(exc: CloudleaseError | HttpError) -> Response:
    err = from_domain(exc) if isinstance(exc, CloudleaseError) else exc
    return as_json({"status": "ERROR", "reason": err.message}, err.status, err.headers)


async def lnurlp(request: Request) -> Response:
    """LUD-06 step 1: the pay request."""
    rt = runtime(request)
    try:
        doc = await rt.call(topups.offer, request.path_params["pid"], base_url(request),
                            site(request))
    except CloudleaseError as exc:
        return _lud_error(exc)
    return as_json(doc)


async def lnurlp_callback(request: Request) -> Response:
    """LUD-06 step 2: a fresh invoice for ``amount`` msat (LUD-12 ``comment``)."""
    rt = runtime(request)
    q = request.query_params
    unknown = sorted(set(q) - {"amount", "comment", "nonce", "fromnodes", "proofofpayer"})
    if unknown or len(q.getlist("amount")) > 1 or len(q.getlist("comment")) > 1:
        return _lud_error(HttpError(422, "bad_value", "unknown or repeated parameter "
                                    f"{(unknown or ['amount'])[0][:40]!r}"))
    client = request.scope["state"]["client"]
    try:
        async with rt.client_lock(client):
            await rt.check_caps(client)
            doc, req = await rt.call(topups.invoice, request.path_params["pid"],
                                     q.get("amount"), q.get("comment"), site(request))
            rt.opened(client, req.id)
    except (CloudleaseError, HttpError) as exc:
        return _lud_error(exc)
    rt.wake()
    return as_json(doc)


# -- NWC auto-renewal ---------------------------------------------------------------------
RENEWAL_FIELDS = {"uri": (str,), "max_per_renewal_sats": (int,), "max_total_sats": (int,)}


async def renewal(request: Request) -> Response:
    """``GET`` what is set (never the secret), ``PUT`` hand over a wallet, ``DELETE``
    revoke."""
    token = request.path_params["token"]
    if request.method == "GET":
        return as_json({"renewal": await call(request, renewals.shown, token)})
    if request.method == "DELETE":
        return as_json({"renewal": await call(request, renewals.revoke, token)})
    data = await body_object(request, RENEWAL_FIELDS, tuple(RENEWAL_FIELDS))
    shown = await call(request, renewals.connect, token, data["uri"],
                       data["max_per_renewal_sats"], data["max_total_sats"])
    runtime(request).wake()
    return as_json({"renewal": shown}, 201)


async def renewal_form(request: Request) -> Response:
    """The lease page's form: connect a wallet, or revoke (``action=revoke``)."""
    from cloudlease.web.pages import form, lease

    token = request.path_params["token"]
    values = await form(request)
    try:
        if values.get("action") == "revoke":
            await runtime(request).call(renewals.revoke, token)
        else:
            await runtime(request).call(
                renewals.connect, token, values.get("uri", ""),
                _whole(values.get("max_per_renewal_sats")),
                _whole(values.get("max_total_sats")))
    except CloudleaseError as exc:
        if exc.exit_code == 3:
            raise from_domain(exc) from None
        err = from_domain(exc)
        return await lease(request, status=err.status, error=err.message)
    runtime(request).wake()
    return RedirectResponse(f"/l/{token}#renewal", 303)


def _whole(text: Any) -> Any:
    text = (text or "").strip()
    return int(text) if text.isdigit() and len(text) < 19 else text
