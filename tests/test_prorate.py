"""Pay as you go: money buys time to the minute (core/prorate.py), in the pure rules
(property-tested: every sat accounted for) and through the CLI on the simulated chain."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlease.core import prorate
from cloudlease.core.lifecycle import refund_owed, with_refund
from cloudlease.model import PaymentRequest, RequestStatus

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
sats = st.integers(0, 10**9)
prices = st.integers(1, 10**8)


# -- the one rule ----------------------------------------------------------------------
@given(sats, st.integers(0, 10**6), prices, st.integers(0, 120), st.integers(0, 10**6))
def test_every_sat_is_accounted_for(paid, credit, price, least, most):
    got = prorate.buy(paid, credit, price, least, most)
    assert paid + credit == got.cost_sats + got.credit_after + got.refund_sats
    assert got.refund_sats <= paid and got.credit_after >= 0
    if got.minutes:
        assert least <= got.minutes <= most
        assert got.cost_sats == prorate.cost(got.minutes, price)
        assert got.credit_used == credit
        if got.minutes < most:  # not capped: the rest is less than one more minute
            assert got.credit_after * 60 < price and got.refund_sats == 0
    else:
        assert got.cost_sats == 0 and (least > 0 or paid + credit == 0 or most == 0
                                        or got.credit_after == paid + credit)


@given(st.integers(1, 10**6), prices)
def test_whole_minutes_at_the_price(minutes, price):
    """Exactly a number of minutes' price buys exactly those minutes, nothing left."""
    got = prorate.buy(prorate.cost(minutes, price), 0, price, 1, 10**7)
    assert got.minutes >= minutes
    assert prorate.cost(minutes, price) * 60 >= minutes * price


def test_a_worked_example():
    # 1,000 sat/h: 1,510 sat buy 90 min (1,500 sat) and leave 10 sat of credit
    got = prorate.buy(1510, 0, 1000, 60)
    assert (got.minutes, got.cost_sats, got.credit_after, got.refund_sats) == (90, 1500, 10, 0)
    # with 7 sat of credit from before, 1,010 sat buy 61 min (1,017 sat)
    got = prorate.buy(1010, 7, 1000, 1)
    assert (got.minutes, got.cost_sats, got.credit_after) == (61, 1017, 0)
    # less than the fewest minutes buys nothing: the money is owed back
    assert prorate.buy(900, 0, 1000, 60) == prorate.Purchase(0, 0, 0, 0, 900)
    with pytest.raises(ValueError):
        prorate.buy(-1, 0, 1000)


def _req(**kw) -> PaymentRequest:
    base = dict(id="P-1", purpose="extend", address="bcrt1q", amount_sats=2000,
                created_at=T0, expires_at=T0 + timedelta(minutes=15),
                status=RequestStatus.SETTLED, uri="bitcoin:x", lease="L-1", hours=2,
                settled_at=T0)
    base.update(kw)
    return PaymentRequest(**base)


@given(st.integers(1, 5000), st.integers(0, 5000), st.integers(0, 2000), prices,
       st.booleans(), st.booleans())
def test_a_settlement_accounts_for_every_sat(amount, surplus, credit, price, overpaid,
                                             topup):
    """What arrived and the credit before = the time's price (income) + the credit after
    + what is owed back, to the sat, whatever the terms."""
    received = amount + surplus
    req = _req(amount_sats=amount, paid_sats=received, confirmed_sats=received,
               hours=None if topup else 2)
    terms = prorate.Terms(overpaid="prorate" if overpaid else "refund")
    after, left = prorate.settle(req, credit=credit, price=price, min_minutes=1, terms=terms)
    after = with_refund(after)
    assert received + credit == prorate.income_sats(after) + left + refund_owed(after)
    assert after.bought_minutes >= 0 and left >= 0
    if not topup:
        assert after.bought_minutes >= 120  # never less than the hours it asked for


def test_overpaid_surplus_buys_minutes_and_credit():
    req = _req(amount_sats=2000, paid_sats=2510, confirmed_sats=2510)
    after, left = prorate.settle(req, credit=0, price=1000, min_minutes=1,
                                 terms=prorate.Terms(overpaid="prorate"))
    assert (after.minutes, after.amount_sats, left) == (150, 2510, 10)
    assert "prorated" in after.flags and after.credit_kept_sats == 10
    assert prorate.income_sats(after) == 2500
    same, left = prorate.settle(req, credit=0, price=1000, min_minutes=1,
                                terms=prorate.Terms())
    assert same is req and left == 0  # refund by default: unchanged


# -- through the CLI on the simulated chain ---------------------------------------------
def _terms(home: Path, **kw: str) -> None:
    cfg = home / "config.toml"
    text = cfg.read_text()
    lines = "".join(f'{k} = "{v}"\n' for k, v in kw.items())
    for k in kw:
        text = "\n".join(ln for ln in text.splitlines() if not ln.startswith(f"{k} ="))
    cfg.write_text(text.replace("[payment]\n", "[payment]\n" + lines, 1) + "\n")


def _at(monkeypatch, minutes: float) -> None:
    at = T0 + timedelta(minutes=minutes)
    monkeypatch.setenv("CLOUDLEASE_NOW", at.isoformat().replace("+00:00", "Z"))


