"""The HTML pages without JavaScript (what a browser with scripts off, or a text browser,
gets): forms post and are answered with redirects, errors re-render the form, and the lease
page shows each phase. In process, on the simulated chain and Lightning node."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cloudlease.web.app import build
from tests.test_serve_api import KEY


@pytest.fixture
def client(home: Path):
    with TestClient(build(home, tick=False), follow_redirects=False) as c:
        yield c


def rent_form(client: TestClient, **values: str):
    page = client.get("/").text
    idem = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    data = {"idempotency_key": idem, "plan": "standard", "hours": "2", "method": "both",
            "ssh_key": "", "email": "", **values}
    return client.post("/rent", data=data), data


def token_of(r) -> str:
    assert r.status_code == 303, r.text
    return r.headers["location"].removeprefix("/l/")


def test_storefront(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "standard" in page and "1,000 sat" in page and "1.00 USD" in page
    assert 'action="/rent"' in page and "<script src=\"/static/app.js\" defer>" in page
    assert "Test network (regtest)" in page
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "EventSource" in js.text
    assert client.get("/static/app.css").status_code == 200


def test_rent_by_form_checkout_then_active(cli, client):
    r, data = rent_form(client, ssh_key=KEY)
    token = token_of(r)
    again = client.post("/rent", data=data)  # a double submit: the same lease
    assert token_of(again) == token
    page = client.get(f"/l/{token}").text
    assert "Pay for 2 hours of standard" in page and "<svg" in page and "2,000 sat" in page
    assert 'href="bitcoin:' in page and "lightning:lnbcrt" in page
    assert 'http-equiv="refresh"' in page  # without JavaScript it refreshes itself
    assert re.search(r'data-deadline="[^"]+Z"', page)
    state = client.get(f"/api/v1/leases/{token}").json()
    cli("devchain", "ln-pay", state["payment"]["id"])
    cli("tick")
    page = client.get(f"/l/{token}").text
    assert "Your server is paid for" in page and "Time left" in page
    assert "The operator sends the access details" in page  # no [provision] driver here
    assert "Receipts" in page and "preimage" in page
    assert 'action="/l/' + token + '/extend"' in page


def test_form_errors_rerender_with_the_values(cli, client):
    before = cli.ledger_snapshot()
    r, _ = rent_form(client, hours="0", email="me@example.com")
    assert r.status_code == 422 and 'class="error"' in r.text
    assert 'value="me@example.com"' in r.text
    r, _ = rent_form(client, ssh_key="-----BEGIN OPENSSH PRIVATE KEY-----")
    assert r.status_code == 422 and "private key" in r.text
    r, _ = rent_form(client, plan="nope")
    assert r.status_code == 404 and "no plan named" in r.text
    assert cli.ledger_snapshot() == before


def test_extend_by_form(cli, client):
    token = token_of(rent_form(client)[0])
    cli("devchain", "ln-pay", client.get(f"/api/v1/leases/{token}").json()["payment"]["id"])
    cli("tick")
    r = client.post(f"/l/{token}/extend", data={"hours": "3", "method": "lightning",
                                                "idempotency_key": "k" * 24})
    assert r.status_code == 303 and r.headers["location"] == f"/l/{token}#pay"
    page = client.get(f"/l/{token}").text
    assert "Pay for 3 more hours" in page and "Your server is paid for" in page
    bad = client.post(f"/l/{token}/extend", data={"hours": "2"})
    assert bad.status_code == 409 and "already has an open payment request" in bad.text


def test_partial_payment_shows_what_is_still_due(cli, client):
    token = token_of(rent_form(client, method="onchain")[0])
    pid = client.get(f"/api/v1/leases/{token}").json()["payment"]["id"]
    cli("devchain", "pay", pid, "--sats", "500")
    cli("tick")
    page = client.get(f"/l/{token}").text
    assert "Partly paid: 500 of 2,000 sat received" in page and "1,500 sat still due" in page
    assert "0.000015" in page  # the URI and the amount ask for what is due


def test_expired_quote_and_a_fresh_one(cli, client, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:00:00Z")
    token = token_of(rent_form(client)[0])
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:20:00Z")
    cli("tick")
    page = client.get(f"/l/{token}").text
    assert "This quote expired" in page and f'action="/l/{token}/requote"' in page
    r = client.post(f"/l/{token}/requote", data={})
    new = token_of(r)
    assert new != token
    assert token_of(client.post(f"/l/{token}/requote", data={})) == new  # pressed twice
    page = client.get(f"/l/{new}").text
    assert "Pay for 2 hours of standard" in page
    assert client.post(f"/l/{new}/requote", data={}).status_code == 409


def test_unknown_lease_page_is_a_404_page(client):
    for token in ("A" * 32, "nope", "A" * 31 + "."):
        r = client.get(f"/l/{token}")
        assert r.status_code == 404 and "<html" in r.text and "no such lease" in r.text
    assert client.post(f"/l/{'A' * 32}/extend", data={"hours": "1"}).status_code == 404
    assert client.get("/nope").status_code == 404
    assert client.delete("/").status_code == 405
