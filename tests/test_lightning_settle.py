"""The pure Lightning settlement rules, BIP321 URIs and their QR payloads, Lightning in
the accounting exports, and a property: every invoice we store decodes to exactly its
request's amount."""

from __future__ import annotations

import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cloudlease.bitcoin.bip21 import make_uri
from cloudlease.bitcoin.qr import make_qr, qr_text, write_png
from cloudlease.core import lnsettle as s
from cloudlease.core.errors import BadValue
from cloudlease.core.lifecycle import Policy
from cloudlease.lightning import LnState, LnStatus
from cloudlease.lightning.bolt11check import decode
from cloudlease.model import PaymentRequest, RequestStatus
from cloudlease.model.chain import Received
from tests.test_invoices import need_tool

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
H = "ab" * 32
PRE = "cd" * 32
ADDR = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
POL = Policy()


def request(**kw) -> PaymentRequest:
    base = dict(id="P-1", purpose="rent", address=ADDR, amount_sats=2000, created_at=T0,
                expires_at=T0 + timedelta(minutes=15), status=RequestStatus.NEW, uri="x",
                lease="L-1", hours=2, methods=("onchain", "lightning"), ln_invoice="lnbcrt1x",
                ln_payment_hash=H, ln_amount_msat=2_000_000,
                ln_expires_at=T0 + timedelta(minutes=15))
    base.update(kw)
    return PaymentRequest(**base)


def paid(at: datetime, msat: int = 2_000_000) -> LnStatus:
    return LnStatus(H, LnState.PAID, msat, at, PRE)


def run(req: PaymentRequest, status: LnStatus | None, now: datetime,
        outputs: list[Received] | None = None, tip: int = 10) -> PaymentRequest:
    req, _ = s.record(req, status, now)
    assert s.paid(req)
    return s.evaluate(req, outputs, tip, POL)


def test_paid_settles_at_the_node_time_without_confirmations():
    now = T0 + timedelta(minutes=5)
    req, payment = s.record(request(), paid(T0 + timedelta(minutes=4)), now)
    assert payment is not None and payment.id == f"ln:{H}" and payment.sats == 2000
    assert payment.preimage == PRE and payment.method == "lightning"
    after = s.evaluate(req, [], 10, POL)
    assert after.status == RequestStatus.SETTLED
    assert after.settled_at == T0 + timedelta(minutes=4) and after.flags == ()
    assert after.ln_preimage == PRE and after.seen_at == now


def test_nothing_new_records_nothing():
    req = request()
    for st_ in (None, LnStatus(H, LnState.OPEN), LnStatus(H, LnState.EXPIRED),
                LnStatus("ef" * 32, LnState.PAID, 2_000_000, T0, PRE)):
        assert s.record(req, st_, T0) == (req, None)
    done = request(ln_paid_msat=2_000_000, ln_settled_at=T0, ln_preimage=PRE)
    assert s.record(done, paid(T0), T0) == (done, None)  # recorded once


def test_settled_in_the_window_is_never_late_even_when_seen_after_it():
    after = run(request(), paid(T0 + timedelta(minutes=14)), T0 + timedelta(hours=1))
    assert after.status == RequestStatus.SETTLED and "late" not in after.flags


def test_closed_by_a_pass_that_could_not_see_the_node_is_settled_again():
    closed = request(status=RequestStatus.EXPIRED, closed_reason="not paid in time")
    after = run(closed, paid(T0 + timedelta(minutes=10)), T0 + timedelta(hours=1))
    assert after.status == RequestStatus.SETTLED and after.closed_reason is None


def test_settled_after_the_window_is_late_until_accepted():
    late = run(request(), paid(T0 + timedelta(minutes=16)), T0 + timedelta(minutes=17))
    assert late.status == RequestStatus.EXPIRED and "late" in late.flags
    accepted = late.replace(status=RequestStatus.PROCESSING,
                            flags=tuple(sorted({*late.flags, "accepted"})))
    again = s.evaluate(accepted, [], 10, POL)
    assert again.status == RequestStatus.SETTLED


