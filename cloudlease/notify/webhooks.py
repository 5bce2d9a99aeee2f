"""Webhooks: each event as a signed HTTP POST to the operator's endpoints.

The body is the event's JSON document (the one hooks get on stdin), compact and with
sorted keys; it is the same on every attempt. Each attempt is signed afresh:

    Cloudlease-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>

A receiver recomputes the HMAC over the raw body, compares in constant time, refuses a
``t`` older than a few minutes (a replayed request) and deduplicates on the event ``id``
(delivery is at least once). ``examples/webhooks/receiver.py`` does all three.

Only a 2xx answer counts as delivered. The POST goes through ``cloudlease.net``: no
redirect is followed (a 3xx is a failure: the signed body goes only where the operator
said), connect and read timeouts and a total deadline (``timeout_seconds``), a cap on the
answer, and every message redacted. This runs after the ledger change is committed,
outside the writer lock (``ops/deliver.py``); the secret is never printed, logged,
stored in the ledger or passed to a hook. In the ledger and in output an endpoint is its
URL without credentials or query (``target``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from cloudlease import __version__
from cloudlease.config import Webhook
from cloudlease.notify.hooks import Outcome

MAX_ANSWER = 1 << 20  # a receiver's answer is not read for anything but its status
SIGNATURE_HEADER = "Cloudlease-Signature"


def target(hook: Webhook) -> str:
    """The endpoint as the ledger and the output name it: ``webhook:`` and the URL with
    no credentials and no query (either may hold a key); when the URL had them, a short
    hash of it keeps two such endpoints apart."""
    from cloudlease.net import parse_url

    url = parse_url(hook.url, loopback_http=True)
    shown = url.redacted()
    if url.query or url.username is not None:
        shown += f" ({hashlib.sha256(hook.url.encode()).hexdigest()[:8]})"
    return "webhook:" + shown


def body_bytes(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Cloudlease-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def deliver(hook: Webhook, event: dict[str, Any], *, now: float | None = None) -> Outcome:
    """POST one event to one endpoint; an Outcome, never an exception."""
    from cloudlease.net import Http, HttpError, snippet

    body = body_bytes(event)
    stamp = int(time.time() if now is None else now)
    headers = {"Content-Type": "application/json",
               "Cloudlease-Event": str(event.get("event", "")),
               "Cloudlease-Event-Id": str(event.get("id", "")),
               SIGNATURE_HEADER: sign(hook.secret, stamp, body)}
    eid = str(event.get("id"))
    http = Http(timeout=hook.timeout, max_bytes=MAX_ANSWER, secrets=[hook.secret],
                user_agent=f"cloudlease/{__version__}", pool_size=1)
    try:
        reply = http.post(hook.url, body=body, headers=headers)
    except HttpError as exc:
        return Outcome(eid, False, http.redact(exc.reason))
    finally:
        http.close()
    if 200 <= reply.status < 300:
        return Outcome(eid, True)
    text = snippet(reply.body, 160)
    return Outcome(eid, False, http.redact(f"HTTP {reply.status}" + (f": {text}" if text
                                                                          else "")))