def test_underpaid_buys_the_minutes_it_paid_for(cli, home, monkeypatch):
    _terms(home, underpaid="prorate")
    _at(monkeypatch, 0)
    lease = cli.json("rent", "--hours", "2")
    rid = lease["payment"]["id"]
    cli("devchain", "pay", rid, "--sats", "1510")
    cli("devchain", "mine")
    cli("tick")  # partly paid, window still open: it waits for the rest
    assert cli.json("lease", "show", lease["id"])["status"] == "awaiting_payment"
    _at(monkeypatch, 16)
    cli("tick")
    shown = cli.json("lease", "show", lease["id"])
    assert shown["status"] == "active" and shown["paid_minutes"] == 90
    assert shown["starts_at"] == "2026-03-01T10:16:00Z"
    assert shown["ends_at"] == "2026-03-01T11:46:00Z"
    pay = shown["payments"][0]
    assert pay["status"] == "settled" and pay["minutes"] == 90 and pay["amount_sats"] == 1510
    assert "prorated" in pay["flags"] and pay["refund_sats"] == 0
    assert shown["credit_sats"] == 10 and pay["credit_kept_sats"] == 10
    cli("verify", "--full")


def test_underpaid_below_the_fewest_minutes_is_owed_back(cli, home, monkeypatch):
    _terms(home, underpaid="prorate")
    _at(monkeypatch, 0)
    lease = cli.json("rent", "--hours", "2")
    rid = lease["payment"]["id"]
    cli("devchain", "pay", rid, "--sats", "900")  # 54 min: under the plan's 60
    cli("devchain", "mine")
    _at(monkeypatch, 16)
    cli("tick")
    shown = cli.json("lease", "show", lease["id"])
    assert shown["status"] == "expired"
    assert shown["payments"][0]["refund_sats"] == 900


def test_late_payment_buys_time_at_the_price_when_it_settles(cli, home, monkeypatch):
    _terms(home, late="prorate")
    _at(monkeypatch, 0)
    lease = cli.json("rent", "--hours", "1", "--method", "onchain")
    rid = lease["payment"]["id"]
    _at(monkeypatch, 16)
    cli("tick")
    assert cli.json("lease", "show", lease["id"])["status"] == "expired"
    cli("devchain", "pay", rid)  # the whole amount, after the window
    cli("devchain", "mine")
    _at(monkeypatch, 20)
    cli("tick")
    shown = cli.json("lease", "show", lease["id"])
    assert shown["status"] == "active" and shown["paid_minutes"] == 60
    assert {"prorated", "accepted", "late"} <= set(shown["payments"][0]["flags"])
    cli("verify", "--full")


def test_late_without_prorate_still_needs_the_operator(cli, home, monkeypatch):
    _at(monkeypatch, 0)
    lease = cli.json("rent", "--hours", "1", "--method", "onchain")
    _at(monkeypatch, 16)
    cli("tick")
    cli("devchain", "pay", lease["payment"]["id"])
    cli("devchain", "mine")
    cli("tick")
    shown = cli.json("lease", "show", lease["id"])
    assert shown["status"] == "expired" and "late" in shown["payments"][0]["flags"]


def test_overpaid_surplus_and_credit_used_next_time(cli, home, monkeypatch):
    _terms(home, overpaid="prorate")
    cli("tenant", "add", "alice")
    _at(monkeypatch, 0)
    lease = cli.json("rent", "--hours", "1", "--tenant", "alice", "--method", "onchain")
    cli("devchain", "pay", lease["payment"]["id"], "--sats", "1525")  # 31 min (517) + 8
    cli("devchain", "mine")
    cli("tick")
    shown = cli.json("lease", "show", lease["id"])
    assert shown["paid_minutes"] == 91 and shown["credit_sats"] == 8
    assert cli.json("tenant", "show", "alice")["tenant"]["credit_sats"] == 8
    ext = cli.json("lease", "extend", lease["id"], "--hours", "1", "--method", "onchain")
    cli("devchain", "pay", ext["payment"]["id"], "--sats", "1009")  # 9 + 8 credit: 1 min
    cli("devchain", "mine")
    cli("tick")
    shown = cli.json("lease", "show", lease["id"])
    assert shown["paid_minutes"] == 152 and shown["credit_sats"] == 0
    pay = shown["payments"][1]
    assert pay["credit_used_sats"] == 8 and pay["minutes"] == 61
    assert cli.json("tenant", "show", "alice")["tenant"]["credit_sats"] == 0
    cli("verify", "--full")
    # the books: the credit on liabilities:customer-credit, hledger accepts them
    journal = home / "books.journal"
    cli("export", "--format", "hledger", "-o", str(journal))
    text = journal.read_text()
    assert "liabilities:customer-credit" in text
    if subprocess.run(["sh", "-c", "command -v hledger"], capture_output=True).returncode == 0:
        subprocess.run(["hledger", "-f", str(journal), "check", "--strict"], check=True)
        out = subprocess.run(["hledger", "-f", str(journal), "bal", "-N",
                              "liabilities:customer-credit"], capture_output=True, text=True,
                             check=True).stdout
        assert out.strip() == ""  # all of it used: nothing held
    beans = home / "books.beancount"
    cli("export", "--format", "beancount", "-o", str(beans))
    if subprocess.run(["sh", "-c", "command -v bean-check"], capture_output=True).returncode \
            == 0:
        subprocess.run(["bean-check", str(beans)], check=True)
    # the invoice line says what was bought
    draft = cli.json("invoice", "create", "--tenant", "alice", "--period", "2026-03")
    lines = [ln["description"] for ln in draft["lines"]]
    assert "Rental: 1 hour 31 minutes of standard" in lines[0]
    assert "Extension: 1 more hour 1 minute of standard" in lines[1]
