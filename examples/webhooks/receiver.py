#!/usr/bin/env python3
"""A cloudlease webhook receiver (Python standard library only): check, dedupe, act.

    CLOUDLEASE_WEBHOOK_SECRET=... python3 receiver.py --port 8080 [--state seen.txt]

For each POST it:
1. recomputes the HMAC-SHA256 of "<t>.<raw body>" with the shared secret and compares it
   in constant time with the v1 value of the Cloudlease-Signature header (401 if not);
2. refuses a t more than TOLERANCE seconds away from its own clock (401): a request
   captured and replayed later is rejected even though its signature is genuine;
3. refuses an event id it has already processed (409): cloudlease delivers at least
   once, so a receiver must never act twice on one event;
4. acts (here: prints the event as one JSON line) and answers 204.

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


class Rejected(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


def verify(secret: str, header: str | None, body: bytes, *, now: float | None = None,
           tolerance: int = TOLERANCE) -> int:
    """Check a Cloudlease-Signature header; returns its timestamp or raises Rejected."""
    fields = dict(part.split("=", 1) for part in (header or "").split(",") if "=" in part)
    try:
        stamp = int(fields["t"])
    except (KeyError, ValueError):
        raise Rejected(401, "no signature") from None
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest(), fields.get("v1", "")):
        raise Rejected(401, "bad signature")
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        raise Rejected(401, "stale timestamp (a replay?)")
    return stamp


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
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= MAX_BODY:
                    raise Rejected(413 if length else 400, "body missing or too large")
                body = self.rfile.read(length)
                verify(secret, self.headers.get("Cloudlease-Signature"), body)
                event = json.loads(body)
                if not seen.claim(str(event["id"])):
                    raise Rejected(409, f"event {event['id']} already processed")
                try:
                    act(event)
                except Exception:
                    seen.forget(str(event["id"]))  # not done: let the retry do it
                    raise Rejected(500, "could not act on the event") from None
            except Rejected as exc:
                self._answer(exc.status, str(exc))
                return
            self._answer(204, "")

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
