"""A tenant in a real browser (Debian's chromium under Playwright) against a real
``cloudlease serve`` process on the simulated chain: rent with an SSH key, read the QR code
off the screen (zbarimg), pay part, pay the rest, see it confirm, all without reloading the
page; and an expired quote renewed. At a phone's size (375×667) and a desktop's
(1280×800), with screenshots kept in the test's folder (and looked at while building)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudlease.ops.leasepage import qr_text
from tests.machine_helpers import PUB
from tests.serve_parts import browser, served, zbar  # noqa: F401 - browser is a fixture
from tests.test_serve_api import set_serve

pytestmark = pytest.mark.slow
SIZES = [(375, 667), (1280, 800)]
WAIT = 60_000  # ms: a busy 2-core machine, a pass every second


def rent_in_browser(page, url: str, *, method: str = "both", hours: str = "2") -> str:
    page.goto(url + "/")
    page.fill("input[name=hours]", hours)
    page.fill("textarea[name=ssh_key]", PUB)
    page.check(f"input[name=method][value={method}]")
    page.click("button[type=submit]")
    page.wait_for_url("**/l/*", timeout=WAIT)
    return page.url.rsplit("/l/", 1)[1].split("#")[0]


def read_qr(page, path: Path) -> list[str]:
    page.locator("a.qr svg").screenshot(path=str(path))
    return zbar(path)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_onchain_checkout_partial_then_paid_without_reload(cli, home, browser, tmp_path,  # noqa: F811
                                                           size):
    set_serve(home, chain_poll_seconds=1)
    w, h = size
    with served(home) as s:
        page = browser.new_page(viewport={"width": w, "height": h})
        page.goto(s.url + "/")
        page.screenshot(path=str(tmp_path / f"store-{w}.png"), full_page=True)
        token = rent_in_browser(page, s.url, method="onchain")
        state = s.api("GET", f"/api/v1/leases/{token}").json()
        pay = state["payment"]
        assert pay["methods"] == ["onchain"] and state["lease"]["tenant"].startswith("web-")
        page.screenshot(path=str(tmp_path / f"checkout-{w}.png"), full_page=True)
        assert read_qr(page, tmp_path / f"qr-{w}.png") == [qr_text(pay["uri"])]
        # the page fits the screen: nothing wider than the viewport
        assert page.evaluate("document.documentElement.scrollWidth") <= w
        page.evaluate("window.__noReload = 42")
        cli("devchain", "pay", pay["id"], "--sats", "500")
        page.wait_for_selector("text=1,500 sat still due", timeout=WAIT)
        page.screenshot(path=str(tmp_path / f"partial-{w}.png"), full_page=True)
        due = s.api("GET", f"/api/v1/leases/{token}").json()["payment"]["uri"]
        assert "amount=0.000015" in due
        assert read_qr(page, tmp_path / f"qr-due-{w}.png") == [qr_text(due)]
        cli("devchain", "pay", pay["id"])
        page.wait_for_selector("text=Payment received", timeout=WAIT)
        cli("devchain", "mine")
        page.wait_for_selector("text=Your server is paid for", timeout=WAIT)
        assert page.evaluate("window.__noReload") == 42  # updated in place, never reloaded
        page.screenshot(path=str(tmp_path / f"active-{w}.png"), full_page=True)
        assert "Receipts" in page.content()
        page.close()
    log = s.log_text()
    assert token not in log and "/l/\u2026" in log and "/api/v1/leases/\u2026/events" in log


def test_expired_quote_gets_a_fresh_one(cli, home, browser, tmp_path):  # noqa: F811
    with served(home, env={"CLOUDLEASE_NOW": "2026-03-01T10:00:00Z"}) as s:
        page = browser.new_page(viewport={"width": 375, "height": 667})
        token = rent_in_browser(page, s.url)
        page.close()
    with served(home, env={"CLOUDLEASE_NOW": "2026-03-01T10:20:00Z"}) as s:
        page = browser.new_page(viewport={"width": 375, "height": 667})
        page.goto(f"{s.url}/l/{token}")
        page.wait_for_selector("text=This quote expired", timeout=WAIT)
        page.screenshot(path=str(tmp_path / "expired.png"), full_page=True)
        page.click("text=Get a fresh quote")
        page.wait_for_selector("text=Pay for 2 hours of standard", timeout=WAIT)
        fresh = page.url.rsplit("/l/", 1)[1]
        assert fresh != token
        state = s.api("GET", f"/api/v1/leases/{fresh}").json()
        assert state["lease"]["status"] == "awaiting_payment"
        assert state["lease"]["tenant"] == s.api(
            "GET", f"/api/v1/leases/{token}").json()["lease"]["tenant"]
        page.screenshot(path=str(tmp_path / "fresh.png"), full_page=True)
        page.close()


def test_without_javascript_the_page_still_works(cli, home, browser, tmp_path):  # noqa: F811
    set_serve(home, chain_poll_seconds=1)
    with served(home) as s:
        ctx = browser.new_context(java_script_enabled=False,
                                  viewport={"width": 375, "height": 667})
        page = ctx.new_page()
        token = rent_in_browser(page, s.url)
        assert page.locator("a.qr svg").count() == 1
        assert page.locator("button.copy").first.is_hidden()  # copy needs JS: hidden
        pid = s.api("GET", f"/api/v1/leases/{token}").json()["payment"]["id"]
        cli("devchain", "ln-pay", pid)
        s.api("GET", "/healthz")
        import time

        deadline = time.monotonic() + 60
        while "Your server is paid for" not in page.content():
            assert time.monotonic() < deadline
            page.reload()  # what the <noscript> refresh does every 15 s
            page.wait_for_timeout(500)
        ctx.close()
