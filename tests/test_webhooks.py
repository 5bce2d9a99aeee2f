"""Webhooks against real HTTP servers on loopback: the example receiver verifies every
signature, rejects replays and acts once per event; failures retry with backoff, make
tick exit 9 and never undo the ledger change; nothing runs under the ledger lock; the
secret never shows."""

from __future__ import annotations

import http.client
import importlib.util
import json
import socket
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cloudlease.config import Webhook
from cloudlease.notify import webhooks
from tests.conftest import REPO, run_cli

SECRET = "whsec-test-0123456789-abcdef"


def _load_receiver():
    spec = importlib.util.spec_from_file_location(
        "example_receiver", REPO / "examples" / "webhooks" / "receiver.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


receiver = _load_receiver()


class Receiver:
    """The example receiver in a thread; ``events`` are those it acted on."""

    def __init__(self, act=None) -> None:
        self.events: list[dict] = []
        self.fail_next = 0
        self.during = act

        def act_(event: dict) -> None:
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("not now")
            if self.during is not None:
                self.during(event)
            self.events.append(event)

        self.server = receiver.make_server(SECRET, act_)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Recorder:
    """A plain server that keeps every request as it came (to replay it later), and
    answers ``status`` (with ``headers``), after ``delay`` seconds."""

    def __init__(self, status: int = 204, headers: dict | None = None, delay: float = 0):
        self.requests: list[tuple[dict, bytes]] = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                rec.requests.append((dict(self.headers), body))
                time.sleep(delay)
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/rec"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def rx():
    r = Receiver()
    yield r
    r.close()


def add_webhook(home: Path, url: str, *, secret: str = SECRET, events=None,
                timeout: int | None = None) -> None:
    text = f'\n[[webhooks]]\nurl = "{url}"\nsecret = "{secret}"\n'
    if events is not None:
        text += f"events = {json.dumps(events)}\n"
    if timeout is not None:
        text += f"timeout_seconds = {timeout}\n"
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text() + text)


def rent_and_activate(cli) -> dict:
    lease = cli.json("rent", "--hours", "1")
    cli("devchain", "pay", lease["payment"]["id"])
    return lease


def test_events_arrive_signed_and_once(cli, engine_home, rx):
    add_webhook(engine_home, rx.url)
    lease = rent_and_activate(cli)
    tick = cli.json("tick")
    assert tick["hooks_delivered"] == [f"payment_processing E-1 to {rx.url}"]
    cli("devchain", "mine")
    tick = cli.json("tick")
    assert tick["hooks_delivered"] == [f"lease_active E-2 to {rx.url}"]
    assert [e["event"] for e in rx.events] == ["payment_processing", "lease_active"]
    active = rx.events[1]
    assert active["id"] == "E-2" and active["lease_id"] == lease["id"]
    assert active["lease"]["status"] == "active" and active["network"] == "regtest"
    assert cli.json("tick")["hooks_delivered"] == []  # never twice
    listed = cli.json("hooks", "list")
    assert [(d["event"], d["kind"], d["target"], d["status"], d["attempts"]) for d in listed] \
        == [("E-1", "webhook", rx.url, "delivered", 1), ("E-2", "webhook", rx.url, "delivered", 1)]
    assert cli.json("hooks", "list", "--failed") == []


def test_a_captured_delivery_replayed_is_rejected(cli, home, rx):
    rec = Recorder()
    try:
        add_webhook(home, rx.url)
        add_webhook(home, rec.url)
        rent_and_activate(cli)
        cli("tick")
        assert len(rx.events) == 1 and len(rec.requests) == 1
        headers, body = rec.requests[0]
        stamp = receiver.verify(SECRET, headers["Cloudlease-Signature"], body)  # genuine
        assert abs(stamp - time.time()) < 60
        assert headers["Cloudlease-Event-Id"] == "E-1"
        assert json.loads(body)["event"] == "payment_processing"
        # the same bytes sent again (a replay): the receiver has processed E-1 already
        port = rx.server.server_address[1]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("POST", "/hook", body=body, headers={
            "Content-Type": "application/json",
            "Cloudlease-Signature": headers["Cloudlease-Signature"]})
        answer = conn.getresponse()
        assert answer.status == 409 and b"already processed" in answer.read()
        conn.close()
        # replayed later than the tolerance: refused on its timestamp alone
        with pytest.raises(receiver.Rejected, match="stale"):
            receiver.verify(SECRET, headers["Cloudlease-Signature"], body,
                            now=stamp + receiver.TOLERANCE + 1)
        # a tampered body or another secret never verifies
        with pytest.raises(receiver.Rejected, match="bad signature"):
            receiver.verify(SECRET, headers["Cloudlease-Signature"], body + b" ")
        with pytest.raises(receiver.Rejected, match="bad signature"):
            receiver.verify("another-secret-0123456789", headers["Cloudlease-Signature"], body)
        assert len(rx.events) == 1  # acted on once
    finally:
        rec.close()


