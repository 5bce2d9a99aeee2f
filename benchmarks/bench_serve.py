"""``cloudlease serve`` under load: prints figures, asserts nothing about time.

A. ``POST /api/v1/leases`` throughput and latency at 16 concurrent clients, one server
   process, SQLite: on-chain only with a watch-only (xpub) wallet, and on-chain + Lightning
   with the simulated node (an invoice per rent). Goal: >= 150 rents/s, p99 <= 50 ms.
B. The same on PostgreSQL (with CLOUDLEASE_TEST_PG_URL, from scripts/pg-cluster).
C. ``GET /l/<token>`` (the lease page with its QR code) at 50 concurrent readers: p50/p99.
D. 1,000 open SSE streams (``/api/v1/leases/<token>/events``): time to open them all and the
   server's resident memory before and with them. Goal: <= 250 MiB.
E. With the real Lightning network (``scripts/ln-regtest env`` in the environment): from
   the customer's ``lnpay`` returning to the ``status`` event saying settled, and to the
   page in chromium showing the lease active. Goal: <= 1 s p95.

    python benchmarks/bench_serve.py [--rents 600] [--reads 1000] [--streams 1000] \\
        [--payments 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402,F401  (puts the repository on sys.path)
import httpx  # noqa: E402

from tests.conftest import VPUB  # noqa: E402
from tests.serve_parts import served  # noqa: E402

OPEN = ("rate_limit_per_minute = 1000000", "max_open_unpaid = 1000000",
        "max_open_unpaid_per_client = 10000")


def cli(home: Path, *args: str, extra: dict[str, str] | None = None) -> None:
    e = c.env(CLOUDLEASE_HOME=str(home), **(extra or {}))
    subprocess.run([*c.cloudlease_cmd(), *args], env=e, check=True, capture_output=True)


def make_home(root: Path, name: str, *init: str, extra: dict[str, str] | None = None) -> Path:
    home = root / name
    cli(home, "init", *init, extra=extra)
    cfg = home / "config.toml"
    text = cfg.read_text()
    for line in OPEN:
        key = line.split(" = ")[0]
        text = "\n".join(line if x.startswith(key + " = ") else x for x in text.splitlines())
    cfg.write_text(text + "\n")
    return home


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def figures(label: str, lat: list[float], wall: float) -> None:
    ms = [x * 1000 for x in lat]
    print(f"  {label}: {len(lat) / wall:7.1f}/s   p50 {pct(ms, 50):6.1f} ms   "
          f"p99 {pct(ms, 99):6.1f} ms   max {max(ms):6.1f} ms   ({len(lat)} in {wall:.1f} s)")


async def hammer(url: str, n: int, workers: int, make) -> tuple[list[float], float, int]:
    lat: list[float] = []
    bad = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        async def worker() -> None:
            nonlocal bad
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t = time.perf_counter()
                r = await make(client, i)
                lat.append(time.perf_counter() - t)
                bad += r.status_code >= 400
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        return lat, time.perf_counter() - started, bad


def rent_call(method: str):
    async def call(client: httpx.AsyncClient, i: int) -> httpx.Response:
        return await client.post("/api/v1/leases", json={"plan": "standard", "hours": 2,
                                                         "method": method})
    return call


def bench_rents(home: Path, label: str, n: int, method: str) -> list[str]:
    with served(home) as s:
        asyncio.run(hammer(s.url, 20, 4, rent_call(method)))  # warm up
        lat, wall, bad = asyncio.run(hammer(s.url, n, 16, rent_call(method)))
        figures(f"{label:<34}", lat, wall)
        if bad:
            print(f"    ({bad} answers were errors)")
        tokens = [s.api("POST", "/api/v1/leases", json={"plan": "standard", "hours": 1,
                                                        "method": method}).json()["token"]
                  for _ in range(5)]
    return tokens


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def open_streams(url: str, tokens: list[str], n: int) -> tuple[float, list]:
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=0)
    client = httpx.AsyncClient(base_url=url, timeout=120, limits=limits)
    ready = asyncio.Event()
    count = 0
    stop = asyncio.Event()

    async def one(i: int) -> None:
        nonlocal count
        async with client.stream("GET", f"/api/v1/leases/{tokens[i % len(tokens)]}/events") \
                as r:
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    count += 1
                    if count == n:
                        ready.set()
                    break
            await stop.wait()

    t = time.perf_counter()
    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    await asyncio.wait_for(ready.wait(), 300)
    return time.perf_counter() - t, [tasks, stop, client]


def bench_streams(home: Path, n: int) -> None:
    with served(home) as s:
        tokens = [s.api("POST", "/api/v1/leases", json={"plan": "standard", "hours": 1,
                                                        "method": "onchain"}).json()["token"]
                  for _ in range(50)]
        before = rss_mib(s.proc.pid)

        async def run() -> None:
            took, (tasks, stop, client) = await open_streams(s.url, tokens, n)
            await asyncio.sleep(2)
            during = rss_mib(s.proc.pid)
            print(f"  {n} SSE streams open in {took:.1f} s; server RSS {before:.0f} MiB "
                  f"before, {during:.0f} MiB with them")
            stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.aclose()

        asyncio.run(run())


def bench_page(home: Path, n: int) -> None:
    with served(home) as s:
        tokens = [s.api("POST", "/api/v1/leases", json={"plan": "standard", "hours": 1}
                        ).json()["token"] for _ in range(20)]

        async def call(client: httpx.AsyncClient, i: int) -> httpx.Response:
            return await client.get(f"/l/{tokens[i % len(tokens)]}")

        asyncio.run(hammer(s.url, 50, 10, call))
        lat, wall, bad = asyncio.run(hammer(s.url, n, 50, call))
        figures("GET /l/<token>, 50 readers       ", lat, wall)


def bench_lightning(root: Path, payments: int) -> None:
    from tests.test_lightning_electrum import lnpay

    ln = {k: v for k, v in os.environ.items() if k.startswith("CLOUDLEASE_TEST_LN_")}
    if "CLOUDLEASE_TEST_LN_MERCHANT_URL" not in ln:
        print("E. skipped: no Lightning network (eval \"$(bash scripts/ln-regtest env)\")")
        return
    home = make_home(root, "ln", "--backend", "bitcoind", "--rpc-url",
                     ln["CLOUDLEASE_TEST_LN_BITCOIND_URL"], "--lightning", "electrum",
                     "--ln-url", ln["CLOUDLEASE_TEST_LN_MERCHANT_URL"])
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace('rpc_wallet = "cloudlease-watch"',
                                           f'rpc_wallet = "bench-{uuid.uuid4().hex[:8]}"'))
    from playwright.sync_api import sync_playwright

    from tests.serve_parts import CHROMIUM, CHROMIUM_ARGS, events

    to_event: list[float] = []
    to_page: list[float] = []
    with served(home) as s, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(payments):
            r = s.api("POST", "/api/v1/leases", json={"plan": "standard", "hours": 1,
                                                       "method": "lightning"}).json()
            token, invoice = r["token"], r["payment"]["lightning"]["invoice"]
            page = browser.new_page()
            page.goto(f"{s.url}/l/{token}")
            page.wait_for_function("() => !!window.EventSource")
            time.sleep(0.3)  # the page's stream is open
            import threading

            got: dict[str, float] = {}

            def sse(token: str = token, got: dict[str, float] = got) -> None:
                events(s, token, lambda e: e["payment"]["status"] == "settled", 120)
                got["sse"] = time.perf_counter()

            t = threading.Thread(target=sse)
            t.start()
            time.sleep(0.3)
            assert lnpay(ln, invoice)["result"]["success"]
            paid = time.perf_counter()
            page.wait_for_selector("text=Your server is paid for", timeout=120_000,
                                   state="attached")
            to_page.append(time.perf_counter() - paid)
            t.join(120)
            to_event.append(got["sse"] - paid)
            page.close()
        browser.close()
    for label, xs in (("lnpay returned -> SSE settled", to_event),
                      ("lnpay returned -> page active", to_page)):
        print(f"  {label}: p50 {statistics.median(xs) * 1000:.0f} ms, "
              f"p95 {pct(xs, 95) * 1000:.0f} ms, max {max(xs) * 1000:.0f} ms "
              f"({len(xs)} payments)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rents", type=int, default=600)
    ap.add_argument("--reads", type=int, default=1000)
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--payments", type=int, default=10)
    ap.add_argument("--only", default="ABCDE")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if "A" in args.only:
            print("A. POST /api/v1/leases, 16 clients, SQLite")
            onchain = make_home(root, "a1", "--xpub", VPUB, "--lightning", "none")
            bench_rents(onchain, "on-chain, xpub wallet", args.rents, "onchain")
            both = make_home(root, "a2", "--xpub", VPUB)
            bench_rents(both, "on-chain + Lightning (devchain node)", args.rents, "both")
        if "B" in args.only:
            print("B. POST /api/v1/leases, 16 clients, PostgreSQL")
            admin = os.environ.get("CLOUDLEASE_TEST_PG_URL")
            if not admin:
                print("  skipped: no CLOUDLEASE_TEST_PG_URL (scripts/pg-cluster env)")
            else:
                import psycopg

                name = f"bench_{uuid.uuid4().hex[:8]}"
                with psycopg.connect(admin, autocommit=True) as con:
                    con.execute(f"CREATE DATABASE {name}")
                try:
                    url = admin.rpartition("/")[0] + "/" + name
                    pg = make_home(root, "b", "--xpub", VPUB, "--lightning", "none",
                                   "--ledger-url", url)
                    bench_rents(pg, "on-chain, xpub wallet", args.rents, "onchain")
                finally:
                    with psycopg.connect(admin, autocommit=True) as con:
                        con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if "C" in args.only:
            print("C. the lease page")
            bench_page(make_home(root, "c", "--xpub", VPUB), args.reads)
        if "D" in args.only:
            print("D. live status streams")
            bench_streams(make_home(root, "d", "--xpub", VPUB, "--lightning", "none"),
                          args.streams)
        if "E" in args.only:
            print("E. a real Lightning payment seen by the page")
            bench_lightning(root, args.payments)


if __name__ == "__main__":
    main()
