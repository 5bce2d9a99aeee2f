"""``cloudlease serve``'s JSON API, every route and every bad input, in process (Starlette's
TestClient over the real app, the real ledger and the simulated chain and Lightning node;
the tick loop left out so each test drives its passes with ``cloudlease tick``)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cloudlease.web.app import build

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@x"
PRIVATE = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END"


def set_serve(home: Path, **values: object) -> None:
    """Change keys of config.toml's [serve] table."""
    cfg = home / "config.toml"
    text = cfg.read_text()
    for key, value in values.items():
        shown = str(value).lower() if isinstance(value, bool) else (
            f'"{value}"' if isinstance(value, str) else str(value).replace("'", '"'))
        text, n = re.subn(rf"(?m)^{key} = .*$", f"{key} = {shown}", text)
        assert n == 1, key
    cfg.write_text(text)


@pytest.fixture
def client(home: Path):
    with TestClient(build(home, tick=False)) as c:
        yield c


def rent(client: TestClient, status: int = 201, headers: dict | None = None, **body):
    body.setdefault("plan", "standard")
    body.setdefault("hours", 2)
    r = client.post("/api/v1/leases", json=body, headers=headers or {})
    assert r.status_code == status, r.text
    return r.json()


def error(r, status: int, code: str | None = None) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert set(err) == {"code", "message"} and err["message"]
    if code:
        assert err["code"] == code, err
    return err["message"]


def test_plans(client):
    plans = client.get("/api/v1/plans").json()["plans"]
    assert [p["name"] for p in plans] == ["standard"]
    p = plans[0]
    assert p["price_per_hour_sats"] == 1000 and p["available"] is True
    assert p["estimate"] == {"rate": "100000", "currency": "USD", "sats_per_hour": 1000,
                             "fiat_per_hour": "1.00"}


def test_rent_shows_the_token_once_and_keeps_only_its_hash(cli, client):
    out = rent(client)
    token = out["token"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token)
    assert out["url"].endswith(f"/l/{token}")
    lease, pay = out["lease"], out["payment"]
    assert lease["status"] == "awaiting_payment" and lease["idempotency_key"] is None
    assert pay["methods"] == ["onchain", "lightning"] and pay["lightning"]["simulated"]
    assert pay["uri"].startswith("bitcoin:") and "&lightning=" in pay["uri"]
    snapshot = cli.ledger_snapshot()
    assert token not in snapshot
    assert "web:" + hashlib.sha256(token.encode()).hexdigest() in snapshot
    got = client.get(f"/api/v1/leases/{token}").json()
    assert got["lease"]["id"] == lease["id"] and got["payment"]["id"] == pay["id"]
    assert got["machine"] is None and got["lease"]["payments"][0]["id"] == pay["id"]


def test_unknown_and_malformed_tokens_are_the_same_404(client):
    rent(client)
    answers = [client.get(f"/api/v1/leases/{t}") for t in
               ("A" * 32, "short", "%00" * 3, "A" * 31 + "!", "x" * 500)]
    bodies = {r.text for r in answers}
    assert [r.status_code for r in answers] == [404] * 5 and len(bodies) == 1
    for path in ("receipts", "events"):
        error(client.get(f"/api/v1/leases/{'B' * 32}/{path}"), 404, "lease_not_found")
    error(client.post(f"/api/v1/leases/{'B' * 32}/extend", json={"hours": 1}), 404)


def test_idempotency_key(cli, client):
    key = {"Idempotency-Key": "order-7f3c1b2e-5a9d"}
    first = rent(client, headers=key)
    again = client.post("/api/v1/leases", json={"plan": "standard", "hours": 2}, headers=key)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["token"] == first["token"]
    assert again.json()["lease"]["id"] == first["lease"]["id"]
    before = cli.ledger_snapshot()
    error(client.post("/api/v1/leases", json={"plan": "standard", "hours": 3}, headers=key),
          409)
    error(client.post("/api/v1/leases", json={"plan": "standard", "hours": 2,
                                              "ssh_key": KEY}, headers=key), 409)
    error(client.post("/api/v1/leases", json={"plan": "standard", "hours": 2},
                      headers={"Idempotency-Key": "short"}), 422, "bad_idempotency_key")
    assert cli.ledger_snapshot() == before


