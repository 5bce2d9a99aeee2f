"""The whole flow on the simulated chain through the CLI: rent → pay → tick → active."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.fixture
def home(engine_home: Path) -> Path:
    """Every flow runs with the ledger in SQLite and in PostgreSQL."""
    return engine_home


def pay_and_settle(cli, request_id: str) -> None:
    cli("devchain", "pay", request_id)
    cli("devchain", "mine")
    cli("tick")


def test_rent_pay_mine_tick_active(cli, home, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:00:00Z")
    lease = cli.json("rent", "--hours", "2")
    rid = lease["payment"]["id"]
    assert cli.json("pay", "check", rid, code=7)["statuses"][rid] == "new"
    paid = cli.json("devchain", "pay", rid)
    assert paid["sats"] == lease["payment"]["amount_sats"]
    tick = cli.json("tick")
    assert {"id": rid, "from": "new", "to": "processing"} in tick["transitions"]
    assert cli.json("lease", "show", lease["id"])["status"] == "awaiting_payment"
    cli("devchain", "mine")
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:05:00Z")
    cli.json("pay", "check", rid)  # exit 0: settled
    shown = cli.json("lease", "show", lease["id"])
    assert shown["status"] == "active"
    assert shown["starts_at"] == "2026-03-01T10:05:00Z"
    assert shown["ends_at"] == "2026-03-01T12:05:00Z"
    assert shown["payment"]["txids"] == [paid["txid"]]
    # idempotent: another tick changes nothing and writes nothing
    before = cli.ledger_snapshot()
    assert cli.json("tick")["transitions"] == []
    assert cli.ledger_snapshot() == before
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T12:05:00Z")
    assert {"id": lease["id"], "from": "active", "to": "ended"} in cli.json("tick")["transitions"]
    cli("verify")


def test_extend_moves_the_end(cli, home, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:00:00Z")
    lease = cli.json("rent", "--hours", "1")
    pay_and_settle(cli, lease["payment"]["id"])
    ext = cli.json("lease", "extend", lease["id"], "--hours", "3")
    assert ext["payment"]["purpose"] == "extend" and ext["payment"]["amount_sats"] == 3000
    pay_and_settle(cli, ext["payment"]["id"])
    shown = cli.json("lease", "show", lease["id"])
    assert shown["paid_hours"] == 4 and shown["ends_at"] == "2026-03-01T14:00:00Z"
    assert len(shown["payments"]) == 2
    cli("verify")


def test_extend_refused_for_a_closed_lease(cli, home):
    lease = cli.json("rent", "--hours", "1")
    cli("lease", "cancel", lease["id"], "--yes")
    err = cli.json("lease", "extend", lease["id"], "--hours", "1", code=4)
    assert "only an open lease" in err["message"]
    cli.json("lease", "extend", "L-77", "--hours", "1", code=3)
    cli.json("lease", "extend", lease["id"], "--hours", "0", code=2)


def test_expiry_and_late_payment_needs_the_operator(cli, home, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:00:00Z")
    lease = cli.json("rent", "--hours", "2")
    rid = lease["payment"]["id"]
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:16:00Z")
    tick = cli.json("tick")
    assert {"id": lease["id"], "from": "awaiting_payment", "to": "expired"} in \
        tick["transitions"]
    assert cli.json("pay", "check", rid, code=8)["statuses"][rid] == "expired"
    cli("devchain", "pay", rid)
    cli("devchain", "mine")
    cli("tick")
    shown = cli.json("lease", "show", lease["id"])
    assert shown["status"] == "expired" and "late" in shown["payment"]["flags"]
    err = cli.json("pay", "accept", "P-99", code=3)
    assert "no payment request" in err["message"]
    accepted = cli.json("pay", "accept", rid)
    assert accepted["request"]["status"] == "processing"
    assert accepted["lease"]["status"] == "awaiting_payment"
    cli("tick")
    assert cli.json("lease", "show", lease["id"])["status"] == "active"
    err = cli.json("pay", "accept", rid, code=4)
    assert "only an expired request" in err["message"]
    cli("verify")


def test_late_payment_requoted_asks_for_the_difference(cli, home, monkeypatch):
    cli("plan", "add", "gpu", "--price-per-hour", "1 USD")
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:00:00Z")
    lease = cli.json("rent", "--hours", "1", "--plan", "gpu")  # 1000 sat at 100k USD/BTC
    rid = lease["payment"]["id"]
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T11:00:00Z")
    cli("tick")
    cli("devchain", "pay", rid)
    cli("tick")
    accepted = cli.json("pay", "accept", rid, "--requote", "--rate", "50000")
    req = accepted["request"]
    assert req["status"] == "new" and req["amount_sats"] == 2000 and req["paid_sats"] == 1000
    assert req["expires_at"] == "2026-03-01T11:15:00Z"


def test_partial_then_rest(cli, home):
    lease = cli.json("rent", "--hours", "2")
    rid = lease["payment"]["id"]
    cli("devchain", "pay", rid, "--sats", "500")
    cli("devchain", "mine")
    cli("tick")
    req = cli.json("lease", "show", lease["id"])["payment"]
    assert req["status"] == "new" and "partial" in req["flags"]
    paid = cli.json("devchain", "pay", rid)
    assert paid["sats"] == 1500  # what is still missing
    cli("devchain", "mine")
    cli("tick")
    assert cli.json("lease", "show", lease["id"])["status"] == "active"


def test_rbf_replacement_is_not_counted_twice(cli, home):
    lease = cli.json("rent", "--hours", "2")
    rid = lease["payment"]["id"]
    tx = cli.json("devchain", "pay", rid, "--rbf")["txid"]
    cli("tick")
    new = cli.json("devchain", "replace", tx, "--sats", "2000")["txid"]
    cli("devchain", "mine")
    cli("tick")
    req = cli.json("lease", "show", lease["id"])["payment"]
    assert req["status"] == "settled" and req["paid_sats"] == 2000 and req["txids"] == [new]


def test_double_spend_away_never_activates(cli, home):
    lease = cli.json("rent", "--hours", "2")
    rid = lease["payment"]["id"]
    tx = cli.json("devchain", "pay", rid, "--rbf")["txid"]
    cli("tick")
    other = cli.json("rent", "--hours", "1")["payment"]["address"]  # someone else's address
    cli("devchain", "replace", tx, "--to", other)
    cli("devchain", "mine")
    cli("tick")
    shown = cli.json("lease", "show", lease["id"])
    assert shown["status"] == "awaiting_payment" and shown["payment"]["paid_sats"] == 0


def test_reorg_suspends_then_restores(cli, home):
    lease = cli.json("rent", "--hours", "2")
    pay_and_settle(cli, lease["payment"]["id"])
    cli("devchain", "reorg")
    cli("tick")
    shown = cli.json("lease", "show", lease["id"])
    assert shown["status"] == "suspended" and shown["payment"]["status"] == "processing"
    cli("verify")
    cli("devchain", "mine")
    cli("tick")
    assert cli.json("lease", "show", lease["id"])["status"] == "active"


def test_hooks_fire_once_and_retry_on_failure(cli, home, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_RPC_URL", "http://user:SECRET@127.0.0.1:1")
    log = tmp_path / "events.jsonl"
    flag = tmp_path / "fail"
    flag.write_text("x")
    script = tmp_path / "hook.sh"
    script.write_text(f"#!/bin/sh\n[ -e {flag} ] && {{ echo boom >&2; exit 3; }}\n"
                      f"cat >> {log}; echo >> {log}\n"
                      f"env | grep -c SECRET >> {tmp_path}/env; exit 0\n")
    script.chmod(0o755)
    config = home / "config.toml"
    config.write_text(config.read_text().replace(
        "[hooks]\n", f'[hooks]\nlease_active = "{script}"\npayment_processing = "{script}"\n'))
    lease = cli.json("rent", "--hours", "1")
    cli("devchain", "pay", lease["payment"]["id"])
    tick = cli.json("tick", code=9)  # a failed hook: exit 9, the ledger change stands
    assert tick["hooks_failed"] and "exit 3" in tick["hooks_failed"][0]["error"]
    assert cli.json("lease", "show", lease["id"])["payment"]["status"] == "processing"
    flag.unlink()
    cli("devchain", "mine")
    tick = cli.json("tick")  # retries the failed one, fires the new one
    assert len(tick["hooks_delivered"]) == 2
    events = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert [e["event"] for e in events] == ["payment_processing", "lease_active"]
    assert events[1]["lease"]["id"] == lease["id"] and events[1]["lease_id"] == lease["id"]
    assert cli.json("tick")["hooks_delivered"] == []  # never twice
    assert "wif" not in log.read_text()
    assert set((tmp_path / "env").read_text().split()) == {"0"}  # caller's env not passed on


def test_pay_show_writes_qr_files(cli, home, tmp_path):
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    lease = cli.json("rent", "--hours", "1")
    png, svg = tmp_path / "qr.png", tmp_path / "qr.svg"
    shown = cli.json("pay", "show", lease["payment"]["id"], "--qr-png", str(png),
                     "--qr-svg", str(svg))
    assert shown["written"] == [str(png), str(svg)]
    decoded = zxingcpp.read_barcodes(Image.open(png))
    assert decoded[0].text.lower() == lease["payment"]["uri"].lower()
    assert svg.read_text().startswith("<?xml")
    err = cli.json("pay", "show", lease["payment"]["id"], "--qr-png", str(png), code=2)
    assert "exists" in err["message"]
    err = cli.json("pay", "show", lease["payment"]["id"], "--qr-png",
                   str(tmp_path / "no" / "dir" / "x.png"), code=2)
    assert "cannot write" in err["message"]


class _Fault(BaseHTTPRequestHandler):
    mode = "500"

    def do_GET(self):  # noqa: N802
        if self.mode == "500":
            self.send_response(500)
            self.end_headers()
        elif self.mode == "json":
            body = b"{not json"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.mode == "empty":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("mode", ["500", "json", "empty", "refused"])
def test_backend_trouble_is_exit_6_and_changes_nothing(cli, tmp_path, mode):
    home = cli.home
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Fault,), {"mode": mode}))
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        if mode == "refused":
            server.shutdown()
            server.server_close()
        url = f"http://127.0.0.1:{port}"
        cli("init", "--backend", "esplora", "--esplora-url", url)
        config = home / "config.toml"
        config.write_text(config.read_text().replace("timeout_seconds = 10",
                                                     "timeout_seconds = 1"))
        cli("rent", "--hours", "1")
        before = cli.ledger_snapshot()
        err = cli.json("tick", code=6)
        assert err["code"] == "backend_unavailable" and "127.0.0.1" in err["message"]
        cli.json("pay", "check", "P-1", code=6)
        assert cli.ledger_snapshot() == before
    finally:
        if mode != "refused":
            server.shutdown()
            server.server_close()


def test_esplora_backend_against_devchain_serve(cli, esplora_home):
    lease = cli.json("rent", "--hours", "1")
    pay_and_settle(cli, lease["payment"]["id"])
    assert cli.json("lease", "show", lease["id"])["status"] == "active"
    assert cli.json("tick")["backend"] == "esplora"


def test_devchain_refuses_other_networks(cli, tmp_path):
    cli("init", "--network", "testnet")
    err = cli.json("devchain", "mine", code=2)
    assert "regtest" in err["message"]


def test_rent_wait_in_a_real_process(home, tmp_path):
    import subprocess
    import sys
    import time

    env = {"CLOUDLEASE_HOME": str(home), "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "cloudlease", "rent", "--hours", "1",
                             "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**__import__("os").environ, **env})
    try:
        deadline = time.monotonic() + 120  # a busy machine may take a while to start it
        while time.monotonic() < deadline:
            shown = run_cli("lease", "list", "--json", env=env)
            if shown.returncode == 0 and json.loads(shown.stdout):
                break
            time.sleep(0.2)
        assert run_cli("devchain", "pay", "P-1", env=env).returncode == 0
        assert run_cli("devchain", "mine", env=env).returncode == 0
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "active" in out


def test_watch_runs_ticks(cli, home):
    lease = cli.json("rent", "--hours", "1")
    cli("devchain", "pay", lease["payment"]["id"])
    cli("devchain", "mine")
    out = cli("watch", "--interval", "0.1", "--count", "2", "--json").stdout
    ticks = [json.loads(line) for line in out.splitlines()]
    assert len(ticks) == 2 and ticks[0]["transitions"] and not ticks[1]["transitions"]


def test_wallet_show_never_prints_keys_unless_asked(cli, keys_home):
    home = keys_home
    cli("rent", "--hours", "1")
    keys = Path(home / "keys.toml").read_text()
    out = cli("wallet", "show", "--json").stdout
    assert "wif" not in out and json.loads(out)["kind"] == "keys"
    cli.json("wallet", "show", "--reveal", code=2)
    human = cli("wallet", "show", "--reveal", input="n\n", code=2)
    assert "wif" not in human.stdout
    shown = cli("wallet", "show", "--reveal", "--yes").stdout
    wif = [line.split('"')[1] for line in keys.splitlines() if line.strip().startswith("wif")][0]
    assert wif in shown


def test_devchain_serve_command_answers_esplora(home):
    import os
    import subprocess
    import sys
    import urllib.request

    env = {**os.environ, "CLOUDLEASE_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "cloudlease", "devchain", "serve",
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "simulated" in line
        url = line.split(" at ")[1].strip()
        with urllib.request.urlopen(url + "/blocks/tip/height", timeout=5) as answer:
            assert answer.read() == b"0"
        assert run_cli("devchain", "mine", env={"CLOUDLEASE_HOME": str(home)}).returncode == 0
        with urllib.request.urlopen(url + "/blocks/tip/height", timeout=5) as answer:
            assert answer.read() == b"1"  # it reads the chain file afresh
    finally:
        proc.terminate()
        proc.communicate(timeout=120)


def test_tick_with_nothing_open_does_not_need_the_chain(cli, tmp_path):
    cli("init", "--backend", "esplora", "--esplora-url", "http://127.0.0.1:9")  # nothing there
    tick = cli.json("tick")
    assert tick["checked"] == [] and tick["tip_height"] is None
    cli("rent", "--hours", "1")
    assert cli.json("tick", code=6)["code"] == "backend_unavailable"


def test_payments_table_keeps_each_output(cli, home):
    """Every output paying a request is a row of ``payments``: seen, confirmed, gone."""
    from cloudlease.ops.context import Context

    lease = cli.json("rent", "--hours", "1")
    rid = lease["payment"]["id"]
    first = cli.json("devchain", "pay", rid, "--sats", "400", "--rbf")
    cli("tick")
    ctx = Context.at(home)
    rows = ctx.read().payments.where("request = ?", (rid,))
    assert [(p.id, p.status.value, p.sats) for p in rows] == [
        (f"{first['txid']}:0", "seen", 400)]
    replaced = cli.json("devchain", "replace", first["txid"], "--sats", "1000")
    cli("devchain", "mine")
    cli("tick")
    rows = {p.id: p for p in ctx.read().payments.where("request = ?", (rid,))}
    assert rows[f"{first['txid']}:0"].status.value == "gone"
    assert rows[f"{replaced['txid']}:0"].status.value == "confirmed"
    assert rows[f"{replaced['txid']}:0"].height == 1
    ctx.close()
    assert cli.json("lease", "show", lease["id"])["status"] == "active"
    cli("verify", "--full")
