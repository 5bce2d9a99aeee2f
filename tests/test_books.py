"""Books that reconcile: after rents, a partial payment, an overpayment, a late payment
nobody accepted, refunds and sweeps, ``hledger bal assets:bitcoin`` on the export equals
what the wallet's addresses hold on the chain (the devchain here; a real regtest
bitcoind in the node test). Also: pay refund's refusals, a descriptor wallet's recorded
refund, a transfer left pending by a timeout, price directives, hledger and bean-check."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pytest

from cloudlease.bitcoin.backends.devchain import DevchainBackend
from cloudlease.bitcoin.devchain_view import CHANGE_ADDRESS, FAUCET_ADDRESS
from cloudlease.ops.books import wallet_addresses
from cloudlease.ops.context import Context
from tests.conftest import VPUB
from tests.test_invoices import at, invoice_commands, need_tool, one_line_error

__all__ = ["invoice_commands"]  # the module fixture that registers the commands

CUSTOMER = CHANGE_ADDRESS  # a regtest address outside the wallet: where refunds go
MINE = FAUCET_ADDRESS      # the operator's own address: where sweeps go


def chain_balance(home) -> int:
    """What the wallet's addresses hold on the devchain (unspent outputs)."""
    addresses = wallet_addresses(Context.at(home).read())
    found = DevchainBackend(home / "devchain.json").unspent(addresses)
    return sum(u.sats for outs in found.values() for u in outs)