def test_an_ssh_key_makes_an_anonymous_tenant_that_holds_it(cli, client):
    out = rent(client, ssh_key=KEY, email="me@example.com")
    tenant = out["lease"]["tenant"]
    assert tenant.startswith("web-")
    shown = cli.json("tenant", "show", tenant)
    assert [k["key"] for k in shown["tenant"]["ssh_keys"]] == [KEY]
    assert shown["tenant"]["email"] == "me@example.com"


@pytest.mark.parametrize("body, status, code", [
    ({"plan": "nope", "hours": 2}, 404, "plan_not_found"),
    ({"plan": "standard", "hours": 0}, 422, None),
    ({"plan": "standard", "hours": -3}, 422, None),
    ({"plan": "standard", "hours": 10 ** 9}, 422, None),
    ({"plan": "standard", "hours": "two"}, 422, None),
    ({"plan": "standard", "hours": "2"}, 422, None),
    ({"plan": "standard", "hours": 2.5}, 422, None),
    ({"plan": "standard", "hours": True}, 422, None),
    ({"plan": "standard"}, 422, None),
    ({"hours": 2}, 422, None),
    ({"plan": "standard", "hours": 2, "method": "carrier-pigeon"}, 422, None),
    ({"plan": "standard", "hours": 2, "extra": 1}, 422, None),
    ({"plan": "standard", "hours": 2, "ssh_key": "ssh-rsa notbase64!"}, 422, "bad_ssh_key"),
    ({"plan": "standard", "hours": 2, "ssh_key": PRIVATE}, 422, "bad_ssh_key"),
    ({"plan": "standard", "hours": 2, "ssh_key": 'command="x" ' + KEY}, 422, "bad_ssh_key"),
    ({"plan": "standard", "hours": 2, "email": "not an address"}, 422, None),
    ([1, 2], 422, None),
])
def test_bad_rentals_store_nothing(cli, client, body, status, code):
    before = cli.ledger_snapshot()
    message = error(client.post("/api/v1/leases", json=body), status, code)
    assert "PRIVATE" not in message and "b3BlbnNz" not in message
    assert cli.ledger_snapshot() == before


def test_bodies_that_are_not_json_or_too_large(cli, client):
    before = cli.ledger_snapshot()
    error(client.post("/api/v1/leases", content=b"plan=standard&hours=2"), 400, "bad_json")
    error(client.post("/api/v1/leases", content=b"\xff\xfe"), 400, "bad_json")
    big = b'{"plan": "standard", "hours": 2, "email": "' + b"a" * 70_000 + b'"}'
    error(client.post("/api/v1/leases", content=big), 413, "too_large")
    assert cli.ledger_snapshot() == before


def test_a_method_with_no_node(cli, isolated):
    cli("init", "--lightning", "none")
    with TestClient(build(isolated, tick=False)) as c:
        before = cli.ledger_snapshot()
        msg = error(c.post("/api/v1/leases", json={"plan": "standard", "hours": 1,
                                                   "method": "lightning"}), 422,
                    "lightning_not_configured")
        assert "Lightning" in msg
        assert cli.ledger_snapshot() == before
        assert rent(c)["payment"]["methods"] == ["onchain"]


def test_full_and_throttled_pools_are_409(cli, home):
    cli("pool", "add", "gpu", "--slots", "1", "--cost-per-hour", "1 sat",
        "--consideration", "revenue_share", "--investor-pct", "10", "--period-months", "6")
    cli("plan", "add", "gpu-hour", "--price-per-hour", "2000 sat", "--pool", "gpu")
    with TestClient(build(home, tick=False)) as c:
        rent(c, plan="gpu-hour", hours=1)
        plan = [p for p in c.get("/api/v1/plans").json()["plans"] if p["name"] == "gpu-hour"]
        assert plan[0]["available"] is False and plan[0]["availability"]["free_slots"] == 0
        before = cli.ledger_snapshot()
        msg = error(c.post("/api/v1/leases", json={"plan": "gpu-hour", "hours": 1,
                                                   "ssh_key": KEY}), 409)
        assert "full" in msg and "next slot frees up at" in msg
        assert cli.ledger_snapshot() == before


