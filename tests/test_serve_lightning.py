"""The whole tenant flow on the REAL Lightning network of ``scripts/ln-regtest``, in a real
browser: open the storefront, rent 2 h with an SSH key, read the QR code off the screen,
the customer's Electrum daemon pays with ``lnpay``, the page turns active without a reload
and shows the ssh command; with the ssh-account driver (as root), that command logs in.
Marked ``lightning`` (and ``provision`` for the login): without the network these tests
skip and say how to start it; with ``CI`` set they fail."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from cloudlease.ops.leasepage import qr_text
from tests.machine_helpers import release_all, start_lease_ids_at
from tests.provision_parts import keypair, need, ssh
from tests.serve_parts import browser, served, zbar  # noqa: F401 - browser is a fixture
from tests.test_lightning_electrum import ln, lnpay  # noqa: F401 - ln is a fixture
from tests.test_lightning_network import chain, net_home  # noqa: F401 - fixtures
from tests.test_machines_real import GROUP, PARENT, parts  # noqa: F401 - parts is a fixture
from tests.test_serve_api import set_serve

pytestmark = [pytest.mark.lightning, pytest.mark.provision, pytest.mark.slow]
WAIT = 90_000


@pytest.fixture
def shop(net_home: Path, parts: dict):  # noqa: F811
    """The network home with the ssh-account driver and a short chain poll."""
    from tests.machine_helpers import set_provision

    need("sshd", "ssh", "ssh-keygen", "useradd", "userdel", "chage")
    set_serve(net_home, chain_poll_seconds=2)
    set_provision(net_home, driver="ssh-account", state_dir=str(parts["state"] / "serve"),
                  port_min=22700, port_max=22799, cgroup_parent=PARENT, tenant_group=GROUP,
                  timeout_seconds=30)
    start_lease_ids_at(net_home, random.randrange(100_000, 999_999))
    try:
        yield net_home
    finally:
        release_all(net_home)


def test_lnpay_turns_the_page_active_and_the_ssh_command_logs_in(
        shop, ln, browser, tmp_path):  # noqa: F811
    key, pub = keypair(tmp_path / "keys", "tenant")
    with served(shop) as s:
        page = browser.new_page(viewport={"width": 375, "height": 667})
        page.goto(s.url + "/")
        page.fill("textarea[name=ssh_key]", pub)
        page.click("button[type=submit]")
        page.wait_for_url("**/l/*", timeout=WAIT)
        token = page.url.rsplit("/l/", 1)[1]
        pay = s.api("GET", f"/api/v1/leases/{token}").json()["payment"]
        assert pay["lightning"]["node"] == "electrum" and pay["amount_sats"] == 2000
        page.screenshot(path=str(tmp_path / "checkout.png"), full_page=True)
        page.locator("a.qr svg").screenshot(path=str(tmp_path / "qr.png"))
        assert zbar(tmp_path / "qr.png") == [qr_text(pay["uri"])]
        page.evaluate("window.__noReload = 7")
        paid = lnpay(ln, pay["lightning"]["invoice"])
        assert paid["result"]["success"] is True, paid
        page.wait_for_selector("text=Your server is paid for", timeout=WAIT)
        page.wait_for_selector("#login", timeout=WAIT)
        assert page.evaluate("window.__noReload") == 7
        page.screenshot(path=str(tmp_path / "active.png"), full_page=True)
        login = page.inner_text("#login")
        m = re.fullmatch(r"ssh -p (\d+) (\S+)@(\S+)", login)
        assert m, login
        assert "Host key" in page.content() and "SHA256:" in page.content()
        out = ssh(key, int(m.group(1)), m.group(2), "echo hello from $(whoami)",
                  host=m.group(3))
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"hello from {m.group(2)}"
        receipts = s.api("GET", f"/api/v1/leases/{token}/receipts").json()["receipts"]
        assert receipts[0]["payments"][0]["preimage"] == paid["result"]["preimage"]
        page.close()
