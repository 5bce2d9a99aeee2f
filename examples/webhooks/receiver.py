#!/usr/bin/env python3
"""A cloudlease webhook receiver (Python standard library only): check, dedupe, act.

    CLOUDLEASE_WEBHOOK_SECRET=... python3 receiver.py --port 8080 [--state seen.txt]

For each POST it:
1. recomputes the HMAC-SHA256 of "<t>.<raw body>" with the shared secret and compares it
   in constant time with the v1 value of the Cloudlease-Signature header (401 if it is
   missing or wrong; 400 if the header is malformed: not printable ASCII, a t that is not
   a plain number, a v1 that is not 64 hex digits);
2. refuses a t more than TOLERANCE seconds away from its own clock (401): a request
   captured and replayed later is rejected even though its signature is genuine;
3. refuses an event id it has already processed (409): cloudlease delivers at least
   once, so a receiver must never act twice on one event;
4. acts (here: prints the event as one JSON line) and answers 204.

Whatever arrives (a malformed header, a body that is not an event), it answers with a
status (400, 401, 409, 413, or 500 when acting failed) and never drops the connection.

Any other answer than 2xx makes cloudlease retry later with backoff. Put it behind
HTTPS (a reverse proxy) unless it listens on loopback. The secret comes from the
environment, never from the command line (where `ps` would show it).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TOLERANCE = 300  # seconds
MAX_BODY = 1 << 20
_HEX = frozenset("0123456789abcdef")


class Rejected(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


def parse_signature(header: str | None) -> tuple[int, list[str]]:
    """``(t, [v1 signatures])`` of a Cloudlease-Signature header (``t=<unix>,v1=<hex>``;
    other schemes are ignored). Raises Rejected: 401 when there is no signature, 400 when
    the header is malformed (not printable ASCII, a part without ``=``, a t that is not a
    plain number, a v1 that is not 64 lower-case hex digits)."""
    if not header or not header.strip():
        raise Rejected(401, "no signature")
    if not header.isascii() or not header.isprintable():
        raise Rejected(400, "malformed signature header")
    stamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise Rejected(400, "malformed signature header")
        if key == "t":
            if stamp is not None or not value.isdigit() or len(value) > 12:
                raise Rejected(400, "malformed signature header")
            stamp = int(value)
        elif key == "v1":
            if len(value) != 64 or not set(value) <= _HEX:
                raise Rejected(400, "malformed signature header")
            signatures.append(value)
    if stamp is None or not signatures:
        raise Rejected(401, "no signature")
    return stamp, signatures


def verify(secret: str, header: str | None, body: bytes, *, now: float | None = None,
           tolerance: int = TOLERANCE) -> int:
    """Check a Cloudlease-Signature header; returns its timestamp or raises Rejected."""
    stamp, signatures = parse_signature(header)
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body,
                        hashlib.sha256).hexdigest().encode()
    if not any(hmac.compare_digest(expected, sig.encode()) for sig in signatures):
        raise Rejected(401, "bad signature")
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        raise Rejected(401, "stale timestamp (a replay?)")
    return stamp


def parse_event(body: bytes) -> dict:
    """The event a verified body carries; Rejected(400) if it is not one."""
    try:
        event = json.loads(body)
    except ValueError:  # not UTF-8, or not JSON
        raise Rejected(400, "the body is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str | int):
        raise Rejected(400, "the body is not an event (no id)")
    return event


class Seen:
    """Event ids already processed (in memory, and in a file when given)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.ids = set(path.read_text().split()) if path and path.exists() else set()

    def claim(self, event_id: str) -> bool:
        with self.lock:
            if event_id in self.ids:
                return False
            self.ids.add(event_id)
            if self.path is not None:
                with self.path.open("a") as f:
                    f.write(event_id + "\n")
            return True

    def forget(self, event_id: str) -> None:
        with self.lock:
            self.ids.discard(event_id)


def make_server(secret: str, act: Callable[[dict], None], *, host: str = "127.0.0.1",
                port: int = 0, seen: Seen | None = None) -> ThreadingHTTPServer:
    """A server that verifies, dedupes and calls ``act(event)`` once per event."""
    seen = seen or Seen()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            try:
                self._receive()
            except Rejected as exc:
                self._answer(exc.status, str(exc))
                return
            except Exception as exc:  # never a dropped connection, whatever came in
                print(f"receiver: {type(exc).__name__}: {exc}", file=sys.stderr)
                self._answer(500, "internal error")
                return
            self._answer(204, "")

        def _receive(self) -> None:
            raw = (self.headers.get("Content-Length") or "0").strip()
            if not (raw.isascii() and raw.isdigit()):
                raise Rejected(400, "bad Content-Length")
            length = int(raw)
            if not 0 < length <= MAX_BODY:
                raise Rejected(413 if length else 400, "body missing or too large")
            body = self.rfile.read(length)
            verify(secret, self.headers.get("Cloudlease-Signature"), body)
            event = parse_event(body)
            if not seen.claim(str(event["id"])):
                raise Rejected(409, f"event {event['id']} already processed")
            try:
                act(event)
            except Exception:
                seen.forget(str(event["id"]))  # not done: let the retry do it
                raise Rejected(500, "could not act on the event") from None

        def _answer(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--state", type=Path, help="file of processed event ids")
    args = parser.parse_args()
    secret = os.environ.get("CLOUDLEASE_WEBHOOK_SECRET", "")
    if len(secret) < 16:
        print("set CLOUDLEASE_WEBHOOK_SECRET (the webhook's secret)", file=sys.stderr)
        return 2

    def act(event: dict) -> None:
        print(json.dumps(event, sort_keys=True), flush=True)

    server = make_server(secret, act, host=args.host, port=args.port, seen=Seen(args.state))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
