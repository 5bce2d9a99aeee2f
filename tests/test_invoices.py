"""Invoices, credit notes and statements: lines, totals, numbering, integrity, documents.

The ledger used here is made through the real commands on the simulated chain (rentals,
an extension, a late payment, an investment paid with a rental, a pool investment, a
donation, a payout), so the lines are built from the records the tool really writes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlease.cli import invoice as invoice_cli
from cloudlease.cli.main import app
from cloudlease.core import invoices
from cloudlease.core.errors import BadValue
from cloudlease.model import Lease, LeaseStatus, PaymentRequest, RequestStatus
from cloudlease.ops.context import Context
from tests.conftest import release_together

NY = invoices.zone("America/New_York")


@pytest.fixture(autouse=True, scope="module")
def invoice_commands():
    """Register ``invoice`` and ``export`` until cli/main.py does (then this does nothing)."""
    if "invoice" not in [g.name for g in app.registered_groups]:
        app.add_typer(invoice_cli.app, name="invoice")
        invoice_cli.register(app)


# -- building a history through the real commands --------------------------------------
def at(monkeypatch, when: str) -> None:
    monkeypatch.setenv("CLOUDLEASE_NOW", when)


def _plus(when: str, minutes: int) -> str:
    t = datetime.fromisoformat(when.replace("Z", "+00:00")) + timedelta(minutes=minutes)
    return t.isoformat().replace("+00:00", "Z")


def settle(cli, monkeypatch, rid: str, when: str) -> None:
    """Pay ``rid`` on the simulated chain, mine, and tick at ``when``."""
    cli("devchain", "pay", rid)
    cli("devchain", "mine")
    at(monkeypatch, when)
    cli("tick")


def rent(cli, monkeypatch, when: str, *args: str, settle_after: int | None = 5) -> dict:
    at(monkeypatch, when)
    lease = cli.json("rent", "--no-wait", *args)
    if settle_after is not None:
        settle(cli, monkeypatch, lease["payment"]["id"], _plus(when, settle_after))
    return lease


def rich_history(cli, monkeypatch) -> dict:
    """March 2026 (UTC): alice rents 2 h of gpu with a 50,000 sat investment, then extends
    by 3 h; an anonymous 1 h rental; bob invests 100,000 sat and pays a rental late (the
    operator accepts it); Zoë donates 12.34 USD; the March payout is recorded; and alice
    rents once more in April. Returns the ids involved."""
    at(monkeypatch, "2026-03-01T09:00:00Z")
    cli("init")
    set_operator(cli.home, "Rack & Stack GmbH", "1 Main St\n10115 Berlin")
    cli("tenant", "add", "alice", "--email", "alice@example.com")
    cli("tenant", "add", "bob")
    cli("tenant", "add", "zoe", "--billing-name", "Zoë Ltd.")
    cli("pool", "add", "gpus", "--slots", "4", "--cost-per-hour", "1 sat",
        "--consideration", "revenue_share", "--investor-pct", "20", "--period-months", "12")
    cli("plan", "add", "gpu", "--price-per-hour", "1.25 USD", "--pool", "gpus")
    ids: dict = {}
    first = rent(cli, monkeypatch, "2026-03-01T09:00:00Z", "--hours", "2", "--tenant", "alice",
                 "--plan", "gpu", "--invest", "50000 sat")
    ids["alice_lease"], ids["alice_rent"] = first["id"], first["payment"]["id"]
    at(monkeypatch, "2026-03-01T10:00:00Z")
    ext = cli.json("lease", "extend", first["id"], "--hours", "3")
    ids["alice_extend"] = ext["payment"]["id"]
    settle(cli, monkeypatch, ext["payment"]["id"], "2026-03-01T10:05:00Z")
    anon = rent(cli, monkeypatch, "2026-03-02T10:00:00Z", "--hours", "1", "--plan", "standard")
    ids["anon_rent"] = anon["payment"]["id"]
    at(monkeypatch, "2026-03-03T10:00:00Z")
    fund = cli.json("pool", "fund", "gpus", "--tenant", "bob", "--amount", "100000 sat")
    ids["bob_invest"] = fund["contribution"]["id"]
    settle(cli, monkeypatch, fund["payment"]["id"], "2026-03-03T10:05:00Z")
    at(monkeypatch, "2026-03-04T10:00:00Z")
    gift = cli.json("pool", "fund", "gpus", "--tenant", "zoe", "--amount", "12.34 USD",
                    "--kind", "donation")
    ids["zoe_donation"] = gift["contribution"]["id"]
    settle(cli, monkeypatch, gift["payment"]["id"], "2026-03-04T10:05:00Z")
    late = rent(cli, monkeypatch, "2026-03-15T10:00:00Z", "--hours", "2", "--tenant", "bob",
                "--plan", "standard", settle_after=None)
    ids["bob_late"] = rid = late["payment"]["id"]
    at(monkeypatch, "2026-03-15T10:16:00Z")
    cli("tick")  # expired unpaid
    cli("devchain", "pay", rid)
    cli("devchain", "mine")
    cli("tick")
    cli("pay", "accept", rid)
    at(monkeypatch, "2026-03-15T10:30:00Z")
    cli("tick")
    at(monkeypatch, "2026-04-02T00:00:00Z")
    ids["payout"] = cli.json("payout", "--pool", "gpus", "--period", "2026-03")
    april = rent(cli, monkeypatch, "2026-04-05T10:00:00Z", "--hours", "1", "--tenant", "alice",
                 "--plan", "standard")
    ids["alice_april"] = april["payment"]["id"]
    at(monkeypatch, "2026-05-01T12:00:00Z")
    return ids


@pytest.fixture
def history(cli, monkeypatch) -> dict:
    return rich_history(cli, monkeypatch)


def set_operator(home: Path, name: str, address: str, **more: str) -> None:
    """Fill ``[operator]`` in config.toml (name, address, and e.g. vat_id, country)."""
    path = home / "config.toml"
    text = path.read_text()
    text = re.sub(r'(?m)^name = ".*"', lambda _: f"name = {json.dumps(name)}", text, count=1)
    text = re.sub(r'(?m)^address = ".*"', lambda _: f"address = {json.dumps(address)}",
                  text, count=1)
    for key, value in more.items():
        text = re.sub(rf'(?m)^{key} = ".*"', lambda _, k=key, v=value: f"{k} = {json.dumps(v)}",
                      text, count=1)
    path.write_text(text)


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- lines and totals ------------------------------------------------------------------
def test_invoice_lines_for_a_tenant(cli, history):
    inv = cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-03")
    assert inv["status"] == "draft" and inv["number"] is None and inv["kind"] == "invoice"
    kinds = [(line["kind"], line["ref"]) for line in inv["lines"]]
    # rentals only (the April rental is not in March); contributions have their statement
    assert kinds == [("lease", history["alice_rent"]), ("extension", history["alice_extend"])]
    lease, ext = inv["lines"]
    assert (lease["sats"], lease["fiat"], lease["currency"]) == (2500, "2.50", "USD")
    assert (lease["hours"], lease["plan"], lease["rate"]) == (2, "gpu", "100000")
    assert lease["description"] == "Rental: 2 hours of gpu"
    assert ext["description"] == "Extension: 3 more hours of gpu"
    assert lease["starts_at"] == "2026-03-01T09:05:00Z"
    assert lease["ends_at"] == "2026-03-01T11:05:00Z"
    assert (ext["sats"], ext["fiat"], ext["hours"]) == (3750, "3.75", 3)
    assert (ext["starts_at"], ext["ends_at"]) == ("2026-03-01T11:05:00Z", "2026-03-01T14:05:00Z")
    assert lease["paid_by"] == [{"method": "onchain", "ref": lease["txids"][0]}]
    assert inv["total_sats"] == sum(line["sats"] for line in inv["lines"]) == 2500 + 3750
    assert inv["totals"]["fiat"] == {"USD": "6.25"} and inv["totals"]["fiat_complete"]
    assert inv["totals"]["lines_without_fiat"] == 0
    assert sorted(inv["txids"]) == sorted({t for line in inv["lines"] for t in
                                           line.get("txids", [])})
    stm = cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-03",
                   "--contributions")
    assert stm["kind"] == "contributions" and stm["id"] != inv["id"]
    invest, payout = stm["lines"]
    assert (invest["kind"], invest["ref"], invest["sats"], invest["fiat"]) == \
        ("investment", "C-1", 50000, "50.00")
    assert invest["txids"] == lease["txids"]  # paid in the same transaction as the rental
    share = history["payout"]["shares"]["alice"]
    assert payout["kind"] == "payout" and payout["sats"] == -share < 0
    assert "fiat" not in payout
    assert stm["total_sats"] == 50000 - share
    assert not stm["totals"]["fiat_complete"]  # the payout has no fiat: no fiat total


def test_late_payment_investment_and_donation_lines(cli, history):
    bob = cli.json("invoice", "create", "--tenant", "bob", "--period", "2026-03")
    (late,) = bob["lines"]
    assert late["ref"] == history["bob_late"] and late["sats"] == 2000
    assert {"late", "accepted"} <= set(late["flags"])  # for the operator's JSON only
    bob = cli.json("invoice", "create", "--tenant", "bob", "--period", "2026-03",
                   "--contributions")
    by_kind = {line["kind"]: line for line in bob["lines"]}
    assert by_kind["investment"]["sats"] == 100000 and "fiat" not in by_kind["investment"]
    assert by_kind["payout"]["sats"] == -history["payout"]["shares"]["bob"]
    res = cli("invoice", "create", "--tenant", "zoe", "--period", "2026-03")
    assert "--contributions" in res.stderr  # only a donation: the invoice is empty
    zoe = cli.json("invoice", "create", "--tenant", "zoe", "--period", "2026-03",
                   "--contributions")
    (gift,) = zoe["lines"]
    assert (gift["kind"], gift["sats"], gift["fiat"]) == ("donation", 12340, "12.34")
    assert zoe["total_sats"] == 12340


def test_anonymous_sales_go_on_a_statement(cli, history):
    stm = cli.json("invoice", "create", "--anonymous", "--period", "2026-03")
    assert stm["kind"] == "statement" and stm["tenant"] is None
    (line,) = stm["lines"]  # summed per day and plan
    assert (line["kind"], line["ref"], line["sats"], line["hours"], line["payments"]) == \
        ("sales", "2026-03-02 standard", 1000, 1, 1)
    assert line["description"] == "1 payment for 1 hour of standard"
    alice = cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-03")
    assert history["anon_rent"] not in [line["ref"] for line in alice["lines"]]
    issued = cli.json("invoice", "issue", stm["id"])
    assert issued["number"] == "STM-2026-0001"
    inv = cli.json("invoice", "issue", alice["id"])
    assert inv["number"] == "INV-2026-0001"  # its own series


def test_a_draft_is_rebuilt_in_place(cli, history, monkeypatch):
    first = cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-04")
    assert [line["ref"] for line in first["lines"]] == [history["alice_april"]]
    rent(cli, monkeypatch, "2026-04-20T10:00:00Z", "--hours", "1", "--tenant", "alice",
         "--plan", "standard")
    again = cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-04")
    assert again["id"] == first["id"] and len(again["lines"]) == 2
    before = cli.ledger_snapshot()
    cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-04")
    assert cli.ledger_snapshot() == before  # nothing new: nothing written
    assert len(cli.json("invoice", "list")) == 1


def test_totals_equal_the_lines_to_the_sat_and_fiat_sums_rounded_lines():
    # 12,345 sat at 100,000 USD/BTC is 12.345 USD: each line rounds to 12.34 (half to
    # even); the total is the sum of the rounded lines, 24.68, not 24.69.
    rate = Decimal(100000)
    reqs = [_settled(f"P-{i}", 12345, rate, datetime(2026, 3, 2 + i, tzinfo=UTC))
            for i in (1, 2)]
    lines = _lines(reqs)
    assert [line["fiat"] for line in lines] == ["12.34", "12.34"]
    t = invoices.totals(lines)
    assert t["sats"] == 24690 and t["fiat"] == {"USD": "24.68"}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(546, 10**9), st.decimals("1000", "500000", places=2)),
                min_size=1, max_size=12))
def test_totals_property(items):
    reqs = [_settled(f"P-{i}", sats, rate, datetime(2026, 3, 1, tzinfo=UTC)
                     + timedelta(hours=i)) for i, (sats, rate) in enumerate(items, 1)]
    lines = _lines(reqs)
    t = invoices.totals(lines)
    assert t["sats"] == sum(sats for sats, _ in items)
    assert Decimal(t["fiat"]["USD"]) == sum(Decimal(line["fiat"]) for line in lines)
    for line, (sats, rate) in zip(lines, items, strict=True):
        exact = Decimal(sats) * rate / 100_000_000
        assert abs(Decimal(line["fiat"]) - exact) <= Decimal("0.005")
    credit = invoices.totals(invoices.credit_lines(lines))
    assert credit["sats"] == -t["sats"] and credit["fiat"]["USD"] == \
        format(-Decimal(t["fiat"]["USD"]), "f")


def _settled(rid: str, sats: int, rate: Decimal, when: datetime) -> PaymentRequest:
    return PaymentRequest(id=rid, purpose="rent", address=f"addr-{rid}", amount_sats=sats,
                          created_at=when, expires_at=when, status=RequestStatus.SETTLED,
                          uri="bitcoin:x", lease=f"L-{rid[2:]}", hours=1, currency="USD",
                          rate=rate, rate_source="fixed", settled_at=when, txids=(rid,))


def _lines(reqs: list[PaymentRequest]) -> list[dict]:
    leases = {r.lease: Lease(id=r.lease, status=LeaseStatus.ENDED, hours=1, plan="p",
                             created_at=r.created_at, tenant="t") for r in reqs}
    return invoices.build_lines("t", "2026-03", invoices.zone("UTC"), requests=reqs,
                                leases=leases, covers={}, contributions=[], payouts=[],
                                request_by_id={})


def test_sales_statement_sums_per_day_and_plan():
    rate = Decimal("98765.43")
    day = datetime(2026, 3, 2, 9, tzinfo=UTC)
    reqs = [_settled(f"P-{i}", 1000 + i, rate, day + timedelta(hours=i)) for i in range(1, 6)]
    reqs.append(_settled("P-9", 5000, rate, day + timedelta(days=1)))
    reqs = [r.replace(purpose="extend" if r.id == "P-2" else "rent") for r in reqs]
    leases = {r.lease: Lease(id=r.lease, status=LeaseStatus.ENDED, hours=1, plan="p",
                             created_at=r.created_at) for r in reqs}
    per_payment = invoices.build_lines(None, "2026-03", invoices.zone("UTC"), requests=reqs,
                                       leases=leases, covers={}, contributions=[], payouts=[],
                                       request_by_id={})
    assert [x["ref"] for x in per_payment] == ["2026-03-02 p", "2026-03-03 p"]
    first = per_payment[0]
    assert (first["payments"], first["extensions"], first["hours"]) == (5, 1, 5)
    assert first["description"] == "5 payments for 5 hours of p (1 extension)"
    assert first["sats"] == sum(1000 + i for i in range(1, 6))
    rounded = [invoices.round_fiat(Decimal(1000 + i) * rate / 10**8, "USD")
               for i in range(1, 6)]
    assert Decimal(first["fiat"]) == sum(rounded)  # each payment rounded, then added


# -- periods and time zones ------------------------------------------------------------
def test_period_bounds_across_daylight_saving():
    start, end = invoices.period_bounds("2026-03", NY)
    assert start == datetime(2026, 3, 1, 5, tzinfo=UTC)  # midnight EST
    assert end == datetime(2026, 4, 1, 4, tzinfo=UTC)  # midnight EDT
    assert end - start == timedelta(days=31, hours=-1)  # the spring-forward hour
    start, end = invoices.period_bounds("2026-11", NY)
    assert end - start == timedelta(days=30, hours=1)
    assert invoices.period_bounds("2026-12", invoices.zone("UTC"))[1] == \
        datetime(2027, 1, 1, tzinfo=UTC)


def _with_zone(home: Path, name: str) -> None:
    """Set ``[operator] timezone`` in the home's real config.toml."""
    path = home / "config.toml"
    text = path.read_text()
    if re.search(r"(?m)^timezone\s*=", text):
        text = re.sub(r'(?m)^timezone\s*=\s*"[^"]*"', f'timezone = "{name}"', text)
    else:
        text = text.replace("[operator]\n", f'[operator]\ntimezone = "{name}"\n')
    path.write_text(text)


