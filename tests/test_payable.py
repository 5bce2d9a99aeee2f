"""Only a request that can still be paid shows how to pay it (amount to pay, address,
invoice, URI, QR code, deadline). A settled, processing, expired, cancelled or invalid
request — or a new one whose window has passed — shows its status, what was paid and
when, and the proof (txid, preimage), wherever a request is shown: pay show, rent
re-shown by its idempotency key, lease extend re-shown by its key, lease show."""

from __future__ import annotations

import re

import pytest

NOW = "2026-03-01T10:00:00Z"
LATER = "2026-03-01T11:00:00Z"  # past every 15-minute window made at NOW
INSTRUCTIONS = re.compile(r"\bPay \d|bitcoin:|lightning:ln|\bpay \d|█|▀")


def looks_payable(text: str) -> bool:
    return bool(INSTRUCTIONS.search(text))


@pytest.fixture
def flow(cli, home, monkeypatch):
    """L-1 settled on-chain (P-1), L-2 settled over Lightning (P-2), L-3 cancelled (P-3),
    L-4 waiting for confirmations (P-4), L-5 unpaid and past its window (P-5), L-1's
    extension settled (P-6)."""
    monkeypatch.setenv("CLOUDLEASE_NOW", NOW)
    cli("rent", "--hours", "2", "--method", "onchain", "--idempotency-key", "k1")
    cli("devchain", "pay", "P-1")
    cli("devchain", "mine")
    cli("rent", "--hours", "2", "--method", "lightning", "--idempotency-key", "k2")
    cli("devchain", "ln-pay", "P-2")
    cli("rent", "--hours", "1", "--idempotency-key", "k3")
    cli("lease", "cancel", "L-3", "--yes")
    cli("rent", "--hours", "1", "--method", "onchain")
    cli("devchain", "pay", "P-4")
    cli("rent", "--hours", "1")
    cli("tick")
    cli("lease", "extend", "L-1", "--hours", "1", "--method", "lightning",
        "--idempotency-key", "k6")
    cli("devchain", "ln-pay", "P-6")
    cli("tick")
    monkeypatch.setenv("CLOUDLEASE_NOW", LATER)  # P-5 still new in the ledger: no tick yet
    return home


@pytest.mark.parametrize("args,proof", [
    (["pay", "show", "P-1"], "on-chain txid "),
    (["pay", "show", "P-2"], "preimage "),
    (["pay", "show", "P-3"], "lease cancelled"),
    (["pay", "show", "P-4"], "waiting for confirmations"),
    (["pay", "show", "P-5"], "can no longer be paid"),
    (["rent", "--hours", "2", "--method", "onchain", "--idempotency-key", "k1"],
     "on-chain txid "),
    (["rent", "--hours", "2", "--method", "lightning", "--idempotency-key", "k2"], "preimage "),
    (["rent", "--hours", "1", "--idempotency-key", "k3"], "lease cancelled"),
    (["lease", "extend", "L-1", "--hours", "1", "--method", "lightning",
      "--idempotency-key", "k6"], "preimage "),
    (["lease", "show", "L-1"], "on-chain txid "),
    (["lease", "show", "L-2"], "preimage "),
    (["lease", "show", "L-3"], "lease cancelled"),
    (["lease", "show", "L-5"], "can no longer be paid"),
])
def test_what_cannot_be_paid_shows_what_happened(cli, flow, args, proof):
    for qr in [[]] if args[:2] == ["lease", "show"] else [[], ["--qr"]]:
        out = cli(*args, *qr).stdout
        assert not looks_payable(out), out
        assert proof in out, out
    data = cli.json(*args)
    payment = data.get("payment", data)
    assert payment["payable"] is False


def test_what_can_be_paid_shows_how(cli, home, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_NOW", NOW)
    cli("rent", "--hours", "2")
    cli("devchain", "pay", "P-1", "--sats", "500")
    cli("tick")
    shown = cli("pay", "show", "P-1", "--qr").stdout
    assert "Pay 0.000015 BTC" in shown and "bitcoin:" in shown and "█" in shown
    assert "1,500 sat still due" in shown
    assert "pay 1,500 sat still due" in cli("lease", "show", "L-1").stdout
    assert cli.json("pay", "show", "P-1")["payable"] is True
    assert "█" not in cli("pay", "show", "P-1").stdout  # not a terminal: no QR unless asked


def test_no_qr_file_for_a_request_that_cannot_be_paid(cli, flow, tmp_path):
    before = cli.ledger_snapshot()
    err = cli.json("pay", "show", "P-1", "--qr-png", str(tmp_path / "p.png"), code=4)
    assert "can no longer be paid" in err["message"]
    assert not (tmp_path / "p.png").exists() and cli.ledger_snapshot() == before