def test_paid_both_ways_is_overpaid_and_due_back():
    seen = [Received(ADDR, "11" * 32, 0, 2000, None, False)]
    after = run(request(), paid(T0), T0, outputs=seen)
    assert after.status == RequestStatus.SETTLED  # on-chain unconfirmed: nothing due yet
    assert after.flags == ("overpaid",) and after.refund_sats is None
    mined = [Received(ADDR, "11" * 32, 0, 2000, 10, False)]
    after = s.evaluate(after, mined, 10, POL)
    assert after.flags == ("overpaid", "refund_due") and after.refund_sats == 2000
    # the on-chain payment reorged out and replaced away: nothing is due back any more
    gone = s.evaluate(after, [], 10, POL)
    assert gone.flags == () and gone.refund_sats is None


def test_onchain_settled_first_then_the_invoice_paid():
    settled = request(status=RequestStatus.SETTLED, settled_at=T0, paid_sats=2000,
                      confirmed_sats=2000, txids=("11" * 32,))
    out = [Received(ADDR, "11" * 32, 0, 2000, 5, False)]
    after = run(settled, paid(T0 + timedelta(minutes=1)), T0, outputs=out)
    assert after.status == RequestStatus.SETTLED and after.settled_at == T0
    assert "refund_due" in after.flags and after.refund_sats == 2000


def test_a_payer_overpaying_over_lightning_is_due_the_surplus():
    after = run(request(), paid(T0, 3_000_500), T0)
    assert after.flags == ("overpaid", "refund_due") and after.refund_sats == 1000


def test_paid_after_its_lease_was_cancelled():
    closed = request(status=RequestStatus.EXPIRED, closed_reason=s.LEASE_CANCELLED)
    after = run(closed, paid(T0 + timedelta(minutes=2)), T0 + timedelta(minutes=3))
    assert after.status == RequestStatus.EXPIRED
    assert after.flags == ("refund_due",) and after.refund_sats == 2000


def test_partial_onchain_then_the_invoice():
    out = [Received(ADDR, "11" * 32, 0, 500, 9, False)]
    after = run(request(paid_sats=500, flags=("partial",)), paid(T0), T0, outputs=out)
    assert after.status == RequestStatus.SETTLED
    assert after.flags == ("overpaid", "refund_due") and after.refund_sats == 500


def test_references_carry_the_payment_hash():
    assert request().references == ()
    done = request(ln_paid_msat=1, txids=("11" * 32,))
    assert done.references == ("11" * 32, H)


# -- BIP321 and the QR payload ---------------------------------------------------------------
INVOICE = ("lnbcrt20u1p4sats5pp5r85e30k96uzr4er6lmuv3yd2xn82cwhkdf3kmcwzk07xererzjrqsp5g4usr0w9h"
           "48me5668nq3dyx3dhug99tdhwwjyvdnhpju2l5ysmjqdpvvdkx7atyd3jkzum98gsrygrgyphkvgrnw3s"
           "kuerpwfjqxqzuycqpj9qyysgqpld229ay3lhdc79n3sr7r8tvt4d34pkxqcfwxwvjxk9xrcp0rpeje049"
           "2a8964l72ux8kwz66swzgvj8heepgtmnhxtdtukq9arc0mgqv7mgvu")


def test_bip321_uri_and_qr_payload():
    uri = make_uri(ADDR, 2000, label="cloudlease L-1", message="2 h", lightning=INVOICE)
    assert uri == (f"bitcoin:{ADDR}?amount=0.00002&label=cloudlease%20L-1&message=2%20h"
                   f"&lightning={INVOICE}")
    assert dict(parse_qsl(uri.split("?", 1)[1]))["lightning"] == INVOICE
    payload = qr_text(uri)
    assert payload == (f"BITCOIN:{ADDR.upper()}?amount=0.00002&label=cloudlease%20L-1"
                       f"&message=2%20h&lightning={INVOICE.upper()}")
    assert qr_text(f"lightning:{INVOICE}") == f"LIGHTNING:{INVOICE.upper()}"
    # the upper-case invoice goes in an alphanumeric segment: a smaller code
    import segno

    mixed = segno.make(payload, error="M", micro=False, boost_error=True)
    assert make_qr(uri).version <= mixed.version