def test_periods_follow_the_operator_time_zone(cli, home, monkeypatch):
    cli("tenant", "add", "alice")
    # 04:30 UTC on 1 March is 23:30 on 28 February in New York (EST);
    # 03:30 UTC on 1 April is 23:30 on 31 March in New York (EDT, after the change)
    a = rent(cli, monkeypatch, "2026-03-01T04:25:00Z", "--hours", "1", "--tenant", "alice")
    b = rent(cli, monkeypatch, "2026-04-01T03:25:00Z", "--hours", "1", "--tenant", "alice")
    at(monkeypatch, "2026-05-01T12:00:00Z")
    refs = {}
    for zone_name in ("UTC", "America/New_York"):
        _with_zone(home, zone_name)
        for period in ("2026-02", "2026-03", "2026-04"):
            inv = cli.json("invoice", "create", "--tenant", "alice", "--period", period)
            refs[zone_name, period] = [line["ref"] for line in inv["lines"]]
    pa, pb = a["payment"]["id"], b["payment"]["id"]
    assert refs["UTC", "2026-02"] == [] and refs["UTC", "2026-03"] == [pa]
    assert refs["UTC", "2026-04"] == [pb]
    assert refs["America/New_York", "2026-02"] == [pa]
    assert refs["America/New_York", "2026-03"] == [pb]
    assert refs["America/New_York", "2026-04"] == []
    inv = cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-03")
    assert inv["lines"][0]["date"] == "2026-03-31"  # the local day


