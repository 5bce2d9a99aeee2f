"""Pay as you go through ``cloudlease serve`` on the simulated chain and node: LNURL-pay
top-ups, L402 rentals and extensions, handing over (and revoking) an NWC wallet, and every
bad input of each, with nothing stored or extended for one. In process (Starlette's
TestClient over the real app and ledger; passes driven by ``cloudlease tick``)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from cloudlease.web.app import build
from tests.test_serve_api import KEY, error, rent, set_serve

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def at(monkeypatch, minutes: float) -> None:
    when = (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    monkeypatch.setenv("CLOUDLEASE_NOW", when)


@pytest.fixture
def client(home, monkeypatch):
    at(monkeypatch, 0)
    set_serve(home, public_url="https://rent.example.com",  # LNURLs are https (LUD-01)
              max_open_unpaid_per_client=50)  # every 401 makes a fresh challenge
    with TestClient(build(home, tick=False)) as c:
        yield c


def active_lease(cli, client, **body) -> dict:
    """A lease rented through the API and paid (the simulated node, by its BOLT11)."""
    out = rent(client, method="lightning", **body)
    cli("devchain", "ln-pay", out["payment"]["lightning"]["invoice"])
    cli("tick")
    state = client.get(f"/api/v1/leases/{out['token']}").json()
    assert state["lease"]["status"] == "active"
    return out


def ln_pay(cli, invoice: str) -> str:
    """Pay an invoice of the simulated node by its text; the preimage."""
    return json.loads(cli("devchain", "ln-pay", invoice, "--json").stdout)["preimage"]


# -- LNURL-pay ----------------------------------------------------------------------------
def lnurl_of(client, token: str) -> str:
    page = client.get(f"/l/{token}").text
    m = re.search(r'data-copy="(LNURL1[0-9A-Z]+)"', page)
    assert m, "the lease page shows its LNURL"
    assert "lnurlp://" in page and "<svg" in page
    return m.group(1)


def test_lnurl_pay_as_a_wallet_does_it_extends_the_lease(cli, client, home):
    import lnurl

    out = active_lease(cli, client)
    token = out["token"]
    code = lnurl_of(client, token)
    url = str(lnurl.decode(code))  # an independent decoder reads it
    assert token not in url and "/lnurlp/" in url
    first = client.get(urlsplit(url).path).json()
    assert first["tag"] == "payRequest" and first["commentAllowed"] == 140
    # 1,000 sat/h: a minute costs 17 sat; at most a year at a time
    assert first["minSendable"] == 17_000 and first["maxSendable"] == 8_784_000_000
    meta = first["metadata"]
    assert json.loads(meta)[0][0] == "text/plain"
    callback = urlsplit(first["callback"]).path
    before = client.get(f"/api/v1/leases/{token}").json()["lease"]
    r = client.get(callback, params={"amount": 1_510_000, "comment": "for alice, thanks"})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["routes"] == [] and answer["successAction"]["tag"] == "message"
    assert "runs until" in answer["successAction"]["message"]
    import bolt11

    inv = bolt11.decode(answer["pr"])
    assert inv.amount_msat == 1_510_000
    assert inv.description_hash == hashlib.sha256(meta.encode()).hexdigest()
    # the lease page still shows its own state, not the top-up's invoice
    assert client.get(f"/api/v1/leases/{token}").json()["payment"]["id"] == \
        out["payment"]["id"]
    ln_pay(cli, answer["pr"])
    cli("tick")
    after = client.get(f"/api/v1/leases/{token}").json()["lease"]
    assert after["paid_minutes"] == before["paid_minutes"] + 90
    ends = datetime.fromisoformat(after["ends_at"].replace("Z", "+00:00"))
    assert ends - datetime.fromisoformat(before["ends_at"].replace("Z", "+00:00")) == \
        timedelta(minutes=90)
    top = after["payments"][-1]
    assert top["via"] == "lnurl" and top["minutes"] == 90 and top["credit_kept_sats"] == 10
    receipts = client.get(f"/api/v1/leases/{token}/receipts").json()["receipts"]
    assert receipts[-1]["via"] == "lnurl" and receipts[-1]["minutes"] == 90
    assert "1 h 30 min of standard (top-up)" in client.get(f"/l/{token}").text
    cli("verify", "--full")


def test_lnurl_bad_inputs_store_nothing(cli, client):
    import lnurl

    out = active_lease(cli, client)
    path = urlsplit(str(lnurl.decode(lnurl_of(client, out["token"])))).path
    cb = path + "/callback"
    before = cli.ledger_snapshot()
    for params, status in (({"amount": 16_000}, 422),            # below a minute
                           ({"amount": 8_784_001_000}, 422),     # above a year
                           ({"amount": 20_500}, 422),            # not whole sats
                           ({"amount": "12e3"}, 422), ({}, 422),
                           ({"amount": 20_000, "comment": "x" * 141}, 422),
                           ({"amount": 20_000, "bogus": 1}, 422)):
        r = client.get(cb, params=params)
        assert r.status_code == status, (params, r.text)
        assert r.json()["status"] == "ERROR" and r.json()["reason"]
    forged = path[:-4] + ("aaaa" if not path.endswith("aaaa") else "bbbb")
    for p in (forged, "/lnurlp/l-1", "/lnurlp/x.y", forged + "/callback"):
        r = client.get(p, params={"amount": 20_000})
        assert r.status_code == 404 and r.json()["status"] == "ERROR", p
    assert cli.ledger_snapshot() == before


def test_lnurl_for_an_ended_lease_is_refused(cli, client, monkeypatch):
    import lnurl

    out = active_lease(cli, client, hours=1)
    path = urlsplit(str(lnurl.decode(lnurl_of(client, out["token"])))).path
    at(monkeypatch, 61)
    cli("tick")
    before = cli.ledger_snapshot()
    for p in (path, path + "/callback"):
        r = client.get(p, params={"amount": 20_000})
        assert r.status_code == 409 and "only a running lease" in r.json()["reason"]
    assert cli.ledger_snapshot() == before


def test_devchain_ln_pay_takes_any_invoice_of_the_node(cli, client):
    out = rent(client, method="lightning")
    inv = out["payment"]["lightning"]["invoice"]
    err = cli.json("devchain", "ln-pay", "lnbcrt1notaninvoice", code=2)
    assert "not a valid BOLT11" in err["message"]
    paid = cli.json("devchain", "ln-pay", inv.upper())  # a QR code's upper case
    assert re.fullmatch(r"[0-9a-f]{64}", paid["preimage"])
    assert cli.json("devchain", "ln-pay", "lightning:" + inv, code=4)["code"] == "conflict"


# -- L402 -----------------------------------------------------------------------------------
def challenge(r) -> tuple[str, str]:
    assert r.status_code in (401, 402), r.text
    m = re.fullmatch(r'L402 macaroon="([A-Za-z0-9+/=]+)", invoice="(ln[a-z0-9]+)"',
                     r.headers["www-authenticate"])
    assert m, r.headers["www-authenticate"]
    assert r.json()["macaroon"] == m.group(1) and r.json()["invoice"] == m.group(2)
    return m.group(1), m.group(2)


def auth(mac: str, preimage: str) -> dict[str, str]:
    return {"Authorization": f"L402 {mac}:{preimage}"}


L402 = {"Accept-Payment": "L402"}


def test_l402_rent_pay_and_retry(cli, client, home):
    body = {"plan": "standard", "hours": 1, "ssh_key": KEY}
    r = client.post("/api/v1/leases", json=body, headers=L402)
    assert r.status_code == 402 and r.json()["error"]["code"] == "payment_required"
    mac, inv = challenge(r)
    preimage = ln_pay(cli, inv)
    ok = client.post("/api/v1/leases", json=body, headers=auth(mac, preimage))
    assert ok.status_code == 201, ok.text
    got = ok.json()
    assert got["lease"]["status"] == "active" and got["url"].endswith(got["token"])
    assert "redeemed" in got["payment"]["flags"]
    assert client.get(f"/api/v1/leases/{got['token']}").json()["lease"]["id"] == \
        got["lease"]["id"]
    # used once: the same credential again is 401 with a fresh challenge
    again = client.post("/api/v1/leases", json=body, headers=auth(mac, preimage))
    assert again.status_code == 401 and "used already" in again.json()["error"]["message"]
    assert challenge(again)[1] != inv
    # extend by L402 on the same lease
    path = f"/api/v1/leases/{got['token']}/extend"
    emac, einv = challenge(client.post(path, json={"hours": 2}, headers=L402))
    epre = ln_pay(cli, einv)
    r = client.post(path, json={"hours": 2}, headers=auth(emac, epre))
    assert r.status_code == 201, r.text
    assert r.json()["lease"]["paid_minutes"] == 180
    bad = client.post(path, json={"hours": 3}, headers=auth(emac, epre))
    assert bad.status_code == 401 and "does not verify" in bad.json()["error"]["message"]
    challenge(bad)
    cli("verify", "--full")


def test_l402_refusals_answer_401_with_a_fresh_challenge(cli, client, monkeypatch):
    body = {"plan": "standard", "hours": 1}
    mac, inv = challenge(client.post("/api/v1/leases", json=body, headers=L402))
    preimage = ln_pay(cli, inv)
    raw = base64.b64decode(mac)
    tampered = base64.b64encode(raw.replace(b"hours = 1", b"hours = 9")).decode()
    cases = [
        (auth(mac, "00" * 32), body, "does not pay"),                       # wrong preimage
        (auth(tampered, preimage), {**body, "hours": 9}, "does not verify"),  # tampered
        (auth(mac, preimage), {**body, "hours": 2}, "does not verify"),     # other hours
        (auth(mac, preimage), {**body, "ssh_key": KEY}, "does not verify"),  # another key
        ({"Authorization": "L402 garbage"}, body, "not 'L402"),
        ({"Authorization": "L402 !!!:" + preimage}, body, "cannot be read"),
        ({"Authorization": f"L402 {mac}:xyz"}, body, "64 hex"),
    ]
    for headers, b, says in cases:
        r = client.post("/api/v1/leases", json=b, headers=headers)
        assert r.status_code == 401, (says, r.text)
        assert says in r.json()["error"]["message"], (says, r.json())
        challenge(r)
    at(monkeypatch, 16)  # past the invoice's expiry caveat
    r = client.post("/api/v1/leases", json=body, headers=auth(mac, preimage))
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


def test_a_plan_may_ask_for_l402(cli, home, monkeypatch):
    at(monkeypatch, 0)
    cli("plan", "edit", "standard", "--l402")
    with TestClient(build(home, tick=False)) as c:
        r = c.post("/api/v1/leases", json={"plan": "standard", "hours": 1})
        assert r.status_code == 402
        challenge(r)


# -- NWC: handing over and revoking --------------------------------------------------------
PUB = "b889ff5b1513b641e2a139f661a661364979c5beee91842f8f0ef42ab558e9d4"
SECRET = "71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c"


def nwc(relay: str = "wss://relay.example.com/v1", secret: str = SECRET) -> str:
    return f"nostr+walletconnect://{PUB}?relay={relay}&secret={secret}"


def test_connect_a_wallet_never_shows_the_secret_and_revokes(cli, client, home):
    out = active_lease(cli, client)
    path = f"/api/v1/leases/{out['token']}/renewal"
    assert client.get(path).json() == {"renewal": None}
    r = client.put(path, json={"uri": nwc(), "max_per_renewal_sats": 2000,
                               "max_total_sats": 6000})
    assert r.status_code == 201, r.text
    shown = r.json()["renewal"]
    assert shown["status"] == "active" and shown["wallet_pubkey"] == PUB
    assert SECRET not in r.text and SECRET not in client.get(path).text
    assert SECRET not in client.get(f"/l/{out['token']}").text
    assert SECRET not in cli.ledger_snapshot()
    assert SECRET not in cli("ledger", "dump").stdout
    assert "Stop renewing" in client.get(f"/l/{out['token']}").text
    gone = client.delete(path).json()["renewal"]
    assert gone["status"] == "revoked" and gone["reason"] == "revoked by the tenant"
    error(client.delete(path), 409)
    page = client.get(f"/l/{out['token']}").text
    assert "Auto-renewal stopped: revoked by the tenant" in page


@pytest.mark.parametrize("uri, says", [
    ("https://example.com", "must start with nostr+walletconnect"),
    (nwc(relay="ws://relay.example.com"), "not wss://"),
    (nwc(relay="ws://127.0.0.1:7000"), "allow_loopback_relay"),
    (nwc(relay="wss://10.0.0.5/"), "private network"),
    (nwc(secret="00" * 32), "valid private key"),
    (nwc(secret="zz"), "valid private key"),
    (f"nostr+walletconnect://{PUB}?secret={SECRET}", "names no relay"),
    (f"nostr+walletconnect://abc?relay=wss://r.example&secret={SECRET}", "64 hex"),
])
def test_bad_wallet_connections_store_nothing(cli, client, uri, says):
    out = active_lease(cli, client)
    path = f"/api/v1/leases/{out['token']}/renewal"
    before = cli.ledger_snapshot()
    msg = error(client.put(path, json={"uri": uri, "max_per_renewal_sats": 1000,
                                       "max_total_sats": 2000}), 422)
    assert says in msg and SECRET not in msg
    for per, total in ((0, 1000), (1000, 0), (2000, 1000), (True, 1000)):
        error(client.put(path, json={"uri": nwc(), "max_per_renewal_sats": per,
                                     "max_total_sats": total}), 422)
    assert cli.ledger_snapshot() == before


def test_hosts_that_share_the_serve_key_verify_each_others_macaroons(cli, client, home,
                                                                       tmp_path):
    """Several hosts on one ledger: a macaroon minted on one verifies on another that has
    a copy of serve.key, and not on one with a key of its own."""
    import shutil

    from cloudlease.ops import l402, secrets
    from cloudlease.ops.context import Context

    mac, inv = challenge(client.post("/api/v1/leases", json={"plan": "standard", "hours": 1},
                                     headers=L402))
    preimage = ln_pay(cli, inv)
    header = f"L402 {mac}:{preimage}"
    wanted = {"purpose": "rent", "plan": "standard", "hours": "1", "ssh_key": "none"}
    other = tmp_path / "host-b"
    shutil.copytree(home, other)
    (other / "serve.key").unlink()
    secrets.forget()
    b = Context.at(other)
    try:
        with pytest.raises(l402.Refused, match="does not verify"):
            l402._verify(b, l402.parse(header), wanted)  # a key of its own
        shutil.copy2(home / "serve.key", other / "serve.key")
        secrets.forget()
        l402._verify(b, l402.parse(header), wanted)  # the copy: verifies
    finally:
        b.close()
        secrets.forget()
