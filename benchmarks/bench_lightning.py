"""Lightning backends: invoice creation latency, one status pass over many open invoices,
and how soon a real payment is seen. Prints figures; asserts nothing about time.

A. devchain (the simulated node, ``devchain-ln.json`` in a temp dir): ``create_invoice``
   latency; ``statuses()`` over 1,000 open invoices (100 of them paid): wall time and
   state-file reads per pass.
B. LND protocol server (tests/lnd_server.py, HTTPS on loopback with a pinned certificate):
   ``create_invoice`` latency (one POST, local BOLT11 check); ``statuses()`` over 1,000 open
   invoices (100 settled) with HTTP requests counted per pass. The 1,000 are added on the
   server directly (creating them through the client would time the decoder 1,000 times).
C. Electrum, the real network of ``scripts/ln-regtest`` (skipped when it is not running):
   ``create_invoice`` latency, ``statuses()`` over ``--electrum-open`` open invoices, and the
   time from the customer's ``lnpay`` returning until ``statuses()`` polled every 0.2 s
   reports the invoice paid.

Run from the repository root (for C, start the network first):

    python benchmarks/bench_lightning.py
    bash scripts/ln-regtest start && eval "$(bash scripts/ln-regtest env)" && \\
        python benchmarks/bench_lightning.py --payments 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402,F401  (puts the repository on sys.path)

from cloudlease.lightning import LnInvoice, LnState  # noqa: E402


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def show(label: str, samples: list[float], extra: str = "") -> None:
    print(f"  {label:<52} median {ms(statistics.median(samples))}  "
          f"min {ms(min(samples))}  max {ms(max(samples))}  {extra}".rstrip())


def bench_devnode(n: int, runs: int) -> None:
    from cloudlease.lightning.devnode import DevNode

    print(f"A. devchain simulated node, {n} open invoices")
    with tempfile.TemporaryDirectory() as tmp:
        node = DevNode(Path(tmp) / "devchain-ln.json")
        invoices = []
        t0 = time.perf_counter()
        create = []
        for i in range(n):
            t = time.perf_counter()
            invoices.append(node.create_invoice(1_000_000 + i * 1000, f"lease L-{i} (2 h)", 900))
            create.append(time.perf_counter() - t)
        total = time.perf_counter() - t0
        show("create_invoice (first 50)", create[:50])
        show(f"create_invoice (last 50, {n} in the file)", create[-50:],
             f"({total:.1f} s for all {n})")
        for inv in invoices[:: max(1, n // 100)]:
            node.pay(inv.bolt11)
        reads = []
        real = Path.read_bytes

        def counting(self: Path) -> bytes:
            reads.append(1)
            return real(self)

        Path.read_bytes = counting  # type: ignore[method-assign]
        try:
            samples = timed(lambda: node.statuses(invoices), runs)
        finally:
            Path.read_bytes = real  # type: ignore[method-assign]
        got = node.statuses(invoices)
        paid = sum(s.state == LnState.PAID for s in got.values())
        show(f"statuses() over {n} ({paid} paid)", samples,
             f"state-file reads per pass: {len(reads) // runs}")
        size = (Path(tmp) / "devchain-ln.json").stat().st_size
        print(f"  devchain-ln.json: {size / 1024:.0f} KiB")


def bench_lnd(n: int, runs: int) -> None:
    from cloudlease.lightning.lnd import LndNode
    from tests.lnd_server import LndServer, make_cert

    print(f"B. LND REST protocol server (loopback HTTPS, pinned cert), {n} open invoices")
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(Path(tmp))
        mac = Path(tmp) / "invoice.macaroon"
        mac.write_bytes(b"\x02\x01\x03lnd-bench")
        mac.chmod(0o600)
        server = LndServer(cert, key, mac.read_bytes())
        node = LndNode(server.url, network="regtest", macaroon=mac, tls_cert=cert, timeout=30)
        try:
            node.create_invoice(1_000, "warm-up", 900)  # TLS handshake, imports
            show("create_invoice (POST /v1/invoices + BOLT11 check)",
                 timed(lambda: node.create_invoice(21_000_000, "lease L-1 (2 h)", 900), 30))
            invoices = []
            now = int(time.time())
            for i in range(n):
                raw = server.add_invoice(1_000_000 + i * 1000, f"lease L-{i}", 900, created=now)
                h = bytes.fromhex(_b64hex(raw["r_hash"])).hex()
                invoices.append(LnInvoice(raw["payment_request"], h, 1_000_000 + i * 1000,
                                          f"lease L-{i}", datetime.fromtimestamp(now, UTC),
                                          datetime.fromtimestamp(now, UTC)
                                          + timedelta(seconds=900)))
            for inv in invoices[:: max(1, n // 100)]:
                server.settle(inv.payment_hash)
            before = len(server.requests)
            samples = timed(lambda: node.statuses(invoices), runs)
            per_pass = (len(server.requests) - before) / runs
            got = node.statuses(invoices)
            paid = sum(s.state == LnState.PAID for s in got.values())
            show(f"statuses() over {n} ({paid} settled)", samples,
                 f"HTTP requests per pass: {per_pass:g}")
            for extra in (100, 2000):
                for i in range(extra):
                    server.add_invoice(1_000, f"another app {i}", 900)
                before = len(server.requests)
                samples = timed(lambda: node.statuses(invoices), max(1, runs // 2))
                per_pass = (len(server.requests) - before) / max(1, runs // 2)
                show(f"  same, after {extra} more invoices by other apps", samples,
                     f"HTTP requests per pass: {per_pass:g}")
        finally:
            node.close()
            server.close()


def _b64hex(value: str) -> str:
    import base64

    return base64.b64decode(value).hex()


def bench_electrum(open_n: int, payments: int) -> None:
    from cloudlease.lightning.electrum import ElectrumNode

    print("C. Electrum 4.8 daemons of scripts/ln-regtest (real network)")
    env = dict(os.environ)
    if "CLOUDLEASE_TEST_LN_MERCHANT_URL" not in env:
        found = subprocess.run(["bash", str(c.REPO / "scripts" / "ln-regtest"), "env"],
                               capture_output=True, text=True, check=False)
        for line in found.stdout.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value.strip('"')
    if "CLOUDLEASE_TEST_LN_MERCHANT_URL" not in env:
        print("  skipped: the network is not running (bash scripts/ln-regtest setup && "
              "bash scripts/ln-regtest start)")
        return
    from cloudlease.net import Http

    customer = env["CLOUDLEASE_TEST_LN_CUSTOMER_URL"]
    from urllib.parse import urlsplit

    cparts = urlsplit(customer)
    payer = Http(timeout=120, trust_env=False, pool_size=1)

    def lnpay(bolt11: str) -> dict:
        return payer.post(f"http://{cparts.hostname}:{cparts.port}/",
                          auth=(cparts.username or "", cparts.password or ""),
                          json_body={"jsonrpc": "2.0", "id": 1, "method": "lnpay",
                                     "params": {"invoice": bolt11}}).json()

    node = ElectrumNode(env["CLOUDLEASE_TEST_LN_MERCHANT_URL"], network="regtest", timeout=60)
    try:
        show("create_invoice (add_request + BOLT11 check)",
             timed(lambda: node.create_invoice(21_000_000, "lease L-1 (2 h)", 900), 20))
        invoices = [node.create_invoice(1_000_000 + i * 1000, f"lease L-{i}", 900)
                    for i in range(open_n)]
        before = node.calls
        samples = timed(lambda: node.statuses(invoices), 5)
        show(f"statuses() over {open_n} open", samples,
             f"JSON-RPC calls per pass: {(node.calls - before) / 5:g}")
        seen = []
        for i in range(payments):
            inv = node.create_invoice(5_000_000 + i * 1000, f"speed {i}", 900)
            paid = lnpay(inv.bolt11)
            returned = time.perf_counter()
            if not paid.get("result", {}).get("success"):
                print(f"  payment {i} failed: {paid}")
                continue
            while True:
                st = node.statuses([inv])[inv.payment_hash]
                if st.state == LnState.PAID:
                    seen.append(time.perf_counter() - returned)
                    break
                if time.perf_counter() - returned > 30:
                    print(f"  payment {i}: not seen as paid within 30 s")
                    break
                time.sleep(0.2)
        if seen:
            show(f"lnpay returned -> statuses() says paid ({len(seen)} payments, 0.2 s poll)",
                 seen)
    finally:
        node.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="open invoices for A and B")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--electrum-open", type=int, default=100)
    ap.add_argument("--payments", type=int, default=10)
    ap.add_argument("--skip", default="", help="comma list of sections to skip: A,B,C")
    args = ap.parse_args()
    skip = {s.strip().upper() for s in args.skip.split(",") if s.strip()}
    if "A" not in skip:
        bench_devnode(args.n, args.runs)
    if "B" not in skip:
        bench_lnd(args.n, args.runs)
    if "C" not in skip:
        bench_electrum(args.electrum_open, args.payments)


if __name__ == "__main__":
    main()
