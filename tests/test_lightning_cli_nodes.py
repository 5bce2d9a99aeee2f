"""The CLI against Lightning nodes that can misbehave: LND's REST protocol on a loopback
HTTPS server (tests/lnd_server.py) in each invoice state, and a scripted Electrum daemon
(tests/test_lightning_electrum.py's FakeElectrum). Every fault is an exit code and an
unchanged ledger: no lease, no request, no address index, no key."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloudlease.lightning.bolt11sign import encode_invoice
from tests.conftest import VPUB
from tests.lnd_server import MACAROON, LndServer
from tests.test_lightning_electrum import FakeElectrum, _reply


@pytest.fixture
def lnd(certs: dict[str, Path]) -> Iterator[LndServer]:
    srv = LndServer(certs["cert"], certs["key"], MACAROON)
    yield srv
    srv.close()


def init_lnd(cli, url: str, macaroon: Path, cert: Path, *extra: str) -> Path:
    cli("init", "--xpub", VPUB, "--lightning", "lnd", "--ln-url", url, "--ln-macaroon",
        str(macaroon), "--ln-tls-cert", str(cert), *extra)
    return cli.home


@pytest.fixture
def lnd_home(cli, lnd: LndServer, macaroon: Path, certs: dict[str, Path]) -> Path:
    """A regtest home (descriptor wallet, so address indexes show in the ledger) whose
    Lightning node is the LND protocol server."""
    return init_lnd(cli, lnd.url, macaroon, certs["cert"])


def set_timeout(home: Path, seconds: int) -> None:
    """[lightning] timeout_seconds (the last table of the template)."""
    cfg = home / "config.toml"
    before, sep, table = cfg.read_text().partition("[lightning]\n")
    assert sep and "timeout_seconds = 10\n" in table
    cfg.write_text(before + sep + table.replace("timeout_seconds = 10\n",
                                                f"timeout_seconds = {seconds}\n"))


def test_lnd_each_state_through_the_cli(cli, lnd_home, lnd):
    leases = [cli.json("rent", "--hours", str(h), "--method", "lightning") for h in (1, 2, 3, 4)]
    ids = [x["payment"]["id"] for x in leases]
    hashes = [x["payment"]["lightning"]["payment_hash"] for x in leases]
    assert all(h in lnd.invoices for h in hashes)
    assert all(x["payment"]["lightning"]["node"] == "lnd" for x in leases)
    assert all(not x["payment"]["lightning"]["simulated"] for x in leases)
    lnd.accept(hashes[1])  # ACCEPTED: a held HTLC, not a payment yet
    lnd.settle(hashes[2])
    lnd.cancel(hashes[3])  # cancelled on the node before expiry: the request stays open
    lnd.requests.clear()
    tick = cli.json("tick")
    assert [r for r in lnd.requests if r[1].startswith("/v1/invoices?")] == lnd.requests[:1]
    assert len(lnd.requests) == 1  # one list call for the pass
    assert tick["lightning"] == "lnd"
    assert tick["statuses"] == {ids[0]: "new", ids[1]: "new", ids[2]: "settled", ids[3]: "new"}
    assert {"id": leases[2]["id"], "from": "awaiting_payment", "to": "active"} in \
        tick["transitions"]
    shown = cli.json("pay", "show", ids[2])
    assert shown["lightning"]["preimage"] == base64.b64decode(
        lnd.invoices[hashes[2]]["r_preimage"]).hex()
    assert cli.json("pay", "check", ids[0], code=7)["statuses"] == {ids[0]: "new"}
    cli.json("pay", "check", ids[2])  # 0: settled


def test_lnd_expired_and_cancelled_after_expiry(cli, lnd_home, lnd, monkeypatch):
    a = cli.json("rent", "--hours", "1", "--method", "lightning")
    b = cli.json("rent", "--hours", "1", "--method", "lightning")
    lnd.cancel(b["payment"]["lightning"]["payment_hash"])  # LND cancels at expiry itself
    expires = datetime.fromisoformat(a["payment"]["expires_at"].replace("Z", "+00:00"))
    monkeypatch.setenv("CLOUDLEASE_NOW", (expires + timedelta(seconds=61)).isoformat())
    tick = cli.json("tick")
    assert tick["statuses"] == {a["payment"]["id"]: "expired", b["payment"]["id"]: "expired"}
    assert cli.json("lease", "show", a["id"])["status"] == "expired"


def test_lnd_both_paid_onchain_cancels_the_invoice(cli, lnd_home, lnd):
    lease = cli.json("rent", "--hours", "1")
    p = lease["payment"]
    assert p["methods"] == ["onchain", "lightning"] and p["address"].startswith("bcrt1")
    cli("devchain", "pay", p["id"])
    cli("devchain", "mine")
    tick = cli.json("tick")
    assert tick["statuses"][p["id"]] == "settled" and tick["ln_cancelled"] == [p["id"]]
    assert lnd.invoices[p["lightning"]["payment_hash"]]["state"] == "CANCELED"
    assert ("POST", "/v2/invoices/cancel") in lnd.requests


def test_lnd_one_call_per_pass_for_many(cli, lnd_home, lnd):
    for _ in range(30):
        cli.json("rent", "--hours", "1", "--method", "lightning")
    lnd.requests.clear()
    cli.json("tick")
    assert len(lnd.requests) == 1


@pytest.mark.parametrize(("fault", "code", "words"), [
    ("html", "ln_bad_answer", "HTML"),
    ("not_json", "ln_bad_answer", "not JSON"),
    ("wrong_amount", "ln_wrong_amount", "we asked for 1000000 msat"),
    ("wrong_network", "ln_wrong_network", "mainnet"),
    ("wrong_hash", "ln_wrong_hash", "payment hash"),
    ("wrong_description", "ln_wrong_description", "description"),
    ("no_expiry", "ln_short_expiry", "before the request's window ends"),
])
def test_lnd_bad_invoice_answers_store_nothing(cli, lnd_home, lnd, fault, code, words):
    before = cli.ledger_snapshot()
    lnd.fault = fault
    err = cli.json("rent", "--hours", "1", code=6)
    assert err["code"] == code and words in err["message"], err
    assert "\n" not in err["message"]
    assert cli.ledger_snapshot() == before  # no lease, no request, no address index


@pytest.mark.parametrize(("fault", "code"), [
    ("html", "ln_bad_answer"), ("list_other_amount", "ln_wrong_amount"),
    ("bad_preimage", "ln_bad_preimage"),
])
def test_lnd_bad_status_answers_change_nothing(cli, lnd_home, lnd, fault, code):
    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    lnd.settle(lease["payment"]["lightning"]["payment_hash"])
    before = cli.ledger_snapshot()
    lnd.fault = fault
    for args in (["tick"], ["pay", "check", lease["payment"]["id"]]):
        err = cli.json(*args, code=6)
        assert err["code"] == code, err
    assert cli.ledger_snapshot() == before
    lnd.fault = None
    assert cli.json("tick")["statuses"] == {lease["payment"]["id"]: "settled"}


def test_lnd_paid_for_an_invoice_we_never_asked_for(cli, lnd_home, lnd):
    """A settled invoice that is not ours changes nothing; "paid" under our payment hash
    for another invoice is refused (exit 6) and changes nothing."""
    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    h = lease["payment"]["lightning"]["payment_hash"]
    foreign = lnd.add_invoice(1_000_000, "someone else's", 600)
    lnd.settle(base64.b64decode(foreign["r_hash"]).hex())
    before = cli.ledger_snapshot()
    tick = cli.json("tick")
    assert tick["transitions"] == [] and cli.ledger_snapshot() == before
    inv = lnd.invoices[h]
    inv["payment_request"] = encode_invoice(lnd.node_key, 1_000_000, "not ours", h,
                                            secrets.token_hex(32), int(inv["creation_date"]),
                                            600)
    lnd.settle(h)
    err = cli.json("tick", code=6)
    assert err["code"] == "ln_wrong_hash" and "another invoice" in err["message"]
    assert cli.ledger_snapshot() == before


def test_lnd_lookup_answering_another_hash(cli, lnd_home, lnd):
    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    lnd.add_invoice(5_000, "other", 600)
    original = lnd._list
    lnd._list = lambda q: {"invoices": [], "first_index_offset": "0",  # type: ignore
                           "last_index_offset": "0"}
    lnd.fault = "lookup_other_hash"
    before = cli.ledger_snapshot()
    try:
        err = cli.json("pay", "check", lease["payment"]["id"], code=6)
    finally:
        lnd._list = original  # type: ignore[method-assign]
    assert err["code"] == "ln_wrong_hash"
    assert cli.ledger_snapshot() == before


def test_lnd_slow_and_down(cli, lnd_home, lnd):
    set_timeout(lnd_home, 1)
    before = cli.ledger_snapshot()
    lnd.delay = 2.5
    err = cli.json("rent", "--hours", "1", code=6)
    assert err["code"] == "ln_timeout" and "within 1 s" in err["message"]
    assert cli.ledger_snapshot() == before
    lnd.delay = 0
    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    lnd.settle(lease["payment"]["lightning"]["payment_hash"])
    cli("tick")  # L-1 active: its extension has to ask the node
    waiting = cli.json("rent", "--hours", "1", "--method", "lightning")["payment"]["id"]
    before = cli.ledger_snapshot()
    lnd.close()
    for args in (["rent", "--hours", "1"], ["tick"], ["pay", "check", waiting],
                 ["lease", "extend", lease["id"], "--hours", "1"]):
        err = cli.json(*args, code=6)
        assert err["code"] == "ln_down" and "is the node running" in err["message"], err
    assert cli.ledger_snapshot() == before


def test_lnd_certificate_that_does_not_match(cli, lnd_home, lnd, certs):
    before = cli.ledger_snapshot()
    cfg = lnd_home / "config.toml"
    cfg.write_text(cfg.read_text().replace(str(certs["cert"]), str(certs["other_cert"])))
    err = cli.json("rent", "--hours", "1", code=6)
    assert err["code"] == "ln_tls" and "not the pinned one" in err["message"]
    assert cli.ledger_snapshot() == before
    assert lnd.requests == []  # nothing was sent


def test_lnd_macaroon_missing_or_world_readable(cli, lnd_home, lnd, macaroon):
    before = cli.ledger_snapshot()
    macaroon.chmod(0o644)
    err = cli.json("rent", "--hours", "1", code=5)
    assert "config.toml:lightning.macaroon" in err["message"] and "chmod 600" in err["message"]
    macaroon.unlink()
    err = cli.json("rent", "--hours", "1", code=5)
    assert "does not exist" in err["message"]
    assert cli.ledger_snapshot() == before
    assert lnd.requests == []


def test_lnd_wrong_macaroon_is_refused(cli, lnd_home, lnd, macaroon):
    macaroon.write_bytes(b"another macaroon")
    macaroon.chmod(0o600)
    before = cli.ledger_snapshot()
    err = cli.json("rent", "--hours", "1", code=6)
    assert err["code"] == "ln_auth" and "config.toml:lightning.macaroon" in err["message"]
    assert cli.ledger_snapshot() == before


def test_lnd_home_on_testnet_refuses_a_regtest_invoice(cli, lnd, macaroon, certs, tmp_path,
                                                       monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_HOME", str(tmp_path / "t"))
    cli.home = tmp_path / "t"
    cli("init", "--network", "testnet", "--xpub", VPUB, "--lightning", "lnd",
        "--ln-url", lnd.url, "--ln-macaroon", str(macaroon), "--ln-tls-cert",
        str(certs["cert"]))
    before = cli.ledger_snapshot()
    err = cli.json("rent", "--hours", "1", "--method", "lightning", code=6)
    assert err["code"] == "ln_wrong_network" and "regtest" in err["message"]
    assert cli.ledger_snapshot() == before


# -- Electrum, scripted ---------------------------------------------------------------------
@pytest.fixture
def fake() -> Iterator[FakeElectrum]:
    f = FakeElectrum()
    yield f
    f.close()


@pytest.fixture
def electrum_home(cli, fake: FakeElectrum) -> Path:
    cli("init", "--lightning", "electrum", "--ln-url", fake.url)
    return cli.home


def test_electrum_flow_on_the_scripted_daemon(cli, electrum_home, fake):
    lease = cli.json("rent", "--hours", "2")
    p = lease["payment"]
    assert p["methods"] == ["onchain", "lightning"] and p["lightning"]["node"] == "electrum"
    fake.calls.clear()
    assert cli.json("tick")["statuses"] == {p["id"]: "new"}
    assert fake.calls == ["list_requests"]
    fake.pay(p["lightning"]["payment_hash"])
    tick = cli.json("tick")
    assert {"id": lease["id"], "from": "awaiting_payment", "to": "active"} in tick["transitions"]


def test_electrum_cannot_cancel_so_a_second_payment_is_flagged(cli, electrum_home, fake):
    lease = cli.json("rent", "--hours", "1")
    p = lease["payment"]
    cli("devchain", "pay", p["id"])
    cli("devchain", "mine")
    tick = cli.json("tick")
    assert tick["statuses"][p["id"]] == "settled" and tick["ln_cancelled"] == []
    fake.pay(p["lightning"]["payment_hash"])  # the customer paid the invoice as well
    tick = cli.json("tick")
    assert tick["refunds_due"] == [{"id": p["id"], "sats": 1000}]


@pytest.mark.parametrize(("hook", "code", "words"), [
    (_reply(error={"code": 1, "message": "wallet not loaded"}), "ln_wallet_not_loaded",
     "load_wallet"),
    (lambda m, p, i: (200, b"<html><body>It works!</body></html>", "text/html"),
     "ln_bad_answer", "HTML"),
    (_reply(result={"is_lightning": True, "rhash": "ab" * 32, "request_id": "ab" * 32,
                    "amount_msat": 7_000_000, "lightning_invoice": "lnbcrt1"}),
     "ln_wrong_amount", "7000000"),
])
def test_electrum_faults_at_rent_store_nothing(cli, electrum_home, fake, hook, code, words):
    before = cli.ledger_snapshot()
    keys = (electrum_home / "keys.toml").read_bytes() if (electrum_home / "keys.toml").exists() \
        else None
    fake.hook = hook
    err = cli.json("rent", "--hours", "1", code=6)
    assert err["code"] == code and words in err["message"], err
    assert "s3cret" not in err["message"]
    assert cli.ledger_snapshot() == before
    after = (electrum_home / "keys.toml").read_bytes() if (electrum_home / "keys.toml").exists() \
        else None
    assert after == keys  # no key made for an address that was never handed out


def test_electrum_down_or_not_loaded_in_a_pass(cli, electrum_home, fake):
    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    fake.pay(lease["payment"]["lightning"]["payment_hash"])
    before = cli.ledger_snapshot()
    fake.hook = _reply(error={"code": 1, "message": "wallet not loaded"})
    assert cli.json("tick", code=6)["code"] == "ln_wallet_not_loaded"
    fake.hook = None
    fake.close()
    assert cli.json("tick", code=6)["code"] == "ln_down"
    assert cli.ledger_snapshot() == before


def test_a_node_reporting_on_an_invoice_it_was_not_asked_about(cli, electrum_home, fake,
                                                               monkeypatch):
    from cloudlease.lightning import LnState, LnStatus
    from cloudlease.lightning.electrum import ElectrumNode

    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    real = ElectrumNode.statuses
    stranger = "cd" * 32

    def with_a_stranger(self, invoices):
        got = real(self, invoices)
        got[stranger] = LnStatus(stranger, LnState.PAID, 1_000_000,
                                 datetime.now(UTC), "00" * 32)
        return got

    monkeypatch.setattr(ElectrumNode, "statuses", with_a_stranger)
    before = cli.ledger_snapshot()
    err = cli.json("pay", "check", lease["payment"]["id"], code=6)
    assert err["code"] == "ln_unknown_invoice" and "never asked" in err["message"]
    assert cli.ledger_snapshot() == before
