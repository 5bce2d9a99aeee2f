"""Lightning through the CLI on the simulated node (the default of a regtest home on the
devchain): rent → devchain ln-pay → tick → active, on SQLite and PostgreSQL; both ways to
pay; the other way cancelled; refunds; expiry; the bad inputs and their exit codes."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from cloudlease.lightning.bolt11check import decode
from tests.conftest import VPUB

T0 = "2026-03-01T10:00:00Z"


@pytest.fixture
def home(engine_home: Path) -> Path:
    return engine_home


def at(monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    monkeypatch.setenv("CLOUDLEASE_NOW", when)


def set_config(home: Path, old: str, new: str) -> None:
    cfg = home / "config.toml"
    text = cfg.read_text()
    assert old in text
    cfg.write_text(text.replace(old, new, 1))


def test_the_default_home_offers_both_ways(cli, home, monkeypatch):
    at(monkeypatch, T0)
    lease = cli.json("rent", "--hours", "2")
    p = lease["payment"]
    assert p["methods"] == ["onchain", "lightning"]
    ln = p["lightning"]
    assert ln["node"] == "devchain" and ln["simulated"] is True
    assert ln["amount_msat"] == p["amount_sats"] * 1000 == 2_000_000
    assert ln["expires_at"] == p["expires_at"] == "2026-03-01T10:15:00Z"
    assert ln["invoice"].startswith("lnbcrt20u1") and ln["uri"] == "lightning:" + ln["invoice"]
    assert re.fullmatch(r"[0-9a-f]{64}", ln["payment_hash"])
    assert ln["paid_msat"] == 0 and ln["preimage"] is None
    d = decode(ln["invoice"], source="test")
    assert (d.amount_msat, d.payment_hash, d.description) == (
        2_000_000, ln["payment_hash"], "cloudlease: 2 h of standard")
    # BIP321: the address and the invoice in one URI, the invoice last
    assert p["uri"].startswith(f"bitcoin:{p['address']}?amount=0.00002&")
    assert p["uri"].endswith("&lightning=" + ln["invoice"])
    # people see both, with the simulated node named
    out = cli("pay", "show", p["id"]).stdout
    assert "Lightning (simulated node)" in out and "or   Lightning" in out
    assert ln["uri"] in out


def test_lightning_payment_activates_in_one_pass(cli, home, tmp_path, monkeypatch):
    log = tmp_path / "events.jsonl"
    script = tmp_path / "hook.sh"
    script.write_text(f"#!/bin/sh\ncat >> {log}; echo >> {log}\n")
    script.chmod(0o755)
    set_config(home, "[hooks]\n", f'[hooks]\nlease_active = "{script}"\n'
                                  f'payment_processing = "{script}"\n')
    at(monkeypatch, T0)
    lease = cli.json("rent", "--hours", "2", "--method", "lightning")
    p = lease["payment"]
    assert p["methods"] == ["lightning"] and p["address"] is None and p["wallet"] is None
    assert p["uri"] == "lightning:" + p["lightning"]["invoice"]
    assert cli.json("pay", "check", p["id"], code=7)["statuses"] == {p["id"]: "new"}
    at(monkeypatch, "2026-03-01T10:03:00Z")
    paid = cli.json("devchain", "ln-pay", p["id"])
    assert paid["paid_msat"] == 2_000_000
    at(monkeypatch, "2026-03-01T10:03:30Z")
    tick = cli.json("tick")
    assert tick["lightning"] == "devchain"
    assert {"id": p["id"], "from": "new", "to": "settled"} in tick["transitions"]
    assert {"id": lease["id"], "from": "awaiting_payment", "to": "active"} in tick["transitions"]
    events = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    assert [e["event"] for e in events] == ["lease_active"]  # no payment_processing
    shown = cli.json("lease", "show", lease["id"])
    assert shown["status"] == "active" and shown["starts_at"] == "2026-03-01T10:03:30Z"
    req = cli.json("pay", "show", p["id"])
    assert req["status"] == "settled" and req["settled_at"] == "2026-03-01T10:03:00Z"
    assert req["lightning"]["preimage"] == paid["preimage"]
    assert req["lightning"]["settled_at"] == "2026-03-01T10:03:00Z"
    assert req["lightning"]["paid_msat"] == 2_000_000 and req["flags"] == []
    assert paid["preimage"] in cli("pay", "show", p["id"]).stdout
    cli.json("pay", "check", p["id"])  # exit 0
    before = cli.ledger_snapshot()
    assert cli.json("tick")["transitions"] == []
    assert cli.ledger_snapshot() == before  # nothing more to write
    cli("verify")


def test_the_payment_is_booked_with_its_preimage(cli, home, monkeypatch):
    from cloudlease.ops.context import Context

    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    paid = cli.json("devchain", "ln-pay", lease["payment"]["id"])
    cli("tick")
    ctx = Context.at(home)
    try:
        ledger = ctx.read()
        pay = ledger.payments[f"ln:{paid['payment_hash']}"]
        assert (pay.method, pay.sats, pay.preimage, pay.request) == (
            "lightning", 1000, paid["preimage"], lease["payment"]["id"])
    finally:
        ctx.close()


def test_settled_before_expiry_is_never_late(cli, home, monkeypatch):
    at(monkeypatch, T0)
    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    at(monkeypatch, "2026-03-01T10:14:00Z")
    cli("devchain", "ln-pay", lease["payment"]["id"])
    at(monkeypatch, "2026-03-01T10:40:00Z")  # the cron run comes late
    tick = cli.json("tick")
    assert {"id": lease["payment"]["id"], "from": "new", "to": "settled"} in tick["transitions"]
    req = cli.json("pay", "show", lease["payment"]["id"])
    assert "late" not in req["flags"] and req["settled_at"] == "2026-03-01T10:14:00Z"
    assert cli.json("lease", "show", lease["id"])["status"] == "active"


def test_an_unpaid_invoice_expires_with_its_request(cli, home, monkeypatch):
    at(monkeypatch, T0)
    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    rid = lease["payment"]["id"]
    at(monkeypatch, "2026-03-01T10:15:00Z")
    err = cli.json("devchain", "ln-pay", rid, code=4)  # the node refuses it, as a real one does
    assert "expired" in err["message"]
    at(monkeypatch, "2026-03-01T10:15:01Z")
    assert cli.json("pay", "check", rid, code=8)["statuses"] == {rid: "expired"}
    assert cli.json("lease", "show", lease["id"])["status"] == "expired"


def test_wrong_amounts_are_refused_by_the_node(cli, home):
    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    rid = lease["payment"]["id"]
    before = cli.ledger_snapshot()
    assert "less than the amount" in cli.json("devchain", "ln-pay", rid, "--msat", "999999",
                                              code=2)["message"]
    assert "twice" in cli.json("devchain", "ln-pay", rid, "--msat", "2000001", code=2)["message"]
    assert cli.ledger_snapshot() == before
    cli("devchain", "ln-pay", rid, "--msat", "1500000")  # a payer may overpay
    cli("tick")
    req = cli.json("pay", "show", rid)
    assert req["status"] == "settled" and req["lightning"]["paid_msat"] == 1_500_000
    assert req["flags"] == ["overpaid", "refund_due"] and req["refund_sats"] == 500


def test_paid_onchain_cancels_the_invoice(cli, home, monkeypatch):
    lease = cli.json("rent", "--hours", "1")
    rid = lease["payment"]["id"]
    cli("devchain", "pay", rid)
    cli("devchain", "mine")
    tick = cli.json("tick")
    assert {"id": rid, "from": "new", "to": "settled"} in tick["transitions"]
    assert tick["ln_cancelled"] == [rid]
    err = cli.json("devchain", "ln-pay", rid, code=4)
    assert "cancelled" in err["message"]
    req = cli.json("pay", "show", rid)
    assert req["flags"] == [] and req["lightning"]["paid_msat"] == 0
    assert cli.json("tick")["ln_cancelled"] == []  # once


def test_paid_both_ways_flags_the_surplus_for_refund(cli, home):
    lease = cli.json("rent", "--hours", "1")
    rid = lease["payment"]["id"]
    cli("devchain", "ln-pay", rid)
    assert cli.json("tick")["transitions"][0] == {"id": rid, "from": "new", "to": "settled"}
    cli("devchain", "pay", rid, "--sats", "1000")
    tick = cli.json("tick")  # seen, not confirmed: overpaid, nothing due back yet
    assert tick["refunds_due"] == [] and tick["transitions"] == []
    assert cli.json("pay", "show", rid)["flags"] == ["overpaid"]
    cli("devchain", "mine")
    assert f"refund due on {rid}: 1,000 sat" in cli("tick").stdout
    req = cli.json("pay", "show", rid)
    assert req["status"] == "settled" and req["flags"] == ["overpaid", "refund_due"]
    assert req["refund_sats"] == 1000 and req["paid_sats"] == 2000 and req["due_sats"] == 0
    assert "refund due: 1,000 sat" in cli("pay", "show", rid).stdout
    assert cli.json("tick")["refunds_due"] == []  # flagged once
    assert cli.json("lease", "show", lease["id"])["status"] == "active"
    cli("verify")


def test_onchain_first_then_an_uncancellable_invoice_paid_too(cli, home, monkeypatch):
    """Electrum cannot cancel an invoice: a customer may still pay it after the request
    settled on-chain. Here the simulated node is made to forget the cancel."""
    from cloudlease.lightning.devnode import DevNode

    lease = cli.json("rent", "--hours", "1")
    rid, inv = lease["payment"]["id"], lease["payment"]["lightning"]["invoice"]
    monkeypatch.setattr(DevNode, "cancel", lambda self, invoice: False)
    cli("devchain", "pay", rid)
    cli("devchain", "mine")
    assert cli.json("tick")["ln_cancelled"] == []
    cli("devchain", "ln-pay", inv)  # by invoice text this time
    tick = cli.json("tick")
    assert tick["refunds_due"] == [{"id": rid, "sats": 1000}]
    req = cli.json("pay", "show", rid)
    assert req["flags"] == ["overpaid", "refund_due"] and req["lightning"]["preimage"]


def test_a_cancelled_lease_cancels_its_invoice(cli, home):
    lease = cli.json("rent", "--hours", "1")
    cli("lease", "cancel", lease["id"], "--yes")
    err = cli.json("devchain", "ln-pay", lease["payment"]["id"], code=4)
    assert "cancelled" in err["message"]


def test_paid_after_its_lease_was_cancelled_is_due_back(cli, home, monkeypatch):
    from cloudlease.lightning.devnode import DevNode

    monkeypatch.setattr(DevNode, "cancel", lambda self, invoice: False)
    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    rid = lease["payment"]["id"]
    cli("lease", "cancel", lease["id"], "--yes")
    cli("devchain", "ln-pay", rid)
    tick = cli.json("tick")
    assert tick["refunds_due"] == [{"id": rid, "sats": 1000}]
    req = cli.json("pay", "show", rid)
    assert req["status"] == "expired" and "refund_due" in req["flags"]
    assert req["refund_sats"] == 1000
    assert cli.json("lease", "show", lease["id"])["status"] == "cancelled"
    assert "lease was cancelled" in cli.json("pay", "accept", rid, code=4)["message"]


def test_extend_and_fund_and_invest_over_lightning(cli, home, monkeypatch):
    at(monkeypatch, T0)
    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    cli("devchain", "ln-pay", lease["payment"]["id"])
    cli("tick")
    ext = cli.json("lease", "extend", lease["id"], "--hours", "2", "--method", "lightning")
    assert ext["payment"]["lightning"]["amount_msat"] == 2_000_000
    assert decode(ext["payment"]["lightning"]["invoice"], source="t").description == \
        f"cloudlease {lease['id']}: 2 more h of standard"
    cli("devchain", "ln-pay", ext["payment"]["id"])
    cli("tick")
    shown = cli.json("lease", "show", lease["id"])
    assert shown["paid_hours"] == 3 and shown["ends_at"] == "2026-03-01T13:00:00Z"
    # pools: funded over Lightning, unchanged otherwise
    cli("tenant", "add", "alice")
    cli("pool", "add", "gpu", "--slots", "2", "--cost-per-hour", "10 sat",
        "--consideration", "ownership", "--investor-pct", "20")
    cli("plan", "add", "gpu-hour", "--price-per-hour", "2000 sat", "--pool", "gpu")
    fund = cli.json("pool", "fund", "gpu", "--tenant", "alice", "--amount", "50000 sat",
                    "--method", "lightning")
    assert fund["payment"]["lightning"]["amount_msat"] == 50_000_000
    rent = cli.json("rent", "--hours", "1", "--plan", "gpu-hour", "--tenant", "alice",
                    "--invest", "30000 sat", "--method", "lightning")
    assert rent["payment"]["lightning"]["amount_msat"] == 32_000_000
    cli("devchain", "ln-pay", fund["payment"]["id"])
    cli("devchain", "ln-pay", rent["payment"]["id"])
    cli("tick")
    pool = cli.json("pool", "show", "gpu")
    assert {c["status"] for c in pool["contributions"]} == {"settled"}
    assert sum(c["amount_sats"] for c in pool["contributions"]) == 80_000
    assert pool["funding_sats"] >= 80_000 + 2_000 - 10
    risk = cli.json("risk")
    assert risk[0]["tenants"][0]["principal_sats"] == 80_000


def test_lightning_only_uses_no_address(cli, home):
    before = cli.json("wallet", "show")
    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    after = cli.json("wallet", "show")
    assert after["addresses"] == before["addresses"]
    assert after["next_index"] == before["next_index"]
    err = cli.json("devchain", "pay", lease["payment"]["id"], code=2)
    assert "ln-pay" in err["message"]


def test_method_onchain_has_no_invoice(cli, home):
    p = cli.json("rent", "--hours", "1", "--method", "onchain")["payment"]
    assert p["methods"] == ["onchain"] and p["lightning"] is None and "lightning=" not in p["uri"]
    err = cli.json("devchain", "ln-pay", p["id"], code=2)
    assert "no Lightning invoice" in err["message"]


@pytest.mark.parametrize("args", [
    ["rent", "--hours", "1", "--method", "lightning"],
    ["rent", "--hours", "1", "--method", "both"],
    ["lease", "extend", "L-1", "--hours", "1", "--method", "lightning"],
    ["pool", "fund", "gpu", "--tenant", "bob", "--amount", "1000 sat", "--method", "both"],
])
def test_lightning_without_a_backend_is_a_usage_error(cli, tmp_path, monkeypatch, args):
    monkeypatch.setenv("CLOUDLEASE_HOME", str(tmp_path / "h"))
    cli.home = tmp_path / "h"
    cli("init", "--lightning", "none")
    cli("tenant", "add", "bob")
    cli("pool", "add", "gpu", "--slots", "1", "--cost-per-hour", "1 sat",
        "--consideration", "ownership", "--investor-pct", "10")
    lease = cli.json("rent", "--hours", "1")  # onchain by default without a backend
    assert lease["payment"]["methods"] == ["onchain"] and lease["payment"]["lightning"] is None
    before = cli.ledger_snapshot()
    err = cli.json(*args, code=2)
    assert err["code"] == "lightning_not_configured"
    assert "[lightning] backend" in err["message"] and "--method onchain" in err["message"]
    assert "\n" not in err["message"]
    assert cli.ledger_snapshot() == before
    assert not (tmp_path / "h" / "devchain-ln.json").exists()


def test_bad_method(cli, home):
    before = cli.ledger_snapshot()
    err = cli.json("rent", "--hours", "1", "--method", "paypal", code=2)
    assert "onchain, lightning or both" in err["message"]
    assert cli.ledger_snapshot() == before


def test_a_host_without_the_node_leaves_invoices_alone(cli, home, monkeypatch):
    at(monkeypatch, T0)
    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    set_config(home, 'backend = "devchain"', 'backend = "none"')
    at(monkeypatch, "2026-03-01T11:00:00Z")
    before = cli.ledger_snapshot()
    tick = cli.json("tick")
    assert tick["transitions"] == [] and "no [lightning] backend" in tick["notes"][0]
    assert cli.ledger_snapshot() == before  # not expired on uncertain data
    assert cli.json("pay", "check", lease["payment"]["id"], code=7)
    assert "backend is none" in cli.json("devchain", "ln-pay", "P-1", code=2)["message"]


def test_idempotency_key_returns_the_same_request(cli, home):
    a = cli.json("rent", "--hours", "1", "--idempotency-key", "k-1")
    b = cli.json("rent", "--hours", "1", "--idempotency-key", "k-1")
    assert b["created"] is False and b["payment"]["lightning"] == a["payment"]["lightning"]
    state = json.loads((home / "devchain-ln.json").read_text())
    assert len(state["invoices"]) == 1  # no invoice made for the second call


def test_rent_wait_sees_a_lightning_payment_fast(cli, home):
    """``rent --wait`` polls the node every 0.2 s: a payment made while it waits is seen
    within a second (the bound here is loose; the benchmark prints the figure)."""
    from cloudlease.lightning.devnode import DevNode

    node = DevNode(home / "devchain-ln.json")
    paid_at: list[float] = []

    def pay_when_asked() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            state = json.loads((home / "devchain-ln.json").read_text()) \
                if (home / "devchain-ln.json").exists() else {"invoices": {}}
            if state["invoices"]:
                time.sleep(0.5)
                node.pay(next(iter(state["invoices"])))
                paid_at.append(time.monotonic())
                return
            time.sleep(0.05)

    t = threading.Thread(target=pay_when_asked)
    t.start()
    res = cli("rent", "--hours", "1", "--method", "lightning", "--wait")
    done = time.monotonic()
    t.join()
    assert "active" in res.stdout
    assert paid_at and done - paid_at[0] < 5


@pytest.fixture
def descriptor_home(cli, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CLOUDLEASE_HOME", str(tmp_path / "d"))
    cli.home = tmp_path / "d"
    cli("init", "--xpub", VPUB)
    return cli.home


def test_init_choices(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_HOME", str(tmp_path / "a"))
    assert cli.json("init")["lightning"] == "devchain"
    monkeypatch.setenv("CLOUDLEASE_HOME", str(tmp_path / "b"))
    assert cli.json("init", "--lightning", "none")["lightning"] == "none"
    monkeypatch.setenv("CLOUDLEASE_HOME", str(tmp_path / "c"))
    assert cli.json("init", "--network", "testnet", "--xpub", VPUB)["lightning"] == "none"
    text = (tmp_path / "c" / "config.toml").read_text()
    assert '[lightning]\nbackend = "none"' in text


@pytest.mark.parametrize(("args", "words"), [
    (["--lightning", "eclair"], "--lightning must be one of"),
    (["--lightning", "electrum"], "needs --ln-url"),
    (["--lightning", "electrum", "--ln-url", "http://127.0.0.1:7777"], "RPC user and password"),
    (["--lightning", "lnd", "--ln-url", "http://127.0.0.1:8080"], "https://"),
    (["--lightning", "lnd", "--ln-url", "https://127.0.0.1:8080"], "--ln-macaroon"),
    (["--ln-url", "https://127.0.0.1:8080"], "need --lightning"),
    (["--network", "testnet", "--xpub", VPUB, "--lightning", "devchain"], "regtest only"),
    (["--lightning", "devchain", "--ln-url", "http://u:p@h:1"], "only apply"),
])
def test_init_bad_lightning_options(cli, tmp_path, monkeypatch, args, words):
    monkeypatch.setenv("CLOUDLEASE_HOME", str(tmp_path / "x"))
    err = cli.json("init", *args, code=2)
    assert words in err["message"]
    assert not (tmp_path / "x" / "config.toml").exists()


def test_init_lnd_macaroon_checks(cli, tmp_path, monkeypatch):
    from tests.lnd_server import make_cert

    cert, _ = make_cert(tmp_path / "lnd")
    mac = tmp_path / "invoice.macaroon"
    mac.write_bytes(b"\x02\x01macaroon")
    mac.chmod(0o644)
    monkeypatch.setenv("CLOUDLEASE_HOME", str(tmp_path / "x"))
    base = ["init", "--lightning", "lnd", "--ln-url", "https://127.0.0.1:8080",
            "--ln-tls-cert", str(cert)]
    err = cli.json(*base, "--ln-macaroon", str(mac), code=2)
    assert "can be read by others" in err["message"] and "chmod 600" in err["message"]
    err = cli.json(*base, "--ln-macaroon", str(tmp_path / "missing"), code=2)
    assert "does not exist" in err["message"]
    mac.chmod(0o600)
    res = cli.json(*base, "--ln-macaroon", str(mac))
    assert res["lightning"] == "lnd"
    text = (tmp_path / "x" / "config.toml").read_text()
    assert f'macaroon = "{mac}"' in text and f'tls_cert = "{cert}"' in text


def test_lightning_only_on_a_descriptor_wallet_keeps_the_index(cli, descriptor_home):
    first = cli.json("wallet", "show")["next_index"]
    cli.json("rent", "--hours", "1", "--method", "lightning")
    assert cli.json("wallet", "show")["next_index"] == first
    cli.json("rent", "--hours", "1")  # both: one address
    assert cli.json("wallet", "show")["next_index"] == first + 1


def test_the_simulated_node_on_a_full_disk_or_past_bolt11_time(cli, home, monkeypatch):
    import errno
    import os

    before = cli.ledger_snapshot()

    def failing_fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", failing_fsync)
        err = cli.json("rent", "--hours", "1", "--method", "lightning", code=5)
    assert "devchain-ln.json" in err["message"] and "disk is full" in err["message"]
    monkeypatch.setenv("CLOUDLEASE_NOW", "3100-01-01T00:00:00Z")
    err = cli.json("rent", "--hours", "1", code=6)
    assert "3058" in err["message"] and "--method onchain" in err["message"]
    assert cli.ledger_snapshot() == before
