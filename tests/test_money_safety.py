"""Money that could be lost or billed twice, through the CLI: removing a tenant money is
tied to, repeated payment requests (idempotency keys, one open extension), and what a
payer is asked for after a partial payment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

POOL = ["pool", "add", "gpu", "--slots", "4", "--cost-per-hour", "10 sat",
        "--consideration", "revenue_share", "--investor-pct", "20", "--period-months", "3"]


@pytest.fixture
def home(engine_home: Path) -> Path:
    return engine_home


@pytest.fixture
def pooled(cli, home, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-10T10:00:00Z")
    cli(*POOL)
    cli("plan", "add", "gpu-hour", "--price-per-hour", "2000 sat", "--pool", "gpu")
    for name in ("alice", "bob", "carol", "dave"):
        cli("tenant", "add", name)
    cfg = home / "config.toml"  # what an invoice needs to be issued
    cfg.write_text(cfg.read_text().replace('name = ""', 'name = "Example Compute Ltd"', 1)
                   .replace('address = ""', 'address = "1 Main St, Springfield"', 1))
    return home


def settle(cli, request_id: str) -> None:
    cli("devchain", "pay", request_id)
    cli("devchain", "mine")
    cli("tick")


def refused(cli, *args: str) -> str:
    before = cli.ledger_snapshot()
    err = cli.json(*args, code=4)
    assert cli.ledger_snapshot() == before
    return err["message"]


def test_tenant_remove_refuses_while_money_is_tied_to_the_tenant(cli, pooled, monkeypatch):
    fund = cli.json("pool", "fund", "gpu", "--tenant", "alice", "--amount", "600000 sat")
    settle(cli, fund["payment"]["id"])
    why = refused(cli, "tenant", "remove", "alice", "--yes")
    assert "stake of 600,000 sat in pool gpu" in why
    assert "alice" in [r["tenant"] for r in cli.json("risk")[0]["tenants"]]

    lease = cli.json("rent", "--hours", "1", "--plan", "gpu-hour", "--tenant", "bob")
    assert f"open leases ({lease['id']})" in refused(cli, "tenant", "remove", "bob", "--yes")
    cli("lease", "cancel", lease["id"], "--yes")  # unpaid: nothing is tied to bob any more
    cli("tenant", "remove", "bob", "--yes")

    pending = cli.json("pool", "fund", "gpu", "--tenant", "carol", "--amount", "5000 sat")
    why = refused(cli, "tenant", "remove", "carol", "--yes")
    assert f"open payment requests ({pending['payment']['id']})" in why

    rental = cli.json("rent", "--hours", "1", "--plan", "gpu-hour", "--tenant", "dave")
    settle(cli, rental["payment"]["id"])
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-10T12:00:00Z")
    cli("tick")  # the lease ends; its payment was never invoiced
    assert cli.json("lease", "show", rental["id"])["status"] == "ended"
    why = refused(cli, "tenant", "remove", "dave", "--yes")
    assert f"settled payments on no issued invoice ({rental['payment']['id']})" in why
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-04-02T09:00:00Z")
    draft = cli.json("invoice", "create", "--tenant", "dave", "--period", "2026-03")
    cli("invoice", "issue", draft["id"])
    cli("tenant", "remove", "dave", "--yes")  # billed: nothing tied any more
    assert "dave" not in [t["name"] for t in cli.json("tenant", "list")]
    assert "history keeps the name" in refused(cli, "tenant", "add", "dave")


def test_idempotency_keys_on_every_payment_request(cli, pooled):
    rent = ["rent", "--hours", "1", "--plan", "gpu-hour", "--tenant", "alice",
            "--invest", "50000 sat", "--idempotency-key", "order-7"]
    first = cli.json(*rent)
    again = cli.json(*rent)
    assert (again["id"], again["payment"]["id"], again["created"]) == \
        (first["id"], first["payment"]["id"], False)
    assert first["payment"]["amount_sats"] == 52000
    changed = [*rent[:-3], "60000 sat", *rent[-2:]]
    assert "--invest" in refused(cli, *changed)

    fund = ["pool", "fund", "gpu", "--tenant", "bob", "--amount", "10000 sat",
            "--idempotency-key", "fund-1"]
    a = cli.json(*fund)
    b = cli.json(*fund)
    assert (b["payment"]["id"], b["contribution"]["id"], b["created"]) == \
        (a["payment"]["id"], a["contribution"]["id"], False)
    assert "another pool, tenant, kind or amount" in refused(
        cli, "pool", "fund", "gpu", "--tenant", "bob", "--amount", "20000 sat",
        "--idempotency-key", "fund-1")
    assert "used by rent" in refused(
        cli, "pool", "fund", "gpu", "--tenant", "bob", "--amount", "10000 sat",
        "--idempotency-key", "order-7")
    assert "used by pool fund" in refused(
        cli, "rent", "--hours", "1", "--plan", "gpu-hour", "--idempotency-key", "fund-1")

    settle(cli, first["payment"]["id"])
    ext = ["lease", "extend", first["id"], "--hours", "2", "--idempotency-key", "ext-1"]
    e1 = cli.json(*ext)
    e2 = cli.json(*ext)
    assert e2["payment"]["id"] == e1["payment"]["id"] and e2["created"] is False
    assert "use another key" in refused(cli, "lease", "extend", first["id"], "--hours", "3",
                                        "--idempotency-key", "ext-1")
    settle(cli, e1["payment"]["id"])
    e3 = cli.json(*ext)  # at any age, the same key finds the same (now settled) request
    assert e3["payment"]["id"] == e1["payment"]["id"] and e3["payment"]["status"] == "settled"
    assert cli.json("lease", "show", first["id"])["paid_hours"] == 3


def test_a_second_extension_while_one_is_unpaid(cli, home):
    lease = cli.json("rent", "--hours", "1")
    assert "first payment" in refused(cli, "lease", "extend", lease["id"], "--hours", "1")
    settle(cli, lease["payment"]["id"])
    one = cli.json("lease", "extend", lease["id"], "--hours", "2")
    res = cli("lease", "extend", lease["id"], "--hours", "2", "--json")
    two = json.loads(res.stdout)
    assert two["payment"]["id"] == one["payment"]["id"] and two["created"] is False
    assert "no second request" in res.stderr
    why = refused(cli, "lease", "extend", lease["id"], "--hours", "5")
    assert one["payment"]["id"] in why and "pay it or let it expire" in why
    assert len(cli.json("lease", "show", lease["id"])["payments"]) == 2
    settle(cli, one["payment"]["id"])
    three = cli.json("lease", "extend", lease["id"], "--hours", "5")  # paid: a new one
    assert three["payment"]["id"] != one["payment"]["id"]


def _decode(path: Path) -> str:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(path))][0]


def test_after_a_partial_payment_everything_asks_for_what_is_due(cli, home, tmp_path):
    lease = cli.json("rent", "--hours", "2")
    rid = lease["payment"]["id"]
    assert lease["payment"]["due_sats"] == 2000 and lease["payment"]["paid_sats"] == 0
    cli("devchain", "pay", rid, "--sats", "500")
    tick = cli("tick").stdout
    line = next(x for x in tick.splitlines() if f"{rid}: partial" in x)
    assert line.endswith(f"{rid}: partial, 500 of 2,000 sat paid, 1,500 due")
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", line)  # UTC time
    assert cli.json("tick")["partial"] == [
        {"id": rid, "paid_sats": 500, "amount_sats": 2000, "due_sats": 1500}]
    shown = cli.json("pay", "show", rid)
    assert (shown["paid_sats"], shown["due_sats"], shown["amount_sats"]) == (500, 1500, 2000)
    assert "amount=0.000015&" in shown["uri"] and shown["due_btc"] == "0.000015"
    payments = cli.json("lease", "show", lease["id"])["payments"]
    assert payments[0]["due_sats"] == 1500 and "amount=0.000015" in payments[0]["uri"]
    human = cli("pay", "show", rid, "--qr-png", str(tmp_path / "due.png")).stdout
    assert "Pay 0.000015 BTC" in human and "1,500 sat still due" in human
    assert "500 of 2,000 sat paid" in human
    decoded = _decode(tmp_path / "due.png")
    assert decoded.startswith("BITCOIN:BCRT1") and "amount=0.000015&" in decoded
    err = cli("pay", "check", rid, code=7).stderr
    assert f"{rid} is partly paid: 500 of 2,000 sat received, 1,500 sat still due by" in err
    assert "Not settled yet." in err
    cli("devchain", "pay", rid)  # pays what is still due
    cli("tick")
    done = cli.json("pay", "show", rid)
    assert done["status"] == "processing" and done["due_sats"] == 0 and done["paid_sats"] == 2000
    assert "amount=0.00002&" in done["uri"]  # the request as made


def test_pay_check_says_where_each_request_stands_in_sentences(cli, home, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:00:00Z")
    a = cli.json("rent", "--hours", "1")["payment"]["id"]
    b = cli.json("rent", "--hours", "1")["payment"]["id"]
    cli("devchain", "pay", b)
    out = cli("pay", "check", a, b, code=7)
    assert (f"{a} is waiting for its payment of 1,000 sat (nothing received yet; due by "
            "2026-03-01 10:15 UTC).") in out.stdout
    assert f"{b} is paid (1,000 sat) and waiting for confirmations" in out.stdout
    assert out.stderr.startswith("error: Not settled yet. ") and out.stderr.count("\n") == 1
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T11:00:00Z")
    err = cli.json("pay", "check", a, code=8)
    assert err["messages"][a] == f"{a} expired: not paid in time."


def test_payout_for_a_month_not_over_or_before_the_pool_is_refused(cli, pooled):
    assert "not over" in refused(cli, "payout", "--pool", "gpu", "--period", "2026-03")
    why = refused(cli, "payout", "--pool", "gpu", "--period", "2026-02")
    assert "did not exist in 2026-02" in why and "2026-03-10" in why
    assert "did not exist" in refused(cli, "payout", "--pool", "gpu", "--period", "2025-12",
                                      "--dry-run")