def test_timezone_from_config(cli, home):
    _with_zone(home, "America/New_York")
    assert Context.at(home).settings.operator_timezone == "America/New_York"


def test_unknown_time_zone_is_a_config_error(cli, home, monkeypatch):
    cli("tenant", "add", "alice")
    _with_zone(home, "Mars/Olympus_Mons")
    err = cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-01", code=5)
    assert "time zone" in err["message"]


# -- issue, void, numbering -------------------------------------------------------------
def test_issue_freezes_and_numbers_once(cli, history):
    draft = cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-03")
    inv = cli.json("invoice", "issue", draft["id"])
    assert inv["number"] == "INV-2026-0001" and inv["status"] == "issued"
    assert inv["issued_now"] is True and inv["issued_at"] == "2026-05-01T12:00:00Z"
    assert len(inv["content_sha256"]) == 64
    before = cli.ledger_snapshot()
    again = cli.json("invoice", "issue", "INV-2026-0001")
    assert again["issued_now"] is False and again["number"] == "INV-2026-0001"
    assert cli.ledger_snapshot() == before
    # an issued invoice is final: create refuses to touch it
    err = cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-03", code=4)
    assert "INV-2026-0001" in err["message"]
    assert cli.ledger_snapshot() == before
    shown = cli.json("invoice", "show", "inv-2026-0001")
    assert shown["id"] == draft["id"] and shown["lines"] == inv["lines"]