def hledger_balances(cli, tmp_path, *query: str) -> dict[str, int]:
    hledger = need_tool("hledger", "hledger")
    path = tmp_path / "books.journal"
    cli("export", "--format", "hledger", "-o", str(path), "--force")
    subprocess.run([hledger, "-f", str(path), "check", "--strict", "ordereddates"],
                   check=True, timeout=120, capture_output=True)
    out = subprocess.run([hledger, "-f", str(path), "bal", *query, "--flat", "--no-total",
                          "-O", "csv"], check=True, timeout=120, capture_output=True,
                         text=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    return {r["account"]: int(r["balance"].removesuffix(" SAT")) for r in rows
            if r["balance"] not in ("0", "")}


def reconcile(cli, tmp_path) -> int:
    """``hledger bal assets:bitcoin`` must be what the chain holds for the wallet."""
    cli("devchain", "mine")
    cli("tick")
    books = hledger_balances(cli, tmp_path, "assets:bitcoin").get("assets:bitcoin", 0)
    assert books == chain_balance(cli.home)
    return books


def pay(cli, rid: str, sats: int | None = None) -> None:
    cli("devchain", "pay", rid, *(["--sats", str(sats)] if sats else []))


def test_books_reconcile_with_the_chain(cli, monkeypatch, tmp_path):
    at(monkeypatch, "2026-03-02T10:00:00Z")
    cli("init")
    cli("plan", "add", "gpu", "--price-per-hour", "1.25 USD")
    cli("tenant", "add", "alice", "--refund-address", CUSTOMER)
    rent = [cli.json("rent", "--no-wait", "--hours", str(h), "--plan", "gpu", "--tenant",
                     "alice")["payment"] for h in (2, 3, 1, 1)]
    p1, p2, p3, p4 = (r["id"] for r in rent)
    assert [r["amount_sats"] for r in rent] == [2500, 3750, 1250, 1250]
    pay(cli, p1)                       # exact
    pay(cli, p2, 1000)                 # partial: 1,000 of 3,750
    pay(cli, p3, 2000)                 # overpaid by 750
    assert reconcile(cli, tmp_path) == 5500
    held = hledger_balances(cli, tmp_path, "liabilities")
    assert held == {"liabilities:prepayments": -1000, "liabilities:overpayments": -750}

    pay(cli, p2, 2750)                 # the rest: settles, the prepayment becomes income
    assert reconcile(cli, tmp_path) == 8250
    assert cli.json("pay", "show", p2)["status"] == "settled"
    at(monkeypatch, "2026-03-02T10:20:00Z")
    cli("tick")                        # P-4 expires unpaid
    pay(cli, p4)                       # paid late: nobody accepts it, so it is owed back
    assert reconcile(cli, tmp_path) == 9500
    shown = cli.json("pay", "show", p4)
    assert shown["flags"] == ["late", "refund_due"] and shown["refund_sats"] == 1250
    held = hledger_balances(cli, tmp_path, "liabilities")
    assert held == {"liabilities:overpayments": -750, "liabilities:refunds": -1250}

    r3 = cli.json("pay", "refund", p3, "--yes")      # to alice's refund address
    t3 = r3["transfer"]
    assert (t3["sats"], t3["to"], t3["status"]) == (750, CUSTOMER, "sent")
    assert t3["change_sats"] and r3["refund_due_sats"] == 0
    r4a = cli.json("pay", "refund", p4, "--to", CUSTOMER, "--sats", "600", "--yes")
    assert r4a["refund_due_sats"] == 650
    assert "refund_due" in r4a["request"]["flags"]  # 650 still to go back
    r4b = cli.json("pay", "refund", p4, "--to", CUSTOMER, "--yes")
    assert r4b["transfer"]["sats"] == 650 and r4b["refund_due_sats"] == 0
    assert r4b["request"]["flags"] == ["late"] and r4b["request"]["refunded_sats"] == 1250
    assert "refund_due" not in r3["request"]["flags"]
    fees = sum(r["transfer"]["fee_sats"] for r in (r3, r4a, r4b))
    left = reconcile(cli, tmp_path)
    assert cli.json("pay", "show", p4)["flags"] == ["late"]  # a tick keeps it refunded
    assert left == 9500 - 750 - 1250 - fees
    b = hledger_balances(cli, tmp_path)
    assert "liabilities:overpayments" not in b and "liabilities:refunds" not in b
    assert b["expenses:fees:mining"] == fees

    sweep = cli.json("wallet", "sweep", "--to", MINE, "--yes")
    assert sweep["input_sats"] == left  # the refunds' change is swept too
    assert reconcile(cli, tmp_path) == 0
    b = hledger_balances(cli, tmp_path)
    assert b["assets:swept"] == sweep["output_sats"]
    assert b["expenses:fees:mining"] == fees + sweep["fee_sats"]
    assert b["income:leases"] == -(2500 + 3750 + 1250)

    at(monkeypatch, "2026-03-03T10:00:00Z")  # business goes on after the sweep
    p5 = cli.json("rent", "--no-wait", "--hours", "2", "--plan", "gpu")["payment"]["id"]
    pay(cli, p5, 3000)
    assert reconcile(cli, tmp_path) == 3000
    cli("verify")

    bean_check = need_tool("bean-check", "beancount")
    path = tmp_path / "books.beancount"
    cli("export", "--format", "beancount", "-o", str(path))
    proc = subprocess.run([bean_check, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    text = path.read_text()
    assert "open Expenses:Fees:Mining SAT" in text and "open Assets:Swept SAT" in text
    assert "2026-03-02 price SAT 0.001 USD" in text


def test_price_directives_report_fiat_income(cli, monkeypatch, tmp_path):
    at(monkeypatch, "2026-03-02T10:00:00Z")
    cli("init")
    cli("plan", "add", "gpu", "--price-per-hour", "1.25 USD")
    p1 = cli.json("rent", "--no-wait", "--hours", "2", "--plan", "gpu")["payment"]["id"]
    pay(cli, p1)
    cli("devchain", "mine")
    cli("tick")
    at(monkeypatch, "2026-03-03T10:00:00Z")
    p2 = cli.json("rent", "--no-wait", "--hours", "1", "--plan", "gpu", "--rate",
                  "125000")["payment"]
    assert p2["amount_sats"] == 1000  # 1.25 USD at 125,000 USD/BTC
    pay(cli, p2["id"])
    cli("devchain", "mine")
    cli("tick")
    text = cli("export", "--format", "hledger").stdout
    assert "P 2026-03-02 SAT 0.001 USD" in text and "P 2026-03-03 SAT 0.00125 USD" in text
    assert "commodity 1.00 USD" in text
    doc = json.loads(cli("export", "--format", "json").stdout)
    assert doc["prices"] == [
        {"date": "2026-03-02", "commodity": "SAT", "price": "0.001", "currency": "USD"},
        {"date": "2026-03-03", "commodity": "SAT", "price": "0.00125", "currency": "USD"}]
    hledger = need_tool("hledger", "hledger")
    path = tmp_path / "j.journal"
    path.write_text(text)
    out = subprocess.run([hledger, "-f", str(path), "bal", "income:leases", "-X", "USD",
                          "--value=then", "--no-total", "--flat"], check=True, timeout=120,
                         capture_output=True, text=True).stdout
    assert "-3.75 USD" in out  # 2.50 + 1.25: each settlement at its own locked rate


@pytest.fixture
def overpaid(cli, monkeypatch):
    at(monkeypatch, "2026-03-02T10:00:00Z")
    cli("init")
    cli("tenant", "add", "bob")
    lease = cli.json("rent", "--no-wait", "--hours", "1", "--tenant", "bob")
    pay(cli, lease["payment"]["id"], 1500)
    cli("devchain", "mine")
    cli("tick")
    return lease["payment"]["id"]


@pytest.mark.parametrize(("args", "code", "words"), [
    (("--to", CUSTOMER, "--yes", "--sats", "501"), 4, "only 500 sat can go back"),
    (("--to", CUSTOMER, "--yes", "--sats", "0"), 2, "positive"),
    (("--to", "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu", "--yes"), 2, "mainnet"),
    (("--yes",), 2, "give --to ADDRESS"),
    (("--to", CUSTOMER), 2, "pass --yes to confirm"),
    (("--to", CUSTOMER, "--yes", "--txid", "ab" * 32, "--fee-sats", "1"), 2,
     "keys wallet signs and sends refunds itself"),
    (("--to", CUSTOMER, "--yes", "--fee-rate", "0"), 2, "at least 1"),
    (("--to", CUSTOMER, "--yes", "--sats", "200"), 2, "below the dust limit"),
])
def test_refund_refusals(cli, overpaid, args, code, words):
    before = cli.ledger_snapshot()
    assert words in one_line_error(cli("pay", "refund", overpaid, *args, code=code))
    assert words in cli.json("pay", "refund", overpaid, *args, code=code)["message"]
    assert cli.ledger_snapshot() == before


def test_nothing_to_refund_and_unknown_request(cli, overpaid):
    cli.json("pay", "refund", overpaid, "--to", CUSTOMER, "--yes")
    before = cli.ledger_snapshot()
    err = cli.json("pay", "refund", overpaid, "--to", CUSTOMER, "--yes", code=4)
    assert "nothing to refund on" in err["message"] and "500 sat already went back" in \
        err["message"]
    assert cli.json("pay", "refund", "P-99", "--to", CUSTOMER, "--yes", code=3)
    assert cli.ledger_snapshot() == before
    unpaid = cli.json("rent", "--no-wait", "--hours", "1")["payment"]["id"]
    before = cli.ledger_snapshot()
    assert "no confirmed payment" in cli.json("pay", "refund", unpaid, "--to", CUSTOMER,
                                              "--yes", code=4)["message"]
    assert cli.ledger_snapshot() == before


def test_dry_run_writes_nothing(cli, overpaid):
    before = cli.ledger_snapshot()
    dry = cli.json("pay", "refund", overpaid, "--to", CUSTOMER, "--dry-run")
    assert dry["transfer"] is None and dry["raw_hex"] and dry["refund_due_sats"] == 500
    assert cli.ledger_snapshot() == before


def test_a_refunded_request_cannot_be_accepted(cli, monkeypatch):
    at(monkeypatch, "2026-03-02T10:00:00Z")
    cli("init")
    rid = cli.json("rent", "--no-wait", "--hours", "1")["payment"]["id"]
    at(monkeypatch, "2026-03-02T10:20:00Z")
    cli("tick")  # expired unpaid
    pay(cli, rid)
    cli("devchain", "mine")
    cli("tick")
    cli("pay", "refund", rid, "--to", CUSTOMER, "--sats", "600", "--yes")
    err = cli.json("pay", "accept", rid, code=4)
    assert "already went back" in err["message"]


def test_a_refund_left_pending_by_a_timeout_is_sent_next_time(cli, overpaid, monkeypatch,
                                                              tmp_path):
    from cloudlease.core.errors import BackendError

    real = DevchainBackend.broadcast

    def timeout(self, raw_hex):
        raise BackendError("devchain unreadable: timed out")

    monkeypatch.setattr(DevchainBackend, "broadcast", timeout)
    err = cli.json("pay", "refund", overpaid, "--to", CUSTOMER, "--yes", code=6)
    assert "stays pending" in err["message"]
    ledger = Context.at(cli.home).read()
    (t,) = ledger.transfers.all()
    assert t.status == "pending" and t.raw_hex and ledger.request(overpaid).refunded_sats == 500
    assert "; status: pending" in cli("export", "--format", "hledger").stdout
    monkeypatch.setattr(DevchainBackend, "broadcast", real)
    again = cli.json("pay", "refund", overpaid, "--to", CUSTOMER, "--yes", code=4)
    assert "nothing to refund" in again["message"]  # the pending one still counts
    sweep = cli.json("wallet", "sweep", "--to", MINE, "--yes")  # sends the pending refund first
    ledger = Context.at(cli.home).read()
    assert [x.status for x in ledger.transfers.all()] == ["sent", "sent"]
    assert sweep["input_sats"] == ledger.transfers["T-1"].change_sats
    assert reconcile(cli, tmp_path) == 0


def test_a_refused_refund_is_marked_failed_and_released(cli, overpaid, monkeypatch):
    from cloudlease.core.errors import BadValue

    def refuse(self, raw_hex):
        raise BadValue("bitcoind refused the transaction: min relay fee not met")

    monkeypatch.setattr(DevchainBackend, "broadcast", refuse)
    err = cli.json("pay", "refund", overpaid, "--to", CUSTOMER, "--yes", code=4)
    assert "refused" in err["message"] and "nothing was sent" in err["message"]
    ledger = Context.at(cli.home).read()
    assert [t.status for t in ledger.transfers.all()] == ["failed"]
    assert ledger.request(overpaid).refunded_sats == 0
    doc = json.loads(cli("export", "--format", "json").stdout)
    assert all(e["kind"] != "refund" for e in doc["entries"])


def test_descriptor_wallet_records_a_refund_made_elsewhere(cli, monkeypatch, tmp_path):
    at(monkeypatch, "2026-03-02T10:00:00Z")
    cli("init", "--xpub", VPUB)
    rid = cli.json("rent", "--no-wait", "--hours", "1")["payment"]["id"]
    pay(cli, rid, 1800)
    cli("devchain", "mine")
    cli("tick")
    before = cli.ledger_snapshot()
    err = cli.json("pay", "refund", rid, "--to", CUSTOMER, "--yes", code=2)
    assert "--txid" in err["message"] and "descriptor wallet" in err["message"]
    assert "--fee-sats" in cli.json("pay", "refund", rid, "--to", CUSTOMER, "--txid",
                                    "ab" * 32, code=2)["message"]
    assert "64 hex" in cli.json("pay", "refund", rid, "--to", CUSTOMER, "--txid", "xyz",
                                "--fee-sats", "1", code=2)["message"]
    assert cli.ledger_snapshot() == before
    done = cli.json("pay", "refund", rid, "--to", CUSTOMER, "--txid", "AB" * 32,
                    "--fee-sats", "141")  # recording needs no --yes: nothing is sent
    t = done["transfer"]
    assert (t["sats"], t["fee_sats"], t["recorded"], t["txid"]) == (800, 141, True, "ab" * 32)
    err = cli.json("pay", "refund", rid, "--to", CUSTOMER, "--txid", "ab" * 32,
                   "--fee-sats", "141", code=4)
    assert "nothing to refund" in err["message"]
    b = hledger_balances(cli, tmp_path)
    assert b["assets:bitcoin"] == 1800 - 800 - 141 and b["expenses:fees:mining"] == 141
    assert "liabilities:overpayments" not in b
    text = cli("export", "--format", "hledger").stdout
    assert "; recorded: sent outside cloudlease" in text


def test_sweeps_are_booked(cli, monkeypatch, tmp_path):
    at(monkeypatch, "2026-03-02T10:00:00Z")
    cli("init")
    for hours in (1, 2):
        rid = cli.json("rent", "--no-wait", "--hours", str(hours))["payment"]["id"]
        pay(cli, rid)
    cli("devchain", "mine")
    cli("tick")
    sweep = cli.json("wallet", "sweep", "--to", MINE, "--yes")
    assert sweep["transfer"] == "T-1"
    doc = json.loads(cli("export", "--format", "json").stdout)
    (entry,) = [e for e in doc["entries"] if e["kind"] == "sweep"]
    assert entry["meta"]["txid"] == sweep["txid"] and len(entry["meta"]["inputs"]) == 2
    assert {p["account"]: p["sats"] for p in entry["postings"]} == {
        "assets:swept": sweep["output_sats"], "expenses:fees:mining": sweep["fee_sats"],
        "assets:bitcoin": -3000}
    assert reconcile(cli, tmp_path) == 0
    shown = cli.json("wallet", "show")
    assert shown["received_sats"] == 3000
