"""Pay as you go on the REAL Lightning network of ``scripts/ln-regtest`` (bitcoind,
ElectrumX, the merchant and customer Electrum daemons over a real channel):

- LNURL-pay as a wallet does it (GET the LNURL, GET the callback, the customer daemon
  ``lnpay``s the invoice) extends a lease served by ``cloudlease serve`` by the minutes the
  amount buys;
- an L402 client (``examples/l402-client.py``, following the L402 spec) rents in one
  command, paying with the customer daemon, and logs in over ssh (ssh-account as root);
- NWC auto-renewal through a real Nostr relay on loopback, with a wallet service that pays
  through the customer daemon: three renewals, then the budget is spent and the lease
  ends.

Marked ``lightning`` (and ``provision`` for the login): without the network they skip and
say how to start it; with ``CI`` set they fail. Real nodes use real time."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cloudlease.ops.topups import decode_lnurl
from tests.machine_helpers import release_all, start_lease_ids_at
from tests.nostr_parts import Wallet, relay
from tests.provision_parts import keypair, need, ssh
from tests.serve_parts import served
from tests.test_lightning_electrum import ln, lnpay  # noqa: F401 - ln is a fixture
from tests.test_lightning_network import chain, net_home, tick_until  # noqa: F401
from tests.test_machines_real import GROUP, PARENT, parts  # noqa: F401 - parts is a fixture
from tests.test_payg_nwc import set_renewal
from tests.test_serve_api import set_serve

pytestmark = [pytest.mark.lightning, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
WAIT = 90


def until(check, seconds: float = WAIT, every: float = 0.2):
    deadline = time.monotonic() + seconds
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(every)


def rent_paid(s, ln, hours: int = 1) -> dict:  # noqa: F811
    r = s.api("POST", "/api/v1/leases", json={"plan": "standard", "hours": hours,
                                               "method": "lightning"})
    assert r.status_code == 201, r.text
    out = r.json()
    assert lnpay(ln, out["payment"]["lightning"]["invoice"])["result"]["success"] is True
    until(lambda: s.api("GET", f"/api/v1/leases/{out['token']}").json()["lease"]["status"]
          == "active")
    return out


def test_lnurl_pay_from_the_customer_wallet_extends_the_lease(net_home, ln):  # noqa: F811
    set_serve(net_home, chain_poll_seconds=2)
    with served(net_home) as s:
        out = rent_paid(s, ln)
        token = out["token"]
        page = s.api("GET", f"/l/{token}").text
        code = re.search(r'data-copy="(LNURL1[0-9A-Z]+)"', page).group(1)
        url = decode_lnurl(code)
        first = s.api("GET", urlsplit(url).path).json()
        assert first["tag"] == "payRequest" and first["minSendable"] == 17_000
        before = s.api("GET", f"/api/v1/leases/{token}").json()["lease"]
        cb = s.api("GET", urlsplit(first["callback"]).path,
                   params={"amount": 2_510_000, "comment": "from the customer"})
        assert cb.status_code == 200, cb.text
        pr = cb.json()["pr"]
        import bolt11

        inv = bolt11.decode(pr)
        assert inv.amount_msat == 2_510_000
        # Electrum 4.8 cannot commit to a description hash: the metadata's text instead
        assert inv.description == json.loads(first["metadata"])[0][1]
        assert lnpay(ln, pr)["result"]["success"] is True
        after = until(lambda: (lease := s.api("GET", f"/api/v1/leases/{token}").json()[
            "lease"])["paid_minutes"] > before["paid_minutes"] and lease)
        assert after["paid_minutes"] == before["paid_minutes"] + 150  # 2,510 sat: 150 min
        top = after["payments"][-1]
        assert top["via"] == "lnurl" and top["credit_kept_sats"] == 10
        assert top["lightning"]["node"] == "electrum"


@pytest.mark.provision
def test_an_l402_client_rents_in_one_command_and_logs_in(net_home, ln, parts, tmp_path):  # noqa: F811
    from tests.machine_helpers import set_provision

    need("sshd", "ssh", "ssh-keygen", "useradd", "userdel", "chage")
    set_serve(net_home, chain_poll_seconds=2)
    set_provision(net_home, driver="ssh-account", state_dir=str(parts["state"] / "l402"),
                  port_min=22800, port_max=22899, cgroup_parent=PARENT, tenant_group=GROUP,
                  timeout_seconds=30)
    start_lease_ids_at(net_home, random.randrange(100_000, 999_999))
    key, pub_text = keypair(tmp_path / "keys", "agent")
    pub = tmp_path / "agent.pub"
    pub.write_text(pub_text + "\n")
    wallet = tmp_path / "pay.py"  # the agent's wallet: the customer daemon's lnpay
    customer = ln["CLOUDLEASE_TEST_LN_CUSTOMER_URL"]
    wallet.write_text(
        f"import json, sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        "from tests.test_lightning_electrum import _rpc\n"
        f"print(json.dumps(_rpc({customer!r}, 'lnpay', timeout=120, invoice=sys.argv[1])))\n")
    try:
        with served(net_home) as s:
            out = subprocess.run(
                [sys.executable, str(ROOT / "examples" / "l402-client.py"), s.url,
                 "--plan", "standard", "--hours", "1", "--ssh-key-file", str(pub),
                 "--pay", f"{sys.executable} {wallet}"],
                capture_output=True, text=True, timeout=300, check=False)
            assert out.returncode == 0, out.stderr
            got = json.loads(out.stdout)
            assert got["lease"]["status"] == "active" and "redeemed" in got["payment"]["flags"]
            machine = got["machine"] or until(lambda: s.api(
                "GET", f"/api/v1/leases/{got['token']}").json()["machine"])
            login = until(lambda: machine.get("login") or s.api(
                "GET", f"/api/v1/leases/{got['token']}").json()["machine"].get("login"))
            m = re.fullmatch(r"ssh -p (\d+) (\S+)@(\S+)", login)
            assert m, login
            done = ssh(key, int(m.group(1)), m.group(2), "echo agent $(whoami)",
                       host=m.group(3))
            assert done.returncode == 0 and done.stdout.strip() == f"agent {m.group(2)}"
    finally:
        release_all(net_home)


def test_nwc_renews_three_times_then_ends(cli, net_home, ln, tmp_path):  # noqa: F811
    from starlette.testclient import TestClient

    from cloudlease.web.app import build
    from tests.test_lightning_electrum import _rpc

    set_renewal(net_home, before_minutes=24 * 60, timeout_seconds=60,
                allow_loopback_relay=True)

    def pay(invoice: str) -> str:
        res = _rpc(ln["CLOUDLEASE_TEST_LN_CUSTOMER_URL"], "lnpay", timeout=120,
                   invoice=invoice)
        assert res["result"]["success"] is True, res
        return res["result"]["preimage"]

    with relay(tmp_path / "relay") as url, Wallet(url, pay) as wallet:
        with TestClient(build(net_home, tick=False)) as c:
            r = c.post("/api/v1/leases", json={"plan": "standard", "hours": 1,
                                               "method": "lightning"})
            out = r.json()
            assert lnpay(ln, out["payment"]["lightning"]["invoice"])["result"]["success"]
            tick_until(cli, out["payment"]["id"], "settled")
            put = c.put(f"/api/v1/leases/{out['token']}/renewal", json={
                "uri": wallet.uri, "max_per_renewal_sats": 1000, "max_total_sats": 3000})
            assert put.status_code == 201, put.text
        lid = out["lease"]["id"]
        for n in (1, 2, 3):
            cli("tick")
            lease = cli.json("lease", "show", lid)
            assert lease["paid_minutes"] == 60 * (n + 1), (n, lease)
        tick = cli.json("tick")
        assert any("budget spent" in x for x in tick["notes"]), tick["notes"]
        assert len(wallet.requests) == 3
    ends = cli.json("lease", "show", lid)["ends_at"]
    env = {"CLOUDLEASE_NOW": ends}
    got = subprocess.run([sys.executable, "-m", "cloudlease", "tick", "--json"],
                         capture_output=True, text=True, env={**__import__("os").environ,
                                                              **env}, timeout=120)
    assert {"id": lid, "from": "active", "to": "ended"} in json.loads(got.stdout)[
        "transitions"], got.stdout + got.stderr