def test_throttled_pool_is_409(cli, home, monkeypatch):
    cli("pool", "add", "gpu", "--slots", "5", "--cost-per-hour", "1000 sat",
        "--consideration", "revenue_share", "--investor-pct", "10", "--period-months", "6")
    cli("plan", "add", "gpu-hour", "--price-per-hour", "2000 sat", "--pool", "gpu")
    cli("pool", "start", "gpu")  # it runs (and costs) from now on, rented or not
    monkeypatch.setenv("CLOUDLEASE_NOW", "2030-01-01T00:00:00Z")
    cli("tick")  # no funding, a running cost: throttled
    with TestClient(build(home, tick=False)) as c:
        before = cli.ledger_snapshot()
        assert "throttled" in error(c.post("/api/v1/leases", json={
            "plan": "gpu-hour", "hours": 1}), 409)
        assert cli.ledger_snapshot() == before


def test_a_node_that_is_down_is_503_and_stores_nothing(cli, isolated):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    cli("init", "--lightning", "electrum", "--ln-url", f"http://u:secretpw@127.0.0.1:{port}")
    with TestClient(build(isolated, tick=False)) as c:
        before = cli.ledger_snapshot()
        r = c.post("/api/v1/leases", json={"plan": "standard", "hours": 1})
        msg = error(r, 503, "backend_unavailable")
        assert r.headers["retry-after"] and "secretpw" not in r.text and str(port) not in msg
        assert cli.ledger_snapshot() == before


def test_pay_extend_and_receipts(cli, client):
    out = rent(client)
    token, pid = out["token"], out["payment"]["id"]
    assert client.get(f"/api/v1/leases/{token}/receipts").json() == {"receipts": []}
    cli("devchain", "ln-pay", pid)
    cli("tick")
    state = client.get(f"/api/v1/leases/{token}").json()
    assert state["lease"]["status"] == "active" and state["payment"]["status"] == "settled"
    receipts = client.get(f"/api/v1/leases/{token}/receipts").json()["receipts"]
    assert len(receipts) == 1
    (r,) = receipts
    assert r["hours"] == 2 and r["amount_sats"] == 2000 and r["method"] == "lightning"
    ln = out["payment"]["lightning"]
    assert r["payments"][0]["payment_hash"] == ln["payment_hash"]
    assert re.fullmatch(r"[0-9a-f]{64}", r["payments"][0]["preimage"])
    key = {"Idempotency-Key": "extend-0001-aaaa-bbbb"}
    ext = client.post(f"/api/v1/leases/{token}/extend", json={"hours": 1}, headers=key)
    assert ext.status_code == 201, ext.text
    ext_id = ext.json()["payment"]["id"]
    assert ext.json()["payment"]["purpose"] == "extend"
    same = client.post(f"/api/v1/leases/{token}/extend", json={"hours": 1}, headers=key)
    assert same.status_code == 200 and same.json()["payment"]["id"] == ext_id
    again = client.post(f"/api/v1/leases/{token}/extend", json={"hours": 1})
    assert again.status_code == 200 and again.json()["payment"]["id"] == ext_id
    error(client.post(f"/api/v1/leases/{token}/extend", json={"hours": 3}), 409)
    for bad in ({"hours": 0}, {"hours": "1"}, {}, {"hours": 1, "x": 1}):
        error(client.post(f"/api/v1/leases/{token}/extend", json=bad), 422)
    cli("devchain", "ln-pay", ext_id)
    cli("tick")
    state = client.get(f"/api/v1/leases/{token}").json()
    assert state["lease"]["paid_hours"] == 3
    assert len(client.get(f"/api/v1/leases/{token}/receipts").json()["receipts"]) == 2