def test_void_makes_a_credit_note_and_numbers_are_never_reused(cli, history):
    d1 = cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-03")["id"]
    d2 = cli.json("invoice", "create", "--tenant", "bob", "--period", "2026-03")["id"]
    inv1 = cli.json("invoice", "issue", d1)
    out = cli.json("invoice", "void", "--yes", "INV-2026-0001", "--reason", "wrong billing address")
    voided, note = out["voided"], out["credit_note"]
    assert voided["status"] == "void" and voided["number"] == "INV-2026-0001"
    assert voided["void_reason"] == "wrong billing address"
    assert voided["content_sha256"] == inv1["content_sha256"]
    assert note["kind"] == "credit_note" and note["status"] == "issued"
    assert note["number"] == "INV-2026-0001-CN" and note["credit_note_for"] == "INV-2026-0001"
    assert note["total_sats"] == -inv1["total_sats"]
    assert [x["sats"] for x in note["lines"]] == [-x["sats"] for x in inv1["lines"]]
    assert note["totals"]["fiat"] == {"USD": "-6.25"}
    assert cli.json("invoice", "issue", d2)["number"] == "INV-2026-0002"  # 0001 stays used
    redo = cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-03")
    assert redo["id"] not in (d1, d2) and redo["status"] == "draft"
    assert cli.json("invoice", "issue", redo["id"])["number"] == "INV-2026-0003"
    listed = cli.json("invoice", "list", "--tenant", "alice")
    assert [(x["number"], x["status"]) for x in listed] == [
        ("INV-2026-0001", "void"), ("INV-2026-0001-CN", "issued"), ("INV-2026-0003", "issued")]
    assert [x["id"] for x in cli.json("invoice", "list", "--status", "void")] == [d1]
    assert problems_of(cli.home) == []
    cli("verify")