@pytest.mark.parametrize("uri", [
    make_uri(ADDR, 2000, label="cloudlease L-1", lightning=INVOICE),
    f"lightning:{INVOICE}",
])
def test_qr_decodes_to_the_payload(uri, tmp_path):
    import zxingcpp

    write_png(uri, tmp_path / "q.png")
    with Image.open(tmp_path / "q.png") as image:
        assert [r.text for r in zxingcpp.read_barcodes(image)] == [qr_text(uri)]


@pytest.mark.parametrize("bad", ["lnbcrt1 x", "bitcoin:x", "lnbc1IO", "xyz1abc"])
def test_lightning_param_must_be_an_invoice(bad):
    with pytest.raises(BadValue):
        make_uri(ADDR, 2000, lightning=bad)


# -- property: what we store is what we asked for ------------------------------------------
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(price=st.integers(min_value=546, max_value=2_100_000_000),
       hours=st.integers(min_value=1, max_value=48),
       method=st.sampled_from(["lightning", "both"]))
def test_every_stored_invoice_decodes_to_its_request_amount(price, hours, method):
    from cloudlease.ops import leases, plans
    from cloudlease.ops.context import Context
    from cloudlease.ops.home import init

    with tempfile.TemporaryDirectory() as tmp:
        init(Path(tmp) / "h")
        ctx = Context.at(Path(tmp) / "h")
        try:
            plans.add(ctx, "p", price_per_hour=f"{price} sat")
            rental = leases.rent(ctx, hours, plan="p", method=method)
            req = ctx.read().request(rental.request.id)
            d = decode(req.ln_invoice, source="stored")
            assert d.amount_msat == req.amount_sats * 1000 == req.ln_amount_msat
            assert req.amount_sats == price * hours
            assert d.payment_hash == req.ln_payment_hash and d.currency == "bcrt"
            assert d.expires_at == req.expires_at == req.ln_expires_at
            if method == "both":
                assert req.uri.endswith(f"&lightning={req.ln_invoice}")
            else:
                assert req.uri == f"lightning:{req.ln_invoice}" and req.address is None
        finally:
            ctx.close()


# -- accounting -------------------------------------------------------------------------------
def test_exports_book_lightning_on_its_own_account(cli, home, tmp_path):
    a = cli.json("rent", "--hours", "1", "--method", "lightning")["payment"]
    b = cli.json("rent", "--hours", "2")["payment"]
    c = cli.json("rent", "--hours", "3", "--method", "onchain")["payment"]
    cli("devchain", "ln-pay", a["id"])
    cli("devchain", "ln-pay", b["id"])
    cli("devchain", "pay", b["id"])  # paid both ways: 2,000 sat due back
    cli("devchain", "pay", c["id"])
    cli("devchain", "mine")
    cli("tick")
    import json

    doc = json.loads(cli("export", "--format", "json").stdout)
    by_id = {e["id"]: e for e in doc["entries"]}
    postings = {k: {p["account"]: p["sats"] for p in e["postings"]} for k, e in by_id.items()}
    assert postings[a["id"]] == {"assets:lightning": 1000, "income:leases": -1000}
    assert postings[b["id"]] == {"assets:bitcoin": 2000, "assets:lightning": 2000,
                                 "income:leases": -2000, "liabilities:overpayments": -2000}
    assert postings[c["id"]] == {"assets:bitcoin": 3000, "income:leases": -3000}
    assert by_id[a["id"]]["meta"]["txids"] == [a["lightning"]["payment_hash"]]
    csv_text = cli("export", "--format", "csv").stdout
    assert a["lightning"]["payment_hash"] in csv_text
    hledger = need_tool("hledger", "hledger")
    bean_check = need_tool("bean-check", "beancount")
    cli("export", "--format", "hledger", "-o", str(tmp_path / "j.hledger"))
    proc = subprocess.run([hledger, "-f", str(tmp_path / "j.hledger"), "check", "--strict"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    cli("export", "--format", "beancount", "-o", str(tmp_path / "j.beancount"))
    proc = subprocess.run([bean_check, str(tmp_path / "j.beancount")], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    assert "Assets:Lightning" in (tmp_path / "j.beancount").read_text()
