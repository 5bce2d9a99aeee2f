"""The API's OpenAPI 3.1 description (``GET /api/v1/openapi.json``): every route, its
bodies, answers and errors, with the shapes of ``core/views.py`` (the CLI's ``--json``).
Checked by openapi-spec-validator, and held to by the live server under schemathesis
(tests/test_serve_api.py)."""

from __future__ import annotations

from typing import Any

from cloudlease import __version__


def _t(kind: str, *, null: bool = False, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"] if null else kind, **extra}


S, INTEGER, B = "string", "integer", "boolean"
STR, INT = _t(S), _t(INTEGER)
STRN, INTN = _t(S, null=True), _t(INTEGER, null=True)
TIME = _t(S, description="ISO 8601 UTC, e.g. 2026-03-01T10:15:00Z")
TIMEN = _t(S, null=True, description="ISO 8601 UTC, or null")
DEC = _t(S, null=True, description="an exact decimal, as a string")
STRS = {"type": "array", "items": STR}


def ref(name: str, null: bool = False) -> dict[str, Any]:
    r = {"$ref": f"#/components/schemas/{name}"}
    return {"oneOf": [r, {"type": "null"}]} if null else r


def obj(props: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict:
    return {"type": "object", "properties": props, "required": list(required), **extra}


LIGHTNING = obj({"invoice": STR, "uri": STR, "payment_hash": STR, "amount_msat": INT,
                 "expires_at": TIMEN, "paid_msat": INTN, "settled_at": TIMEN,
                 "preimage": STRN, "node": STR, "simulated": _t(B)},
                ("invoice", "uri", "payment_hash", "amount_msat"))
PAYMENT = obj({
    "id": STR, "purpose": STR, "lease": STRN, "status": _t(S, enum=[
        "new", "processing", "settled", "expired", "invalid"]),
    "flags": STRS, "address": STRN, "amount_sats": INT, "amount_btc": STR, "due_sats": INT,
    "due_btc": STR, "uri": STR, "hours": INTN, "created_at": TIME, "expires_at": TIME,
    "fiat_amount": DEC, "currency": STRN, "rate": DEC, "rate_source": STRN, "wallet": STRN,
    "address_index": INTN, "paid_sats": INT, "confirmed_sats": INT, "txids": STRS,
    "seen_at": TIMEN, "settled_at": TIMEN, "closed_reason": STRN, "tenant": STRN,
    "pool": STRN, "invest_sats": INTN, "contribution": STRN, "first_seen_at": TIMEN,
    "paid_at": TIMEN, "refund_sats": INTN, "methods": STRS,
    "lightning": ref("Lightning", null=True), "refunded_sats": INTN,
    "minutes": _t(INTEGER, null=True, description="minutes it buys (bought, once settled)"),
    "credit_used_sats": INTN, "credit_kept_sats": INTN,
    "via": _t(S, null=True, enum=["lnurl", "l402", "nwc", None])},
    ("id", "status", "amount_sats", "due_sats", "paid_sats", "uri", "expires_at", "methods"))
MACHINE = obj({
    "driver": STRN, "state": STRN,
    "ssh": {"oneOf": [obj({"host": STR, "port": INT, "user": STR}), {"type": "null"}]},
    "login": _t(S, null=True, description="the ssh command, e.g. ssh -p 22001 u@host"),
    "error": STRN, "blocked": {}, "attempts": INTN, "action": STRN, "host": STRN,
    "created_at": TIMEN, "updated_at": TIMEN, "details": _t("object")}, ("state",))
LEASE = obj({
    "id": STR, "status": _t(S, enum=["awaiting_payment", "active", "suspended", "ended",
                                     "expired", "cancelled"]),
    "hours": INT, "paid_hours": INT, "paid_minutes": INT, "credit_sats": INTN,
    "tenant": STRN, "plan": STR, "price_sats": INTN,
    "price_fiat": DEC, "currency": STRN, "created_at": TIME, "starts_at": TIMEN,
    "ends_at": TIMEN, "closed_at": TIMEN,
    "idempotency_key": _t("null", description="never shown here"), "requests": STRS,
    "pool": STRN, "note": STRN, "payment": ref("PaymentRequest", null=True),
    "payments": {"type": "array", "items": ref("PaymentRequest")},
    "machine": ref("Machine", null=True)}, ("id", "status", "hours", "plan"))
PLAN = obj({
    "name": STR, "price_per_hour_sats": INTN, "price_per_hour_fiat": DEC, "currency": STRN,
    "pool": STRN, "created_at": TIME,
    "limits": obj({"cpus": DEC, "memory_bytes": INTN, "pids": INTN}),
    "estimate": obj({"rate": DEC, "currency": STRN, "sats_per_hour": INTN,
                     "fiat_per_hour": DEC}),
    "availability": obj({"slots": INTN, "free_slots": INTN, "next_free_at": TIMEN,
                         "throttled": _t(B)}),
    "available": _t(B)}, ("name", "available"))
RECEIPT = obj({
    "request": STR, "purpose": STR, "plan": STR, "hours": INTN, "minutes": INTN,
    "via": STRN, "amount_sats": INT,
    "paid_sats": INT, "fiat_amount": DEC, "currency": STRN, "rate": DEC,
    "settled_at": TIMEN, "method": STRN,
    "payments": {"type": "array", "items": obj({
        "method": STR, "sats": INT, "txid": STRN, "vout": INTN, "payment_hash": STRN,
        "preimage": STRN, "at": TIMEN})}}, ("request", "amount_sats", "payments"))
STATE = obj({"lease": ref("Lease"), "payment": ref("PaymentRequest", null=True),
             "machine": ref("Machine", null=True)}, ("lease", "payment", "machine"))
ERROR = obj({"error": obj({"code": STR, "message": STR}, ("code", "message"))}, ("error",))
HEALTH = obj({"ok": _t(B), "ledger": STR, "engine": STR, "network": STR, "error": STR,
              "tick": _t("object")}, ("ok", "ledger"))

RENT_BODY = obj({
    "plan": _t(S, minLength=1, maxLength=64, description="a plan from GET /plans"),
    "hours": _t(INTEGER, minimum=1, maximum=8784),
    "method": _t(S, enum=["onchain", "lightning", "both"],
                 description="default: both when the server has a Lightning node"),
    "ssh_key": _t(S, maxLength=16384, description="one OpenSSH public key line; makes an "
                  "anonymous tenant that holds it, for the machine"),
    "email": _t(S, maxLength=254)}, ("plan", "hours"), additionalProperties=False)
EXTEND_BODY = obj({"hours": _t(INTEGER, minimum=1, maximum=8784),
                   "method": _t(S, enum=["onchain", "lightning", "both"])}, ("hours",),
                  additionalProperties=False)
RENTAL = obj({"token": _t(S, description="the capability token; only its hash is kept"),
              "url": STR, "lease": ref("Lease"), "payment": ref("PaymentRequest", null=True)},
             ("token", "url", "lease", "payment"))

RENEWAL = obj({
    "status": _t(S, enum=["active", "revoked", "failed", "exhausted"]),
    "wallet_pubkey": STR, "relay": STR, "max_per_renewal_sats": INT, "max_total_sats": INT,
    "spent_sats": INT, "renewals": INT, "request": STRN, "reason": STRN,
    "created_at": TIME, "updated_at": TIMEN}, ("status", "wallet_pubkey", "relay"))
RENEWAL_STATE = obj({"renewal": ref("Renewal", null=True)}, ("renewal",))
RENEWAL_BODY = obj({
    "uri": _t(S, maxLength=2048, description="nostr+walletconnect://<wallet pubkey>?relay="
              "wss://...&secret=<hex>: kept encrypted, never shown again"),
    "max_per_renewal_sats": _t(INTEGER, minimum=1, maximum=2_100_000_000_000_000),
    "max_total_sats": _t(INTEGER, minimum=1, maximum=2_100_000_000_000_000)},
    ("uri", "max_per_renewal_sats", "max_total_sats"), additionalProperties=False)
CHALLENGE = obj({"error": obj({"code": STR, "message": STR}, ("code", "message")),
                 "macaroon": _t(S, description="base64 macaroon (V2)"),
                 "invoice": _t(S, description="the BOLT11 invoice to pay")},
                ("error", "macaroon", "invoice"))
L402_HEADERS = (
    {"name": "Accept-Payment", "in": "header", "required": False,
     "description": "L402: answer 402 with a macaroon and an invoice (also when the plan "
     "asks for L402)", "schema": STR},
    {"name": "Authorization", "in": "header", "required": False,
     "description": "L402 <base64 macaroon>:<hex preimage>, after paying", "schema": STR})
L402_ANSWERS = {
    "402": {"description": "pay the invoice, then repeat with Authorization (WWW-"
            "Authenticate: L402 macaroon=\"…\", invoice=\"…\")", **{
                "content": {"application/json": {"schema": ref("Challenge")}}}},
    "401": {"description": "the L402 credential does not open this request (replayed, "
            "tampered, expired, a wrong preimage, another lease, plan, hours or key): a "
            "fresh challenge", "content": {"application/json": {"schema": ref("Challenge")}}}}

ERRORS = {
    "400": "the body is not JSON", "404": "no such lease (malformed and unknown tokens alike)",
    "409": "conflict: a full or throttled pool (the message says when a slot frees up), a "
           "lease not in a state for that, an Idempotency-Key used with other parameters",
    "413": "the body is larger than 64 KiB",
    "422": "a value that does not fit (unknown field, hours out of range, a bad SSH key, a "
           "method with no node)",
    "429": "too many requests, or too many unpaid requests open (see Retry-After); nothing "
           "was stored",
    "503": "the ledger or a payment backend is unavailable; nothing was stored",
}
IDEMPOTENCY = {"name": "Idempotency-Key", "in": "header", "required": False,
               "description": "the same key returns the same result instead of a second one "
               "(for a lease: the same token, so keep the key as secret as the URL; use a "
               "random one, e.g. a UUID)",
               "schema": _t(S, minLength=16, maxLength=255, pattern="^[!-~]([ -~]*[!-~])?$")}
TOKEN = {"name": "token", "in": "path", "required": True, "description": "the lease's token",
         "schema": STR}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _op(summary: str, ok: dict[str, Any], *, errors: tuple[str, ...], body: Any = None,
        params: tuple[dict[str, Any], ...] = (), op_id: str) -> dict[str, Any]:
    responses = dict(ok)
    for code in errors:
        responses[code] = {"description": ERRORS[code], **_json(ref("Error"))}
    out: dict[str, Any] = {"summary": summary, "operationId": op_id,
                           "parameters": list(params), "responses": responses}
    if body is not None:
        out["requestBody"] = {"required": True, **_json(body)}
    return out


LINKS = {name: {"operationId": op, "parameters": {"token": "$response.body#/token"}}
         for name, op in (("GetLease", "getLease"), ("ExtendLease", "extendLease"),
                          ("Receipts", "listReceipts"))}


def document(server: str, plans: list[str] | None = None) -> dict[str, Any]:
    """The document, with the server's URL and its offered plans as examples."""
    common = ("404", "429", "503")
    rent_body = dict(RENT_BODY, examples=[{"plan": p, "hours": 2} for p in plans or []])
    posts = ("400", "404", "409", "413", "422", "429", "503")
    return {
        "openapi": "3.1.0",
        "info": {"title": "cloudlease serve", "version": __version__,
                 "description": "Rent compute by the hour, paid in bitcoin, without an "
                 "account: each lease is reached by its capability token."},
        "servers": [{"url": server}],
        "paths": {
            "/api/v1/plans": {"get": _op(
                "The plans offered, with price, limits and free slots",
                {"200": {"description": "plans", **_json(obj(
                    {"plans": {"type": "array", "items": ref("Plan")}}, ("plans",)))}},
                errors=("429", "503"), op_id="listPlans")},
            "/api/v1/leases": {"post": _op(
                "Rent: a lease and its payment request",
                {"201": {"description": "the lease (also for a retry with the same "
                         "Idempotency-Key)", **_json(ref("Rental")), "links": LINKS},
                 **L402_ANSWERS},
                errors=posts, body=ref("RentBody"), params=(IDEMPOTENCY, *L402_HEADERS),
                op_id="rent")},
            "/api/v1/leases/{token}": {"get": _op(
                "The lease, its payment and its machine",
                {"200": {"description": "the lease", **_json(ref("LeaseState"))}},
                errors=common, params=(TOKEN,), op_id="getLease")},
            "/api/v1/leases/{token}/extend": {"post": _op(
                "More hours: a new payment request (or the open one for the same hours)",
                {"201": {"description": "a new payment request", **_json(ref("LeaseState"))},
                 "200": {"description": "the open request for the same hours, again",
                         **_json(ref("LeaseState"))}, **L402_ANSWERS},
                errors=posts, body=ref("ExtendBody"),
                params=(TOKEN, IDEMPOTENCY, *L402_HEADERS), op_id="extendLease")},
            "/api/v1/leases/{token}/renewal": {
                "get": _op("The wallet connected for auto-renewal (never its secret)",
                           {"200": {"description": "the renewal, or null",
                                    **_json(ref("RenewalState"))}},
                           errors=common, params=(TOKEN,), op_id="getRenewal"),
                "put": _op("Connect a wallet (NWC) to renew the lease within a budget",
                           {"201": {"description": "connected", **_json(ref("RenewalState"))}},
                           errors=("400", "404", "409", "413", "422", "429", "503"),
                           body=ref("RenewalBody"), params=(TOKEN,), op_id="connectRenewal"),
                "delete": _op("Stop renewing; the secret is erased",
                              {"200": {"description": "revoked", **_json(ref("RenewalState"))}},
                              errors=("404", "409", "429", "503"), params=(TOKEN,),
                              op_id="revokeRenewal")},
            "/api/v1/leases/{token}/receipts": {"get": _op(
                "One receipt per settled payment",
                {"200": {"description": "receipts", **_json(obj(
                    {"receipts": {"type": "array", "items": ref("Receipt")}},
                    ("receipts",)))}},
                errors=common, params=(TOKEN,), op_id="listReceipts")},
            "/api/v1/leases/{token}/events": {"get": _op(
                "Server-Sent Events: `status` (data: LeaseState as JSON) at once and on "
                "every change",
                {"200": {"description": "an event stream",
                         "content": {"text/event-stream": {"schema": STR}}}},
                errors=common, params=(TOKEN,), op_id="leaseEvents")},
            "/api/v1/openapi.json": {"get": {
                "summary": "This document", "operationId": "openapi",
                "responses": {"200": {"description": "OpenAPI 3.1",
                                      **_json(_t("object"))},
                              "429": {"description": ERRORS["429"], **_json(ref("Error"))}}}},
            "/healthz": {"get": {
                "summary": "Ledger readable and the tick loop passing", "operationId": "health",
                "responses": {"200": {"description": "healthy", **_json(ref("Health"))},
                              "503": {"description": "not healthy", **_json(ref("Health"))}}}},
        },
        "components": {"schemas": {
            "Error": ERROR, "Plan": PLAN, "Lease": LEASE, "PaymentRequest": PAYMENT,
            "Lightning": LIGHTNING, "Machine": MACHINE, "Receipt": RECEIPT,
            "LeaseState": STATE, "RentBody": rent_body, "ExtendBody": EXTEND_BODY,
            "Rental": RENTAL, "Health": HEALTH, "Renewal": RENEWAL,
            "RenewalState": RENEWAL_STATE, "RenewalBody": RENEWAL_BODY,
            "Challenge": CHALLENGE}},
    }
