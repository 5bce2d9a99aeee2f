"""NWC auto-renewal against a real Nostr relay (PyPI ``nostr-relay``, started on loopback by
the test) and a wallet service written here (tests/nostr_parts.py) that pays through the
simulated node: renewed three times, then the budget is spent and the lease ends; a wallet
that refuses, answers with another key (no answer: the client drops it) or with a wrong
preimage stops the renewal with the reason on the page and in ``renewal_failed``.
The same against the real Electrum Lightning network is in test_payg_lightning.py."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cloudlease.web.app import build
from tests.machine_helpers import set_hooks
from tests.nostr_parts import Wallet, relay
from tests.test_serve_api import rent

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def at(monkeypatch, minutes: float) -> None:
    when = (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    monkeypatch.setenv("CLOUDLEASE_NOW", when)


def set_renewal(home: Path, **keys: object) -> None:
    cfg = home / "config.toml"
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    text = cfg.read_text()
    for k in keys:
        text = "\n".join(ln for ln in text.splitlines() if not ln.startswith(f"{k} ="))
    cfg.write_text(text.replace("[renewal]\n", "[renewal]\n" + lines, 1) + "\n")


def hook_log(home: Path) -> Path:
    """A renewal_failed hook that appends each event to a file."""
    log = home.parent / "renewal_failed.jsonl"
    script = home.parent / "hook.py"
    script.write_text(f"import sys\nopen({str(log)!r}, 'a').write(sys.stdin.read() + '\\n')\n")
    set_hooks(home, renewal_failed=f"{sys.executable} {script}")
    return log


@pytest.fixture(scope="module")
def nostr(tmp_path_factory) -> str:
    with relay(tmp_path_factory.mktemp("relay")) as url:
        yield url


@pytest.fixture
def shop(cli, home, monkeypatch):
    set_renewal(home, before_minutes=24 * 60, timeout_seconds=5, allow_loopback_relay=True)
    at(monkeypatch, 0)
    return home


def devnode_pay(cli):
    def pay(invoice: str) -> str:
        return json.loads(cli("devchain", "ln-pay", invoice, "--json").stdout)["preimage"]
    return pay


def connect(home: Path, uri: str, per: int, total: int) -> tuple[str, str]:
    """Rent 1 h through the API, pay it, hand over the wallet; (token, lease id)."""
    import subprocess

    with TestClient(build(home, tick=False)) as c:
        out = rent(c, hours=1, method="lightning")
        subprocess.run([sys.executable, "-m", "cloudlease", "devchain", "ln-pay",
                        out["payment"]["lightning"]["invoice"]], check=True,
                       capture_output=True)
        r = c.put(f"/api/v1/leases/{out['token']}/renewal",
                  json={"uri": uri, "max_per_renewal_sats": per, "max_total_sats": total})
        assert r.status_code == 201, r.text
    return out["token"], out["lease"]["id"]


def test_renews_three_times_then_the_budget_is_spent_and_it_ends(cli, shop, nostr,
                                                                  monkeypatch):
    log = hook_log(shop)
    with Wallet(nostr, devnode_pay(cli)) as wallet:
        token, lid = connect(shop, wallet.uri, 1000, 3000)
        cli("tick")  # activates the lease; its end is within a day: renews at once
        for _ in (2, 3):
            cli("tick")
        lease = cli.json("lease", "show", lid)
        assert lease["paid_minutes"] == 4 * 60, lease
        assert [p["via"] for p in lease["payments"]] == [None, "nwc", "nwc", "nwc"]
        assert all(p["status"] == "settled" for p in lease["payments"])
        assert len(wallet.requests) == 3
        assert {r["method"] for r in wallet.requests} == {"pay_invoice"}
        tick = cli.json("tick")  # the fourth would pass the budget
        assert any("budget spent: 3,000 of 3,000 sat" in n for n in tick["notes"]), tick
        assert len(wallet.requests) == 3
    with TestClient(build(shop, tick=False)) as c:
        shown = c.get(f"/api/v1/leases/{token}/renewal").json()["renewal"]
        assert shown["status"] == "exhausted" and shown["renewals"] == 3
        assert shown["spent_sats"] == 3000
        assert "budget spent" in c.get(f"/l/{token}").text
    event = json.loads(log.read_text().splitlines()[0])
    assert event["event"] == "renewal_failed" and "budget spent" in event["reason"]
    assert event["lease_id"] == lid
    at(monkeypatch, 4 * 60 + 1)
    assert {"id": lid, "from": "active", "to": "ended"} in cli.json("tick")["transitions"]
    cli("verify", "--full")


@pytest.mark.parametrize("mode, says", [
    ("refuse", "refused: no more today"),
    ("wrong_key", "did not answer within 5 s"),
    ("silent", "did not answer within 5 s"),
    ("bad_preimage", "preimage that does not pay the invoice"),
])
def test_a_wallet_that_does_not_pay_stops_the_renewal(cli, shop, nostr, mode, says):
    log = hook_log(shop)
    with Wallet(nostr, devnode_pay(cli), mode=mode) as wallet:
        token, lid = connect(shop, wallet.uri, 1000, 5000)
        tick = cli.json("tick")
        assert any(says in n for n in tick["notes"]), tick["notes"]
        assert len(wallet.requests) == 1
        cli("tick")  # stopped: the wallet is not asked again
        assert len(wallet.requests) == 1
    event = json.loads(log.read_text().splitlines()[0])
    assert event["event"] == "renewal_failed" and says in event["reason"]
    with TestClient(build(shop, tick=False)) as c:
        shown = c.get(f"/api/v1/leases/{token}/renewal").json()["renewal"]
        assert shown["status"] == "failed" and says in shown["reason"]
    lease = cli.json("lease", "show", lid)
    # a wallet that paid but answered wrongly (another key, a wrong preimage) still
    # bought the time: the node saw the invoice paid, and money is honoured
    assert lease["paid_minutes"] == (120 if mode in ("wrong_key", "bad_preimage") else 60)