def test_an_expired_lease_cannot_be_extended(cli, client, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:00:00Z")
    out = rent(client)
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:30:00Z")
    cli("tick")
    token = out["token"]
    assert client.get(f"/api/v1/leases/{token}").json()["lease"]["status"] == "expired"
    before = cli.ledger_snapshot()
    assert "expired" in error(client.post(f"/api/v1/leases/{token}/extend",
                                          json={"hours": 1}), 409)
    assert cli.ledger_snapshot() == before


def test_security_headers_and_no_cookies(client):
    out = rent(client)
    for path in ("/", f"/l/{out['token']}", "/api/v1/plans", f"/api/v1/leases/{out['token']}",
                 "/nope"):
        r = client.get(path)
        h = r.headers
        assert "default-src 'none'" in h["content-security-policy"]
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert "script-src 'self'" in h["content-security-policy"]
        assert "unsafe-inline" not in h["content-security-policy"]
        assert h["referrer-policy"] == "no-referrer"
        assert h["x-content-type-options"] == "nosniff"
        assert h["cache-control"] == "no-store"
        assert "set-cookie" not in h and "server" not in h
    assert "<script>" not in client.get(f"/l/{out['token']}").text


def test_rate_limit_is_429_with_retry_after(cli, home):
    set_serve(home, rate_limit_per_minute=3)
    with TestClient(build(home, tick=False)) as c:
        for _ in range(3):
            assert c.get("/api/v1/plans").status_code == 200
        before = cli.ledger_snapshot()
        r = c.post("/api/v1/leases", json={"plan": "standard", "hours": 1})
        error(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1
        assert c.get("/healthz").status_code in (200, 503)  # never counted
        assert cli.ledger_snapshot() == before


def test_caps_on_open_unpaid_requests(cli, home):
    set_serve(home, max_open_unpaid_per_client=2, max_open_unpaid=3)
    with TestClient(build(home, tick=False)) as c:
        first = rent(c)
        rent(c)
        before = cli.ledger_snapshot()
        r = c.post("/api/v1/leases", json={"plan": "standard", "hours": 1})
        assert "unpaid" in error(r, 429, "too_many_unpaid") and r.headers["retry-after"]
        assert cli.ledger_snapshot() == before
        cli("devchain", "ln-pay", first["payment"]["id"])
        cli("tick")
        rent(c)  # paid: it no longer counts against this client
        cli("rent", "--hours", "1", "--no-wait")  # the operator's own, counted globally
        error(c.post("/api/v1/leases", json={"plan": "standard", "hours": 1}), 429)


def test_offered_plans_only(cli, home):
    cli("plan", "add", "secret-plan", "--price-per-hour", "5000 sat")
    set_serve(home, plans=["standard"])
    with TestClient(build(home, tick=False)) as c:
        assert [p["name"] for p in c.get("/api/v1/plans").json()["plans"]] == ["standard"]
        error(c.post("/api/v1/leases", json={"plan": "secret-plan", "hours": 1}), 404,
              "plan_not_found")


def test_healthz_without_the_loop_is_503(client):
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json()["ledger"] == "ok" and r.json()["ok"] is False


def test_openapi_document_is_valid_and_names_every_route(client):
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").json()
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    from cloudlease.web.app import routes

    paths = {r.path for r in routes() if r.path.startswith(("/api", "/healthz"))}
    assert paths == set(doc["paths"])


def test_client_address_and_trusted_proxies():
    from cloudlease.web.guard import Guard, redact

    def scope(peer: str, xff: str | None) -> dict:
        headers = [(b"x-forwarded-for", xff.encode())] if xff else []
        return {"client": (peer, 1), "headers": headers}

    plain = Guard(None)  # type: ignore[arg-type]
    assert plain.client(scope("203.0.113.9", "1.2.3.4")) == "203.0.113.9"
    proxied = Guard(None, trusted_proxies=("127.0.0.1/32", "10.0.0.0/8"))  # type: ignore
    assert proxied.client(scope("127.0.0.1", "198.51.100.7")) == "198.51.100.7"
    assert proxied.client(scope("127.0.0.1", "6.6.6.6, 198.51.100.7, 10.1.1.1")) == \
        "198.51.100.7"  # the client can forge the left part, never what the proxy saw
    assert proxied.client(scope("203.0.113.9", "198.51.100.7")) == "203.0.113.9"
    assert proxied.client(scope("127.0.0.1", "garbage")) == "127.0.0.1"
    assert redact("/l/abcDEF123/extend") == "/l/\u2026/extend"
    assert redact("/api/v1/leases/abc/events") == "/api/v1/leases/\u2026/events"
    assert redact("/api/v1/leases") == "/api/v1/leases"