def test_an_old_timestamp_is_rejected_by_the_receiver(rx):
    hook = Webhook(url=rx.url, secret=SECRET)
    event = {"event": "lease_active", "id": "E-77"}
    old = webhooks.deliver(hook, event, now=time.time() - receiver.TOLERANCE - 60)
    assert not old.ok and "HTTP 401" in old.error and "stale" in old.error
    assert webhooks.deliver(hook, event).ok and rx.events == [event]
    assert webhooks.sign(SECRET, 1700000000, b'{"a":1}') == \
        "t=1700000000,v1=" + __import__("hmac").new(
            SECRET.encode(), b'1700000000.{"a":1}', "sha256").hexdigest()


def test_a_failed_webhook_exits_9_keeps_the_change_and_retries_with_backoff(
        cli, home, rx, monkeypatch):
    add_webhook(home, rx.url)
    lease = rent_and_activate(cli)
    cli("devchain", "mine")
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:00:00Z")
    rx.fail_next = 1
    res = cli("tick", code=9)
    assert "webhook" in res.stderr and "HTTP 500" in res.stderr and "retried" in res.stderr
    assert cli.json("lease", "show", lease["id"])["status"] == "active"  # the change stands
    failed = cli.json("hooks", "list", "--failed")
    assert [(d["event"], d["status"], d["attempts"]) for d in failed] == [
        ("E-1", "pending", 1)]
    assert failed[0]["next_attempt_at"] == "2026-03-01T10:00:30Z"
    assert cli.json("tick")["hooks_delivered"] == []  # backing off: not yet
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:00:31Z")
    tick = cli.json("tick")
    assert tick["hooks_delivered"] == [f"lease_active E-1 to {rx.url}"]
    assert [e["id"] for e in rx.events] == ["E-1"]
    assert cli.json("hooks", "list", "--failed") == []


def test_redeliver(cli, home, rx, monkeypatch):
    add_webhook(home, rx.url)
    rent_and_activate(cli)
    cli("devchain", "mine")
    rx.fail_next = 2
    cli("tick", code=9)
    res = cli("hooks", "redeliver", "E-1", code=9)  # fails again: exit 9, still queued
    assert "failed again" in res.stderr
    out = cli.json("hooks", "redeliver", "E-1")
    assert out["hooks_delivered"] == [f"lease_active E-1 to {rx.url}"]
    assert [e["id"] for e in rx.events] == ["E-1"]
    # a webhook added later gets an old event when asked
    rec = Recorder()
    try:
        add_webhook(home, rec.url, secret="another-secret-for-the-recorder")
        out = cli.json("hooks", "redeliver", "E-1", "--to", rec.url)
        assert out["queued"] == [f"E-1/webhook:{rec.url}"] and len(rec.requests) == 1
    finally:
        rec.close()
    assert "no event" in cli.json("hooks", "redeliver", "E-99", code=3)["message"]
    assert "no receiver" in cli.json("hooks", "redeliver", "E-1", "--to",
                                     "https://elsewhere.example/x", code=3)["message"]


def test_events_filter(cli, home, rx):
    add_webhook(home, rx.url, events=["lease_active"])
    rent_and_activate(cli)
    assert cli.json("tick")["hooks_delivered"] == []  # payment_processing: not for it
    cli("devchain", "mine")
    cli("tick")
    assert [e["event"] for e in rx.events] == ["lease_active"]


def test_webhooks_run_outside_the_ledger_lock(cli, home, tmp_path):
    results = []

    def write_meanwhile(event: dict) -> None:  # another writer while the POST is open
        proc = run_cli("tenant", "add", f"from-{event['id'].lower()}", "--lock-timeout", "1",
                       "--json", env={"CLOUDLEASE_HOME": str(home)})
        results.append(proc.returncode)

    rx = Receiver(act=write_meanwhile)
    try:
        add_webhook(home, rx.url)
        rent_and_activate(cli)
        cli("tick")
    finally:
        rx.close()
    assert results == [0]
    assert [t["name"] for t in cli.json("tenant", "list")] == ["from-e-1"]


