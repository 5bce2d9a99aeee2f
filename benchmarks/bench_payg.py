"""Pay as you go under load: prints figures, asserts nothing about time.

A. L402 round trip on the real Electrum network (``scripts/ln-regtest env`` in the
   environment): ``POST /api/v1/leases`` with ``Accept-Payment: L402`` → 402, the customer
   daemon ``lnpay``s the invoice, the same POST with the credential → 201 (lease active).
   Goal: <= 2 s p95, most of it the payment.
B. The LNURL-pay callback (a fresh invoice per call) at 16 concurrent payers on one active
   lease: the simulated node, and the merchant Electrum daemon when the network is there.
C. NWC renewal from the invoice's creation to the lease's new ``ends_at``: a real relay on
   loopback, a wallet service paying through the customer Electrum daemon (the simulated
   node without the network). Goal: <= 3 s.

    python benchmarks/bench_payg.py [--l402 10] [--callbacks 400] [--renewals 5] [--only ABC]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402,F401  (puts the repository on sys.path)
from bench_serve import cli, hammer, make_home, pct  # noqa: E402

from tests.serve_parts import served  # noqa: E402


def ln_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("CLOUDLEASE_TEST_LN_")}


def electrum_home(root: Path, name: str) -> Path:
    ln = ln_env()
    home = make_home(root, name, "--backend", "bitcoind", "--rpc-url",
                     ln["CLOUDLEASE_TEST_LN_BITCOIND_URL"], "--lightning", "electrum",
                     "--ln-url", ln["CLOUDLEASE_TEST_LN_MERCHANT_URL"])
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace('rpc_wallet = "cloudlease-watch"',
                                           f'rpc_wallet = "bench-{uuid.uuid4().hex[:8]}"'))
    return home


def show(label: str, xs: list[float]) -> None:
    ms = [x * 1000 for x in xs]
    print(f"  {label}: p50 {statistics.median(ms):.0f} ms, p95 {pct(ms, 95):.0f} ms, "
          f"max {max(ms):.0f} ms ({len(xs)} runs)")


def bench_l402(root: Path, n: int) -> None:
    from tests.test_lightning_electrum import lnpay

    ln = ln_env()
    if "CLOUDLEASE_TEST_LN_MERCHANT_URL" not in ln:
        print("  skipped: no Lightning network (eval \"$(bash scripts/ln-regtest env)\")")
        return
    home = electrum_home(root, "l402")
    body = {"plan": "standard", "hours": 1}
    total, paying = [], []
    with served(home) as s:
        for _ in range(n):
            t0 = time.perf_counter()
            r = s.api("POST", "/api/v1/leases", json=body, headers={"Accept-Payment": "L402"})
            assert r.status_code == 402, r.text
            mac, inv = r.json()["macaroon"], r.json()["invoice"]
            t1 = time.perf_counter()
            paid = lnpay(ln, inv)["result"]
            t2 = time.perf_counter()
            ok = s.api("POST", "/api/v1/leases", json=body,
                       headers={"Authorization": f"L402 {mac}:{paid['preimage']}"})
            assert ok.status_code == 201 and ok.json()["lease"]["status"] == "active", ok.text
            total.append(time.perf_counter() - t0)
            paying.append(t2 - t1)
    show("402 -> lnpay -> 201 (whole round trip)", total)
    show("  of which the customer's lnpay", paying)
    show("  of which cloudlease (402 + 201)", [a - b for a, b in zip(total, paying,
                                                                       strict=True)])


def bench_callbacks(root: Path, n: int, electrum: bool) -> None:
    import re

    from cloudlease.ops.topups import decode_lnurl

    name = "cb-electrum" if electrum else "cb-devchain"
    home = electrum_home(root, name) if electrum else make_home(root, name)
    with served(home) as s:
        r = s.api("POST", "/api/v1/leases", json={"plan": "standard", "hours": 2,
                                                   "method": "lightning"}).json()
        token, invoice = r["token"], r["payment"]["lightning"]["invoice"]
        if electrum:
            from tests.test_lightning_electrum import lnpay

            lnpay(ln_env(), invoice)
        else:
            cli(home, "devchain", "ln-pay", invoice)
        deadline = time.monotonic() + 60
        while s.api("GET", f"/api/v1/leases/{token}").json()["lease"]["status"] != "active":
            assert time.monotonic() < deadline, "the lease never turned active"
            time.sleep(0.2)
        page = s.api("GET", f"/l/{token}").text
        url = decode_lnurl(re.search(r'data-copy="(LNURL1[0-9A-Z]+)"', page).group(1))
        path = "/" + url.split("/", 3)[3] + "/callback"

        async def call(client, i: int):
            return await client.get(path, params={"amount": 20_000 + 1000 * (i % 50)})

        asyncio.run(hammer(s.url, 16, 4, call))  # warm up
        lat, wall, bad = asyncio.run(hammer(s.url, n, 16, call))
    ms = [x * 1000 for x in lat]
    print(f"  {'Electrum' if electrum else 'simulated node'}: {len(lat) / wall:.1f} "
          f"callbacks/s, p50 {pct(ms, 50):.0f} ms, p99 {pct(ms, 99):.0f} ms, max "
          f"{max(ms):.0f} ms ({len(lat)} in {wall:.1f} s; {bad} errors)")


def bench_renewal(root: Path, n: int) -> None:
    from cloudlease.ops import renewals
    from cloudlease.ops.check import check
    from cloudlease.ops.context import Context
    from tests.nostr_parts import Wallet, relay
    from tests.test_payg_nwc import set_renewal

    ln = ln_env()
    electrum = "CLOUDLEASE_TEST_LN_MERCHANT_URL" in ln
    home = electrum_home(root, "nwc") if electrum else make_home(root, "nwc")
    set_renewal(home, before_minutes=7 * 24 * 60, timeout_seconds=60,
                allow_loopback_relay=True)

    def pay(invoice: str) -> str:
        if electrum:
            from tests.test_lightning_electrum import lnpay

            return lnpay(ln, invoice)["result"]["preimage"]
        from cloudlease.lightning.devnode import DevNode

        return DevNode(home / "devchain-ln.json").pay(invoice).preimage or ""

    times = []
    with relay(root / "relay") as url, Wallet(url, pay) as wallet:
        with served(home) as s:  # rent and connect; its loop stops before the timing
            r = s.api("POST", "/api/v1/leases", json={"plan": "standard", "hours": 1,
                                                       "method": "lightning"}).json()
            pay(r["payment"]["lightning"]["invoice"])
            token = r["token"]
            deadline = time.monotonic() + 60
            while s.api("GET", f"/api/v1/leases/{token}").json()["lease"]["status"] \
                    != "active":
                assert time.monotonic() < deadline
                time.sleep(0.2)
            s.api("PUT", f"/api/v1/leases/{token}/renewal",
                  json={"uri": wallet.uri, "max_per_renewal_sats": 10_000,
                        "max_total_sats": 1_000_000})
        ctx = Context.at(home)
        try:
            for _ in range(n):
                lease = ctx.read().lease(r["lease"]["id"])
                t0 = time.perf_counter()
                out = renewals.run(ctx, lambda rid: check(ctx, [rid]).statuses.get(rid))
                done = time.perf_counter()
                assert out.renewed, (out.failed, out.waiting)
                after = ctx.read().lease(lease.id)
                assert after.ends_at > lease.ends_at
                times.append(done - t0)
        finally:
            ctx.close()
    show(f"invoice made -> new ends_at ({'Electrum' if electrum else 'simulated node'})",
         times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--l402", type=int, default=10)
    ap.add_argument("--callbacks", type=int, default=400)
    ap.add_argument("--renewals", type=int, default=5)
    ap.add_argument("--only", default="ABC")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if "A" in args.only:
            print("A. L402 round trip on the Electrum network")
            bench_l402(root, args.l402)
        if "B" in args.only:
            print("B. LNURL-pay callback, 16 concurrent payers")
            bench_callbacks(root, args.callbacks, electrum=False)
            if "CLOUDLEASE_TEST_LN_MERCHANT_URL" in ln_env():
                bench_callbacks(root, args.callbacks // 4, electrum=True)
        if "C" in args.only:
            print("C. NWC renewal (relay on loopback)")
            bench_renewal(root, args.renewals)


if __name__ == "__main__":
    main()
