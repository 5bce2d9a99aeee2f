"""Lightning in the product: what it costs a rent, a tick and a waiting customer. Prints
figures; asserts nothing about time.

A. ``cloudlease rent --method both --json --no-wait`` against ``--method onchain`` (real
   subprocesses, a regtest home with the simulated chain and node; keys wallet, then a
   descriptor wallet). Goal: both ≤ 1.2 × onchain.
B. ``tick`` with ``--n`` (1,000) open Lightning requests on the simulated node: the pass
   in-process (wall time, reads of the node's state file) and ``cloudlease tick --json``.
   Goal ≤ 1 s, one backend call per pass.
C. The same on the LND REST protocol server (tests/lnd_server.py, HTTPS with a pinned
   certificate): HTTP requests per pass and wall time. Goal ≤ 1 s, one call per pass.
D. On the real Electrum network of ``scripts/ln-regtest`` (skipped when it is not
   running): the time from the customer's ``lnpay`` returning to a real
   ``cloudlease rent --wait`` process printing the lease active (lines are timestamped
   by a reader thread as they arrive). Goal ≤ 1 s. A negative figure means the lease was
   active before ``lnpay`` returned to the customer.

    python benchmarks/bench_lnwire.py [--n 1000] [--runs 7] [--payments 5] [--skip A,B,C,D]
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402  (puts the repository on sys.path)


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    return c.env(CLOUDLEASE_HOME=str(home), **extra)


def bench_rent(runs: int) -> None:
    print("A. rent --json --no-wait: --method both against --method onchain")
    cmd = c.cloudlease_cmd()
    for wallet, init_args in (("keys wallet", []), ("descriptor wallet",
                                                    ["--xpub", c.regtest_vpub()])):
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "h"
            c.run([*cmd, "init", *init_args], environ=cli_env(home))
            for _ in range(20):  # some history: the node's state file and the ledger grow
                c.run([*cmd, "rent", "--hours", "1", "--json", "--no-wait"],
                      environ=cli_env(home))
            got = {}
            for method in ("onchain", "both", "onchain", "both"):  # interleaved twice
                w = c.wall([*cmd, "rent", "--hours", "1", "--json", "--no-wait", "--method",
                            method], runs=runs, environ=cli_env(home))
                got.setdefault(method, []).append(w["median"])
            on, both = statistics.median(got["onchain"]), statistics.median(got["both"])
            print(f"  {wallet:<18} onchain {c.ms(on)}   both {c.ms(both)}   "
                  f"ratio {both / on:.2f} (goal ≤ 1.20)")


def _open_requests(ctx, n: int) -> float:
    from cloudlease.ops import leases

    t0 = time.perf_counter()
    for _ in range(n):
        leases.rent(ctx, 1, method="lightning")
    return time.perf_counter() - t0


def _tick(ctx, runs: int, counter) -> tuple[list[float], list[int]]:
    from cloudlease.ops.check import check

    times, calls = [], []
    for _ in range(runs):
        before = counter()
        t0 = time.perf_counter()
        report = check(ctx, tick=True)
        times.append(time.perf_counter() - t0)
        calls.append(counter() - before)
        assert len(report.checked) >= 1
    return times, calls


def bench_devnode(n: int, runs: int) -> None:
    from cloudlease.lightning.devnode import DevNode
    from cloudlease.ops.context import Context
    from cloudlease.ops.home import init

    print(f"B. tick with {n} open Lightning requests on the simulated node")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "h"
        init(home)
        ctx = Context.at(home)
        made = _open_requests(ctx, n)
        print(f"  setup: {n} rents --method lightning in {made:.1f} s "
              f"({made / n * 1000:.1f} ms each, state file "
              f"{c.human_bytes(c.size_of(home / 'devchain-ln.json'))})")
        reads = [0]
        real = DevNode._load

        def counted(self):
            reads[0] += 1
            return real(self)

        DevNode._load = counted  # type: ignore[method-assign]
        try:
            times, calls = _tick(ctx, runs, lambda: reads[0])
        finally:
            DevNode._load = real  # type: ignore[method-assign]
            ctx.close()
        print(f"  tick in-process            median {c.ms(statistics.median(times))}  "
              f"min {c.ms(min(times))}  state-file reads per pass {sorted(set(calls))}")
        w = c.wall([*c.cloudlease_cmd(), "tick", "--json"], runs=runs, environ=cli_env(home))
        print(f"  cloudlease tick --json     {c.fmt_wall(w)}  (goal ≤ 1 s)")


def bench_lnd(n: int, runs: int) -> None:
    from cloudlease.ops.context import Context
    from cloudlease.ops.home import init
    from tests.lnd_server import LndServer, make_cert

    print(f"C. tick with {n} open Lightning requests on the LND REST protocol server")
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = make_cert(Path(tmp) / "lnd")
        mac = Path(tmp) / "invoice.macaroon"
        mac.write_bytes(b"\x02\x01bench-macaroon")
        mac.chmod(0o600)
        server = LndServer(cert, key, mac.read_bytes())
        try:
            home = Path(tmp) / "h"
            init(home, lightning="lnd", ln_url=server.url, ln_macaroon=str(mac),
                 ln_tls_cert=str(cert))
            ctx = Context.at(home)
            made = _open_requests(ctx, n)
            for i in range(100):  # other apps' invoices on the node since
                server.add_invoice(1000, f"other {i}", 3600)
            print(f"  setup: {n} rents --method lightning in {made:.1f} s "
                  f"({made / n * 1000:.1f} ms each, an HTTPS call and a BOLT11 check each)")
            try:
                times, calls = _tick(ctx, runs, lambda: len(server.requests))
            finally:
                ctx.close()
            print(f"  tick in-process            median {c.ms(statistics.median(times))}  "
                  f"min {c.ms(min(times))}  HTTP requests per pass {sorted(set(calls))}")
            w = c.wall([*c.cloudlease_cmd(), "tick", "--json"], runs=runs,
                       environ=cli_env(home))
            print(f"  cloudlease tick --json     {c.fmt_wall(w)}  (goal ≤ 1 s)")
        finally:
            server.close()


def _ln_env() -> dict[str, str]:
    found = {k: v for k, v in os.environ.items() if k.startswith("CLOUDLEASE_TEST_LN_")}
    if "CLOUDLEASE_TEST_LN_MERCHANT_URL" in found:
        return found
    proc = subprocess.run(["bash", str(c.REPO / "scripts" / "ln-regtest"), "env"],
                          capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("export CLOUDLEASE_TEST_LN_"):
            k, _, v = line[len("export "):].partition("=")
            found[k] = v.strip('"')
    return found


def bench_electrum(payments: int) -> None:
    print("D. real Electrum network: customer lnpay returns → rent --wait prints active")
    ln = _ln_env()
    if "CLOUDLEASE_TEST_LN_MERCHANT_URL" not in ln:
        print("  skipped: no network (bash scripts/ln-regtest setup && bash scripts/ln-regtest "
              "start)")
        return
    from tests.test_lightning_electrum import lnpay

    cmd = c.cloudlease_cmd()
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "h"
        c.run([*cmd, "init", "--lightning", "electrum", "--ln-url",
               ln["CLOUDLEASE_TEST_LN_MERCHANT_URL"]], environ=cli_env(home))
        for _ in range(payments):
            lines: queue.Queue[tuple[float, str]] = queue.Queue()
            proc = subprocess.Popen([*cmd, "rent", "--hours", "1", "--method", "lightning",
                                     "--wait"], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True,
                                    env=cli_env(home, COLUMNS="4000"))

            def read(p=proc, q=lines) -> None:
                for line in p.stdout:
                    q.put((time.monotonic(), line))
                q.put((time.monotonic(), ""))

            threading.Thread(target=read, daemon=True).start()
            invoice = None
            while invoice is None:
                _, line = lines.get(timeout=60)
                m = re.search(r"lightning:(lnbcrt[0-9a-z]+)", line)
                invoice = m.group(1) if m else invoice
            paid = lnpay(ln, invoice)
            returned = time.monotonic()
            assert paid.get("result", {}).get("success") is True, paid
            seen = None
            while seen is None:
                when, line = lines.get(timeout=60)
                if re.search(r"lease L-\d+ active", line):
                    seen = when
                elif line == "":
                    break
            proc.wait(timeout=30)
            if seen is not None:
                figures.append(seen - returned)
    if figures:
        print(f"  {len(figures)} payments: median {c.ms(statistics.median(figures))}  "
              f"min {c.ms(min(figures))}  max {c.ms(max(figures))}  (goal ≤ 1 s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--payments", type=int, default=5)
    ap.add_argument("--skip", default="")
    args = ap.parse_args()
    skip = set(args.skip.upper().split(",")) if args.skip else set()
    if "A" not in skip:
        bench_rent(args.runs)
    if "B" not in skip:
        bench_devnode(args.n, args.runs)
    if "C" not in skip:
        bench_lnd(args.n, args.runs)
    if "D" not in skip:
        bench_electrum(args.payments)


if __name__ == "__main__":
    main()