ISSUE_WORKER = """
import random, sys, json
from cloudlease.ops.context import Context
from cloudlease.ops import invoicing
ctx = Context.at(sys.argv[1], lock_timeout=60)
ctx.settings
ids = sys.argv[2].split(",")
random.Random(int(sys.argv[3])).shuffle(ids)
print("ready", flush=True)
sys.stdin.readline()
out = {}
for _ in range(2):
    for d in ids:
        inv, _ = invoicing.issue(ctx, d)
        out.setdefault(d, set()).add(inv.number)
print(json.dumps({k: sorted(v) for k, v in out.items()}), flush=True)
"""


def test_issuing_in_several_processes_at_once(cli, home, monkeypatch):
    """Five processes issue the same eight drafts at the same moment, each in its own
    order, twice over: every draft gets exactly one number, no number goes to two
    drafts, and the numbers run 1..8 with no gap."""
    set_operator(home, "Rack & Stack", "1 Main St")
    drafts = []
    for k in range(8):
        name = f"tenant-{k}"
        cli("tenant", "add", name)
        rent(cli, monkeypatch, f"2026-03-0{1 + k % 5}T10:00:00Z", "--hours", "1",
             "--tenant", name)
    at(monkeypatch, "2026-04-03T12:00:00Z")
    for k in range(8):
        drafts.append(cli.json("invoice", "create", "--tenant", f"tenant-{k}", "--period",
                               "2026-03")["id"])
    env = {**os.environ, "NO_COLOR": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", ISSUE_WORKER, str(home), ",".join(drafts),
                               str(seed)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env) for seed in range(5)]
    results = [json.loads(out) for out in release_together(procs)]
    numbers: dict[str, str] = {}
    for res in results:
        for draft, seen in res.items():
            assert len(seen) == 1, f"{draft} got {seen}"
            assert numbers.setdefault(draft, seen[0]) == seen[0]
    assert sorted(numbers.values()) == [f"INV-2026-{n:04d}" for n in range(1, 9)]
    ledger = Context.at(home).read()
    assert ledger.counter("invoice_2026") == 8
    assert {i.id: i.number for i in ledger.invoices.all()} == numbers
    assert problems_of(home) == []


