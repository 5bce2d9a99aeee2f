"""What stands between the internet and the app (one ASGI middleware, no per-request
thread): the client's address, a rate limit per client, a body size limit, the security
headers on every answer, an access log without tokens, and a last-resort 500.

- **Client address**: the peer's, unless the peer is in ``[serve] trusted_proxies``; then
  the right-most ``X-Forwarded-For`` entry that is not a trusted proxy (what the proxy
  itself saw). A header from anyone else is ignored.
- **Rate limit**: a token bucket per client of ``rate_limit_per_minute`` requests,
  refilled at that rate; an empty bucket is 429 with ``Retry-After`` (seconds until a
  token is back), before the app sees the request (nothing stored). Static files and
  ``/healthz`` are not counted.
- **Body limit**: ``MAX_BODY`` bytes; more (by ``Content-Length`` or as it streams) is 413.
- **Headers**: a strict Content-Security-Policy (scripts and styles from this origin only,
  no inline script, ``frame-ancestors 'none'``, forms post here only),
  ``Referrer-Policy: no-referrer``, ``X-Content-Type-Options: nosniff``,
  ``X-Frame-Options: DENY``, ``Cache-Control: no-store`` on everything but static files.
  No cookie is ever set.
- **Access log**: ``client "METHOD path" status bytes ms``, with the token of ``/l/...``
  and ``/api/v1/leases/...`` replaced by ``…`` and no query string.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from cloudlease.web.errors import HttpError, body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 64 * 1024
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
UNCOUNTED = ("/static/", "/healthz")
_TOKEN_PATH = re.compile(r"^(/l/|/api/v1/leases/|/lnurlp/)[^/]+")
log = logging.getLogger("cloudlease.web.access")


def redact(path: str) -> str:
    """A request path as the log may show it: no capability token."""
    return _TOKEN_PATH.sub(lambda m: m.group(1) + "\u2026", path)


class Buckets:
    """Token buckets per client (thread-safe; idle full buckets are forgotten)."""

    def __init__(self, per_minute: int) -> None:
        self.size = float(per_minute)
        self.rate = per_minute / 60.0
        self._b: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def take(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._b.get(client, (self.size, now))
            tokens = min(self.size, tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._b[client] = (tokens - 1, now)
                wait = 0.0
            else:
                self._b[client] = (tokens, now)
                wait = (1 - tokens) / self.rate
            if now - self._swept > 60:
                self._sweep(now)
        return wait

    def _sweep(self, now: float) -> None:
        self._swept = now
        full = self.size / self.rate
        for key in [k for k, (_, at) in self._b.items() if now - at > full]:
            del self._b[key]


class Guard:
    """The middleware (see the module doc)."""

    def __init__(self, app: App, *, trusted_proxies: tuple[str, ...] = (),
                 per_minute: int = 120, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.trusted = [ipaddress.ip_network(n) for n in trusted_proxies]
        self.buckets = Buckets(per_minute)
        self.max_body = max_body

    def client(self, scope: Scope) -> str:
        peer = (scope.get("client") or ("unknown", 0))[0]
        if not self.trusted or not self._is_trusted(peer):
            return peer
        forwarded = [v.decode("latin-1") for k, v in scope.get("headers", [])
                     if k == b"x-forwarded-for"]
        hops = [h.strip() for line in forwarded for h in line.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer  # a mangled header: the proxy's own address
        return peer

    def _is_trusted(self, addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        client = self.client(scope)
        scope.setdefault("state", {})["client"] = client
        path = scope.get("path", "")
        static = path.startswith("/static/")
        seen = {"status": 0, "bytes": 0}

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"set-cookie", b"server")]
                headers += HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            if not path.startswith(UNCOUNTED):
                wait = self.buckets.take(client)
                if wait:
                    raise HttpError(429, "rate_limited", "too many requests from this "
                                    "address; slow down", {"Retry-After": str(math.ceil(wait))})
            receive = await self._bounded(scope, receive)
            await self.app(scope, receive, guarded_send)
        except HttpError as err:
            if seen["status"]:
                raise
            await answer(guarded_send, err, wants_html(scope))
        except Exception as exc:  # a bug: one line in the log, a plain 500 for the client
            if os.environ.get("CLOUDLEASE_DEBUG"):
                log.exception("internal error on %s %s", scope.get("method"), redact(path))
            else:
                log.error("internal error on %s %s: %s: %s", scope.get("method"),
                          redact(path), type(exc).__name__, exc)
            if not seen["status"]:
                await answer(guarded_send, HttpError(500, "internal", "internal error"),
                             wants_html(scope))
        finally:
            if not static:
                log.info('%s "%s %s" %s %s %.1fms', client, scope.get("method"),
                         redact(path), seen["status"], seen["bytes"],
                         (time.monotonic() - started) * 1000)

    async def _bounded(self, scope: Scope, receive: Receive) -> Receive:
        """The body read whole up to the limit (413 past it), then replayed."""
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return receive
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    raise HttpError(400, "bad_request", "Content-Length is not a number") \
                        from None
                if declared > self.max_body:
                    raise _too_large(self.max_body)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _too_large(self.max_body)
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        whole = b"".join(chunks)
        done = False

        async def replay() -> Message:
            nonlocal done
            if not done:
                done = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        return replay


def _too_large(limit: int) -> HttpError:
    return HttpError(413, "too_large", f"the request body is larger than {limit // 1024} KiB")


def wants_html(scope: Scope) -> bool:
    """Whether an error is for a person's browser (a page) or a program (the API)."""
    return not scope.get("path", "").startswith("/api/")


async def answer(send: Send, err: HttpError, html: bool = False) -> None:
    """An error answer, as JSON (``{"error": {code, message}}``) or a small page."""
    if html:
        from html import escape

        text = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{err.status}"
                f"</title><link rel=stylesheet href=/static/app.css><main class=narrow>"
                f"<h1>{err.status}</h1><p>{escape(err.message)}</p><p><a href=/>Back to the "
                "plans</a></p></main></html>").encode()
        kind = b"text/html; charset=utf-8"
    else:
        text = json.dumps(body(err)).encode()
        kind = b"application/json"
    headers = [(b"content-type", kind), (b"content-length", str(len(text)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": text})
