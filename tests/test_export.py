"""``cloudlease export``: journals that hledger and beancount accept, balanced to the sat."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlease.core import exports
from cloudlease.model import (
    Consideration,
    Contribution,
    ContributionKind,
    ContributionStatus,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Lease,
    LeaseStatus,
    PaymentRequest,
    Payout,
    RequestStatus,
    Transfer,
    TransferKind,
    TransferStatus,
)
from cloudlease.ops.context import Context
from tests.test_invoices import invoice_commands, need_tool, one_line_error, rich_history

__all__ = ["invoice_commands"]  # the module fixture that registers the commands


@pytest.fixture
def history(cli, monkeypatch) -> dict:
    return rich_history(cli, monkeypatch)


def export_json(cli, *args: str) -> dict:
    return json.loads(cli("export", "--format", "json", *args).stdout)


def balances(doc: dict) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for e in doc["entries"]:
        for p in e["postings"]:
            out[p["account"]] += p["sats"]
    return dict(out)


def test_every_event_is_a_balanced_entry(cli, history):
    doc = export_json(cli)
    assert doc["commodity"] == "SAT" and doc["period"] is None
    for e in doc["entries"]:
        assert sum(p["sats"] for p in e["postings"]) == 0, e
        assert all(isinstance(p["sats"], int) and p["sats"] for p in e["postings"])
    settled = Context.at(cli.home).read().requests.where("status = 'settled'")
    kinds = [e["kind"] for e in doc["entries"]]
    assert kinds.count("payment") == len(settled) == 7 and kinds.count("payout") == 1
    assert [e["date"] for e in doc["entries"]] == sorted(e["date"] for e in doc["entries"])
    b = balances(doc)
    assert b["assets:bitcoin"] == sum(r.amount_sats for r in settled)
    # 2,500 + 3,750 (alice, gpu) + 1,000 (anonymous) + 2,000 (bob, late) + 1,000 (April)
    assert b["income:leases"] == -(2500 + 3750 + 1000 + 2000 + 1000)
    assert b["liabilities:investors:alice:principal"] == -50000
    assert b["liabilities:investors:bob:principal"] == -100000
    assert b["income:donations"] == -12340
    shares = history["payout"]["shares"]
    assert b["expenses:consideration"] == sum(shares.values()) > 0
    assert b["liabilities:investors:alice:consideration"] == -shares["alice"]
    by_id = {e["id"]: e for e in doc["entries"]}
    rent = by_id[history["alice_rent"]]
    assert rent["meta"]["fiat"] == "2.50 USD" and rent["meta"]["rate"] == "100000"
    assert len(rent["meta"]["txids"]) == 1 and re.fullmatch(r"[0-9a-f]{64}",
                                                            rent["meta"]["txids"][0])
    assert {"late", "accepted"} <= set(by_id[history["bob_late"]]["meta"]["flags"])
    payout = by_id[history["payout"]["id"]]
    assert payout["date"] == "2026-03-31" and payout["meta"]["period"] == "2026-03"


def test_period_filter(cli, history):
    april = export_json(cli, "--period", "2026-04")
    assert [e["id"] for e in april["entries"]] == [history["alice_april"]]
    march = export_json(cli, "--period", "2026-03")
    ids = {e["id"] for e in march["entries"]}
    assert history["alice_april"] not in ids and history["payout"]["id"] in ids
    assert len(march["entries"]) == len(export_json(cli)["entries"]) - 1


def test_csv_is_one_row_per_posting(cli, history):
    text = cli("export", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == exports.CSV_COLUMNS
    per_entry: dict[str, int] = defaultdict(int)
    for row in rows:
        per_entry[row["entry"]] += int(row["amount"])
        assert row["commodity"] == "SAT"
    assert per_entry and all(v == 0 for v in per_entry.values())
    late = [r for r in rows if r["entry"] == history["bob_late"]]
    assert late[0]["tenant"] == "bob" and len(late[0]["txids"]) == 64


def test_hledger_accepts_the_export(cli, history, tmp_path):
    hledger = need_tool("hledger", "hledger")
    for args in ((), ("--period", "2026-03"), ("--period", "2026-04")):
        path = tmp_path / f"journal{'-'.join(args)}.hledger"
        cli("export", "--format", "hledger", *args, "--output", str(path))
        proc = subprocess.run([hledger, "-f", str(path), "check", "--strict", "ordereddates"],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr + path.read_text()[:3000]
    doc = export_json(cli)
    proc = subprocess.run([hledger, "-f", str(tmp_path / "journal.hledger"), "balance",
                           "--flat", "--no-total", "assets:bitcoin", "income:leases"],
                          capture_output=True, text=True, timeout=120, check=True)
    b = balances(doc)
    assert re.search(rf"\b{b['assets:bitcoin']} SAT\s+assets:bitcoin", proc.stdout), proc.stdout
    assert re.search(rf"{b['income:leases']} SAT\s+income:leases", proc.stdout), proc.stdout


def test_bean_check_accepts_the_export(cli, history, tmp_path):
    bean_check = need_tool("bean-check", "beancount")
    for args in ((), ("--period", "2026-03")):
        path = tmp_path / f"books{'-'.join(args)}.beancount"
        cli("export", "--format", "beancount", *args, "--output", str(path))
        proc = subprocess.run([bean_check, str(path)], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), \
            proc.stdout + proc.stderr + path.read_text()[:3000]
    text = (tmp_path / "books.beancount").read_text()
    assert "open Liabilities:Investors:Zoe" not in text  # Zoë only donated
    assert "open Liabilities:Investors:Alice:Principal SAT" in text
    assert re.search(r'txids: "[0-9a-f]{64}"', text)


def test_account_components_are_valid_and_stable():
    names = ["alice", "Alice", "bob", "Zoë Ltd.", "7up", "x_y", "ok-Name"]
    comp = exports.tenant_components(names)
    assert comp["bob"] == "bob" and comp["7up"] == "7up" and comp["ok-Name"] == "ok-name"
    assert comp["alice"] != comp["Alice"] and comp["alice"].startswith("alice-")
    assert comp["Zoë Ltd."].startswith("zo-ltd-") and comp["x_y"].startswith("x-y-")
    assert len(set(comp.values())) == len(names)
    for c in comp.values():  # one case convention: lower case (beancount capitalises)
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", c)
    assert exports.tenant_components(["Zoë Ltd."]) == {"Zoë Ltd.": comp["Zoë Ltd."]}


def test_export_json_summary_and_output(cli, history, tmp_path):
    res = cli.json("export", "--format", "hledger")
    assert res["format"] == "hledger" and res["entries"] == 8
    assert res["content"].startswith("; cloudlease export")
    out = tmp_path / "books.csv"
    res = cli.json("export", "--format", "csv", "--output", str(out))
    assert res["written"] == str(out) and out.read_text().startswith("date,entry,")
    assert "wrote 8 entries (csv)" in cli("export", "--format", "csv", "-o", str(out),
                                          "--force").stdout


@pytest.mark.parametrize(("args", "words"), [
    (("--format", "xlsx"), "unknown format"),
    (("--format", "csv", "--period", "2031-01"), "in the future"),
    (("--format", "csv", "--period", "2026/03"), "YYYY-MM"),
])
def test_bad_input(cli, history, args, words):
    before = cli.ledger_snapshot()
    assert words in one_line_error(cli("export", *args, code=2))
    assert words in cli.json("export", *args, code=2)["message"]
    assert cli.ledger_snapshot() == before


def test_output_refusals(cli, history, tmp_path):
    out = tmp_path / "books.beancount"
    out.write_text("mine")
    res = cli("export", "--format", "beancount", "--output", str(out), code=2)
    assert "exists; pass --force" in one_line_error(res) and out.read_text() == "mine"
    res = cli("export", "--format", "beancount", "--output", str(tmp_path / "no" / "b"),
              code=2)
    assert "cannot write" in one_line_error(res)
    cli("export", code=2)  # --format is required (a usage error)


def test_an_empty_ledger_exports_valid_journals(cli, home, tmp_path):
    hledger = need_tool("hledger", "hledger")
    bean_check = need_tool("bean-check", "beancount")
    assert cli.json("export", "--format", "json")["entries"] == 0
    h, b = tmp_path / "e.hledger", tmp_path / "e.beancount"
    cli("export", "--format", "hledger", "-o", str(h))
    cli("export", "--format", "beancount", "-o", str(b))
    subprocess.run([hledger, "-f", str(h), "check", "--strict"], check=True, timeout=120)
    subprocess.run([bean_check, str(b)], check=True, timeout=120)


# -- build_entries on generated records ------------------------------------------------------
# Requests of every purpose and status (honoured or not, paid on-chain and over Lightning,
# over- and underpaid), contributions with and without their request, payouts, sweeps
# and refunds, and invoices with VAT, at times around two months, in two zones.
_T0 = datetime(2026, 2, 20, tzinfo=UTC)
_when = st.integers(0, 60 * 24 * 50).map(lambda m: _T0 + timedelta(minutes=m))
_PERIODS = ["2026-02", "2026-03", "2026-04"]


@st.composite
def _books(draw) -> dict:
    tenants = st.sampled_from([None, "alice", "bob"])
    leases = {f"L-{i}": Lease(id=f"L-{i}", status=LeaseStatus.ACTIVE, hours=1,
                              plan="small", created_at=_T0, tenant=draw(tenants))
              for i in range(1, 4)}
    requests = []
    for i in range(1, draw(st.integers(0, 8)) + 1):
        amount = draw(st.integers(1, 20_000))
        requests.append(PaymentRequest(
            id=f"P-{i}", purpose=draw(st.sampled_from(["rent", "extend", "invest", "donate",
                                                       "topup"])),
            address="bcrt1qx", amount_sats=amount, created_at=_T0,
            expires_at=_T0 + timedelta(minutes=15), uri="bitcoin:x",
            status=draw(st.sampled_from(list(RequestStatus))),
            lease=draw(st.sampled_from([None, "L-1", "L-2", "L-3", "L-9"])),
            tenant=draw(tenants), pool=draw(st.sampled_from([None, "gpu"])),
            hours=draw(st.sampled_from([None, 1, 3])),
            flags=draw(st.sampled_from([(), ("unhonoured",), ("late", "accepted")])),
            paid_sats=draw(st.sampled_from([0, amount // 2, amount, amount + 7])),
            ln_paid_msat=draw(st.sampled_from([0, 1_000 * (amount // 3)])),
            invest_sats=draw(st.sampled_from([0, amount // 4])),
            settled_at=draw(st.none() | _when), seen_at=draw(st.none() | _when),
            fiat_amount=draw(st.sampled_from([None, Decimal("2.50")])), currency="USD",
            rate=draw(st.sampled_from([None, Decimal("100000")])), rate_source="fixed",
            txids=("ab" * 32,)))
    contributions = [
        Contribution(id=f"C-{i}", pool="gpu", tenant=draw(st.sampled_from(["alice", "bob"])),
                     kind=draw(st.sampled_from(list(ContributionKind))),
                     amount_sats=draw(st.integers(1, 5_000)), created_at=_T0,
                     request=draw(st.sampled_from([None] + [r.id for r in requests])),
                     settled_at=draw(st.none() | _when),
                     status=draw(st.sampled_from(list(ContributionStatus))))
        for i in range(1, draw(st.integers(0, 4)) + 1)]
    payouts = [Payout(id=f"gpu/{p}", pool="gpu", period=p, consideration=Consideration.OWNERSHIP,
                      basis_sats=1, distributable_sats=1, created_at=_T0,
                      shares=draw(st.dictionaries(st.sampled_from(["alice", "bob"]),
                                                  st.integers(0, 900))))
               for p in draw(st.sets(st.sampled_from(_PERIODS)))]
    transfers = [
        Transfer(id=f"T-{i}", kind=draw(st.sampled_from(list(TransferKind))),
                 status=draw(st.sampled_from(list(TransferStatus))), created_at=draw(_when),
                 txid="cd" * 32, to_address="bcrt1qy", sats=draw(st.integers(1, 9_000)),
                 fee_sats=draw(st.integers(0, 300)),
                 request=draw(st.sampled_from([None] + [r.id for r in requests])))
        for i in range(1, draw(st.integers(0, 3)) + 1)]
    invoices = [
        Invoice(id=f"I-{i}", period=draw(st.sampled_from(_PERIODS)),
                status=InvoiceStatus.ISSUED, created_at=_T0, tenant="alice",
                number=f"INV-2026-{i:04d}", issued_at=draw(_when),
                kind=draw(st.sampled_from([InvoiceKind.INVOICE, InvoiceKind.CREDIT_NOTE])),
                lines=({"sats": 1_000, "tax_sats": draw(st.integers(-200, 200))},),
                tax={"rate": "0.2", "country": "DE"})
        for i in range(1, draw(st.integers(0, 3)) + 1)]
    return {"requests": requests, "leases": leases, "contributions": contributions,
            "payouts": payouts, "transfers": transfers, "invoices": invoices}


@settings(deadline=None)
@given(_books(), st.sampled_from([None, *_PERIODS]),
       st.sampled_from(["UTC", "America/New_York"]))
def test_build_entries_balances_every_entry_to_the_sat(b, period, tz):
    by_id = {r.id: r for r in b["requests"]}
    settled = [r for r in b["requests"] if r.status == "settled"]
    entries = exports.build_entries(
        ZoneInfo(tz), requests=settled, leases=b["leases"], contributions=b["contributions"],
        payouts=b["payouts"], period=period,
        unsettled=[r for r in b["requests"] if r.status != "settled"],
        transfers=b["transfers"], transfer_requests=by_id, invoices=b["invoices"])
    for e in entries:
        assert sum(s for _, s in e.postings) == 0 and all(s for _, s in e.postings), e
    assert entries == sorted(entries, key=lambda e: (e.date, e.at, exports._num(e.id), e.id))
    assert len({(e.kind, e.id) for e in entries}) == len(entries)  # each event once
    if period is not None:
        assert all(p.period == period for p in b["payouts"]
                   if any(e.id == p.id for e in entries))
    # a payment entry holds what reached the request (at least its amount)
    for e in entries:
        if e.kind == "payment":
            r = by_id[e.id]
            held = sum(s for a, s in e.postings if a in (exports.BITCOIN, exports.LIGHTNING))
            assert held == max(r.amount_sats, r.paid_sats + r.ln_paid_msat // 1000)