# -- integrity: verify ------------------------------------------------------------------
def _issued(cli, history) -> str:
    draft = cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-03")
    return cli.json("invoice", "issue", draft["id"])["id"]


def problems_of(home: Path) -> list[str]:
    ledger = Context.at(home).read()
    return invoices.invoice_problems(ledger.invoices.all(),
                                     {c.kind: c.value for c in ledger.counters.all()})


def test_editing_an_issued_invoice_is_caught(cli, history):
    inv_id = _issued(cli, history)
    ctx = Context.at(cli.home)
    with ctx.transaction("test: tamper") as led:  # a write the audit trail accepts
        inv = led.invoices[inv_id]
        lines = [dict(x) for x in inv.lines]
        lines[0]["sats"] += 1000
        led.invoices[inv_id] = inv.replace(lines=tuple(lines), total_sats=inv.total_sats + 1000)
    problems = problems_of(cli.home)
    assert problems == [f"invoice {inv_id} (INV-2026-0001) was changed after it was issued "
                        "(content hash differs)"]
    result = cli("verify", code=5)
    assert "changed after it was issued" in result.stdout + result.stderr


def test_invoice_edited_in_the_database_is_caught(cli, history):
    import sqlite3

    inv_id = _issued(cli, history)
    con = sqlite3.connect(cli.home / "ledger.db")
    with con:
        (lines,) = con.execute("SELECT lines FROM invoices WHERE id = ?", (inv_id,)).fetchone()
        assert '"Rental: 2 hours of gpu"' in lines
        con.execute("UPDATE invoices SET lines = ? WHERE id = ?",
                    (lines.replace('"Rental: 2 hours of gpu"', '"Rental: 20 hours of gpu"'),
                     inv_id))
    con.close()
    assert any("changed after it was issued" in p for p in problems_of(cli.home))
    result = cli("verify", "--full", code=5)
    out = result.stdout + result.stderr
    assert "changed after it was issued" in out and "outside cloudlease" in out