def test_redirects_timeouts_and_dead_ends_fail_cleanly(cli, home):
    moved = Recorder(status=302, headers={"Location": "http://127.0.0.1:1/elsewhere"})
    slow = Recorder(delay=3)
    try:
        add_webhook(home, moved.url)
        add_webhook(home, slow.url, timeout=1)
        add_webhook(home, "http://127.0.0.1:1/closed")
        rent_and_activate(cli)
        started = time.monotonic()
        tick = cli.json("tick", code=9)
        assert time.monotonic() - started < 2.8  # the slow one was cut at 1 s
        errors = {h["target"]: h["error"] for h in tick["hooks_failed"]}
        assert "redirects (HTTP 302)" in errors[moved.url]
        assert "does not follow redirects" in errors[moved.url]
        assert errors[slow.url] == "timed out: no complete answer within 1 s"
        assert "connection failed" in errors["http://127.0.0.1:1/closed"]
        assert len(moved.requests) == 1  # not followed
    finally:
        moved.close()
        slow.close()


def test_a_drip_fed_answer_is_cut_at_the_total_deadline():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while not stop.is_set():  # one header byte every 0.2 s: never idle long enough
            try:
                conn.sendall(b"X")
            except OSError:
                break
            time.sleep(0.2)
        conn.close()

    threading.Thread(target=drip, daemon=True).start()
    hook = Webhook(url=f"http://127.0.0.1:{listener.getsockname()[1]}/",
                   secret=SECRET, timeout_seconds=Decimal(1))
    started = time.monotonic()
    out = webhooks.deliver(hook, {"event": "lease_active", "id": "E-1"})
    stop.set()
    listener.close()
    assert not out.ok and out.error == "timed out: no complete answer within 1 s"
    assert time.monotonic() - started < 2


def test_the_secret_never_shows(cli, home, tmp_path, monkeypatch):
    env_dump = tmp_path / "env.txt"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\nenv > {env_dump}\ncat > /dev/null\n")
    hook.chmod(0o755)
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace("[hooks]\n", f'[hooks]\nlease_active = "{hook}"\n'))
    add_webhook(home, "http://127.0.0.1:1/down")  # fails: its error is printed too
    monkeypatch.setenv("CLOUDLEASE_WEBHOOK_SECRET", SECRET)  # even in the caller's env
    lease = rent_and_activate(cli)
    cli("devchain", "mine")
    seen = []
    seen.append(cli("tick", code=9))
    for args in (["hooks", "list"], ["hooks", "list", "--json"], ["lease", "show", lease["id"]],
                 ["verify"], ["ledger", "dump"], ["hooks", "list", "--failed", "--json"]):
        seen.append(cli(*args))
    seen.append(cli("hooks", "redeliver", "E-1", code=9))
    for res in seen:
        assert SECRET not in res.stdout and SECRET not in res.stderr
    assert env_dump.exists() and SECRET not in env_dump.read_text()
    assert SECRET not in cli.ledger_snapshot()


def test_a_url_with_credentials_or_a_query_never_shows_them(cli, home):
    rec = Recorder()
    port = rec.server.server_address[1]
    try:
        add_webhook(home, f"http://hook-user:hook-pass-123@127.0.0.1:{port}/rec?token=tok-456")
        rent_and_activate(cli)
        tick = cli("tick", "--json")
        assert len(rec.requests) == 1  # delivered, with Basic auth from the URL
        assert rec.requests[0][0]["Authorization"].startswith("Basic ")
        listed = cli("hooks", "list", "--json").stdout + cli("hooks", "list").stdout
        for text in (tick.stdout, tick.stderr, listed, cli.ledger_snapshot()):
            assert "hook-pass-123" not in text and "tok-456" not in text
        target = json.loads(listed.splitlines()[0])[0]["target"]
        assert target.startswith(f"http://127.0.0.1:{port}/rec (")
    finally:
        rec.close()


@pytest.mark.parametrize("table,fragment", [
    ('url = "http://example.com/x"\nsecret = "0123456789abcdef"', "https"),
    ('url = "https://example.com/x"\nsecret = "short"', "16 characters"),
    ('url = "https://example.com/x"\nsecret = "0123456789abcdef"\nevents = ["lease_born"]',
     "unknown event"),
])
def test_bad_webhook_config_is_refused(cli, home, table, fragment):
    cfg = home / "config.toml"
    good = cfg.read_text()
    before = cli.ledger_snapshot()
    cfg.write_text(good + f"\n[[webhooks]]\n{table}\n")
    err = cli.json("tick", code=5)
    assert fragment in err["message"] and "webhooks[1]" in err["message"]
    cfg.write_text(good)
    assert cli.ledger_snapshot() == before


def test_https_and_loopback_urls_are_accepted(cli, home):
    for n, url in enumerate(("https://hooks.example.com/cl?team=ops", "http://[::1]:9/x",
                             "http://localhost:9/x")):
        add_webhook(home, url, secret=f"0123456789abcdef{n}")
    cli("tick")