def test_lost_or_duplicated_numbers_are_caught(cli, history, monkeypatch):
    d1 = cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-03")["id"]
    d2 = cli.json("invoice", "create", "--tenant", "bob", "--period", "2026-03")["id"]
    cli("invoice", "issue", d1)
    cli("invoice", "issue", d2)
    ctx = Context.at(cli.home)
    with ctx.transaction("test: drop") as led:
        del led.invoices[d1]
    assert problems_of(cli.home) == [
        "1 invoice number(s) of 2026 missing (gapless numbering broken), e.g. INV-2026-0001"]
    with ctx.transaction("test: counter") as led:
        led.set_counter("invoice_2026", 1)
    assert "invoice counter for 2026 is 1 but INV-2026-0002 exists" in \
        problems_of(cli.home)[0]
    # issuing with a counter that fell behind refuses rather than reuse a number
    cli("tenant", "add", "carol")
    rent(cli, monkeypatch, "2026-03-20T10:00:00Z", "--hours", "1", "--tenant", "carol",
         "--plan", "standard")
    at(monkeypatch, "2026-05-01T12:00:00Z")
    d3 = cli.json("invoice", "create", "--tenant", "carol", "--period", "2026-03")["id"]
    before = cli.ledger_snapshot()
    err = cli.json("invoice", "issue", d3, code=5)
    assert "already taken" in err["message"] and cli.ledger_snapshot() == before


# -- documents ---------------------------------------------------------------------------
def test_show_formats(cli, history, tmp_path):
    set_operator(cli.home, "Rack & Stack <GmbH>", "1 Main St\n10115 Berlin")
    inv_id = _issued(cli, history)
    md = cli("invoice", "show", inv_id, "--format", "md").stdout
    assert md.startswith("# Invoice INV-2026-0001\n")
    assert "| 1 Mar 2026 | Rental: 2 hours of gpu<br>09:05 – 11:05 UTC<br>" \
        "Bitcoin transaction `" in md
    assert "6.25 USD" in md
    assert "**From:** Rack & Stack <GmbH>" in md and "  1 Main St  \n" in md
    as_json = json.loads(cli("invoice", "show", inv_id, "--format", "json").stdout)
    assert as_json == cli.json("invoice", "show", inv_id)
    assert set(as_json) >= {"id", "number", "kind", "status", "tenant", "period", "lines",
                            "totals", "total_sats", "txids", "content_sha256", "issued_at"}
    table = cli("invoice", "show", inv_id).stdout
    assert "INV-2026-0001" in table and "6.25 USD" in table
    html = cli("invoice", "show", inv_id, "--format", "html").stdout
    assert html.startswith("<!DOCTYPE html>") and "Rack &amp; Stack &lt;GmbH&gt;" in html
    assert "<GmbH>" not in html  # autoescaped
    assert "http://" not in html and "https://" not in html and " src=" not in html
    for txid in as_json["txids"]:
        assert txid in html
    out = tmp_path / "inv.md"
    res = cli.json("invoice", "show", inv_id, "--format", "md", "--output", str(out))
    assert res["written"] == str(out) and out.read_text() == md


def test_output_file_refusals(cli, history, tmp_path):
    inv_id = _issued(cli, history)
    out = tmp_path / "inv.html"
    out.write_text("keep me")
    before = cli.ledger_snapshot()
    res = cli("invoice", "show", inv_id, "--format", "html", "--output", str(out), code=2)
    assert "exists; pass --force" in one_line_error(res) and out.read_text() == "keep me"
    cli("invoice", "show", inv_id, "--format", "html", "--output", str(out), "--force")
    assert out.read_text().startswith("<!DOCTYPE html>")
    res = cli("invoice", "show", inv_id, "--format", "html", "--output",
              str(tmp_path / "missing" / "inv.html"), code=2)
    assert "cannot write" in one_line_error(res)
    res = cli("invoice", "show", inv_id, "--format", "html", "--output", str(tmp_path), code=2)
    assert "is a directory" in one_line_error(res)
    cli.json("invoice", "show", inv_id, "--output", str(tmp_path / "x.txt"), code=2)
    cli.json("invoice", "show", inv_id, "--format", "pdf", code=2)
    assert cli.ledger_snapshot() == before


def need_tool(name: str, package: str) -> str:
    """The tool's path; without it, skip (or fail when CI is set)."""
    path = shutil.which(name)
    if path is None:
        message = (f"{name} is not installed (Debian package {package!r}: apt-get install "
                   f"-y {package})")
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must install it (.ci/run)")
        pytest.skip(message + "; with CI set this test fails instead")
    return path


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


# The page in headless Chromium (A4 and US Letter, PDF and screenshot, one page, nothing
# cut off) is checked in tests/test_billing.py.


# -- bad input: one-line errors, documented exit codes, ledger unchanged ----------------
@pytest.mark.parametrize(("args", "code", "words"), [
    (("create", "--tenant", "nobody", "--period", "2026-03"), 3, "no tenant named"),
    (("create", "--tenant", "alice", "--period", "2026-13"), 2, "YYYY-MM"),
    (("create", "--tenant", "alice", "--period", "March"), 2, "YYYY-MM"),
    (("create", "--tenant", "alice", "--period", "2026-06"), 2, "in the future"),
    (("create", "--period", "2026-03"), 2, "--anonymous"),
    (("create", "--tenant", "alice", "--anonymous", "--period", "2026-03"), 2, "not both"),
    (("issue", "D-99"), 3, "no invoice"),
    (("void", "D-99", "--reason", "x"), 3, "no invoice"),
    (("list", "--status", "paid"), 2, "unknown status"),
    (("list", "--period", "26-3"), 2, "YYYY-MM"),
    (("list", "--tenant", "nobody"), 3, "no tenant"),
])
def test_bad_input(cli, home, monkeypatch, args, code, words):
    at(monkeypatch, "2026-05-10T00:00:00Z")
    cli("tenant", "add", "alice")
    before = cli.ledger_snapshot()
    res = cli("invoice", *args, code=code)
    assert words in one_line_error(res)
    err = cli.json("invoice", *args, code=code)
    assert words in err["message"] and err["exit_code"] == code
    assert cli.ledger_snapshot() == before


def test_wrong_state_refusals(cli, history):
    empty = cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-02")
    assert empty["lines"] == [] and empty["total_sats"] == 0
    before = cli.ledger_snapshot()
    err = cli.json("invoice", "issue", empty["id"], code=4)
    assert "is empty" in err["message"]
    err = cli.json("invoice", "void", "--yes", empty["id"], "--reason", "x", code=4)
    assert "is a draft" in err["message"]
    assert cli.ledger_snapshot() == before
    inv_id = _issued(cli, history)
    cli.json("invoice", "void", "--yes", inv_id, "--reason", "duplicate")
    before = cli.ledger_snapshot()
    err = cli.json("invoice", "void", "--yes", inv_id, "--reason", "again", code=4)
    assert "already void" in err["message"]
    err = cli.json("invoice", "void", "--yes", "INV-2026-0001-CN", "--reason", "x", code=4)
    assert "credit note" in err["message"]
    err = cli.json("invoice", "issue", inv_id, code=4)
    assert "void" in err["message"]
    err = cli.json("invoice", "void", "--yes", inv_id, "--reason", "  ", code=2)
    assert "--reason" in err["message"]
    assert cli.ledger_snapshot() == before


def test_pure_period_checks():
    now = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    assert invoices.check_period("2026-03", invoices.zone("UTC"), now) == "2026-03"
    with pytest.raises(BadValue, match="future"):
        invoices.check_period("2026-04", invoices.zone("UTC"), now)
    # 23:30 UTC on 31 March is already 1 April in Berlin: April has begun there
    assert invoices.check_period("2026-04", invoices.zone("Europe/Berlin"), now) == "2026-04"
    for bad in ("2026-3", "2026-00", "1999-01", "2026-03-01", ""):
        with pytest.raises(BadValue):
            invoices.parse_period(bad)
