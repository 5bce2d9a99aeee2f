"""The SQL ledger engine: what a write costs at any size, and what history costs.

Prints (never asserts) figures for issue 10's goals:

A. ``cloudlease rent --json`` with 10, 1,000 and 10,000 open requests (goal: 10,000
   ≤ 1.2 × 10), and start-up against ``python -c "import typer"`` (goal ≤ 3 ×).
B. a burst of rents through the CLI, one process after another (goal ≥ 10.2 rents/s, 3 ×
   the TOML ledger's 3.4/s), and in one process (goal ≥ 200/s).
C. ``tick`` over 1,000 open requests, 100 of them paid, with the chain's answers fetched
   beforehand (chain time excluded; goal ≤ 0.2 s), in-process.
D. at 100,000 leases (a year of history and its audit chain): incremental ``verify``
   (goal ≤ 0.5 s), ``verify --full`` (goal ≤ half of ``hledger check`` on the same
   data), one tenant-month ``invoice create`` (≤ 0.2 s), a one-month ``export``
   (≤ 0.3 s), and the peak memory of each (≤ 150 MiB).
E. ``rent --json`` with the ledger on PostgreSQL against SQLite (goal ≤ 1.3 ×), when
   ``CLOUDLEASE_TEST_PG_URL`` names a cluster (``scripts/pg-cluster``).

    python benchmarks/bench_ledger.py [--leases 100000] [--burst 1000] [--runs 7]
                                      [--skip A,B,C,D,E] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def cli(home: Path, *args: str) -> list[str]:
    return [*c.cloudlease_cmd(), *args, "--home", str(home)]


def peak(argv: list[str], environ: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of one run of a subprocess.

    The peak comes from GNU time (``%M``) where it is installed: the ``ru_maxrss`` this
    process could read itself would count the pages the child inherited when it was forked
    from this (large, after ``build_home``) process, not what the command used."""
    timer = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
    full = [timer, "-f", "maxrss %M", *argv] if timer else argv
    t0 = time.perf_counter()
    proc = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=environ)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read() if proc.stderr else b""
    if proc.stderr:
        proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({code}): {err.decode(errors='replace')}")
    kib = usage.ru_maxrss
    for line in err.decode(errors="replace").splitlines():
        if line.startswith("maxrss "):
            kib = int(line.split()[1])
    return wall, kib / 1024


def med(argv: list[str], environ: dict[str, str], runs: int) -> tuple[float, float]:
    results = [peak(argv, environ) for _ in range(runs)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def section_a(tmp: Path, runs: int) -> None:
    print("A. rent --json against the number of open requests")
    environ = c.env(CLOUDLEASE_NOW=NOW.isoformat())
    base = None
    for n in (10, 1000, 10000):
        home = tmp / f"open-{n}"
        c.build_home(home, n, open_leases=n, recent_closed=0, open_kind="awaiting", now=NOW)
        wall, rss = med(cli(home, "rent", "--hours", "1", "--json", "--no-wait"), environ,
                        runs)
        base = base or wall
        print(f"   {n:>6,} open: {wall * 1000:7.1f} ms  ({wall / base:.2f} × the 10-open "
              f"figure; peak {rss:.0f} MiB)")
        if n != 10000:
            shutil.rmtree(home)
    typer = statistics.median(c.wall([sys.executable, "-c", "import typer"],
                                     runs=runs)["median"] for _ in range(1))
    rent = med(cli(tmp / "open-10000", "rent", "--hours", "1", "--json", "--no-wait"),
               environ, runs)[0]
    print(f"   python -c 'import typer': {typer * 1000:.1f} ms; rent --json (10,000 open) "
          f"{rent * 1000:.1f} ms = {rent / typer:.2f} × (goal ≤ 3 ×)")
    version = c.wall([*c.cloudlease_cmd(), "--version"], runs=runs)["median"]
    print(f"   cloudlease --version: {version * 1000:.1f} ms")
    shutil.rmtree(tmp / "open-10000")


def section_b(tmp: Path, burst: int) -> None:
    print("B. bursts of rents")
    home = tmp / "burst"
    c.init_home(home)
    environ = c.env()
    t0 = time.perf_counter()
    for _ in range(burst):
        c.run(cli(home, "rent", "--hours", "1", "--json", "--no-wait"), environ=environ)
    dt = time.perf_counter() - t0
    print(f"   {burst:,} rents through the CLI, one process after another: {dt:.1f} s = "
          f"{burst / dt:.1f} rents/s (goal ≥ 10.2)")
    from concurrent.futures import ThreadPoolExecutor

    workers = max(2, 2 * (os.cpu_count() or 1))
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda _: c.run(cli(home, "rent", "--hours", "1", "--json", "--no-wait"),
                                      environ=environ), range(burst)))
    dt = time.perf_counter() - t0
    print(f"   {burst:,} rents through the CLI, {workers} processes at a time: {dt:.1f} s = "
          f"{burst / dt:.1f} rents/s")
    from cloudlease.ops import leases
    from cloudlease.ops.context import Context

    ctx = Context.at(home)
    t0 = time.perf_counter()
    for _ in range(burst):
        leases.rent(ctx, 1)
    dt = time.perf_counter() - t0
    print(f"   {burst:,} rents in one process: {dt:.2f} s = {burst / dt:.0f} rents/s "
          "(goal ≥ 200)")
    ctx.close()
    shutil.rmtree(home)
    c.init_home(home, lightning="devchain")  # what an invoice from the node adds
    ctx = Context.at(home)
    t0 = time.perf_counter()
    for _ in range(burst):
        leases.rent(ctx, 1)
    dt = time.perf_counter() - t0
    print(f"   the same with --method both on the simulated Lightning node: {dt:.2f} s = "
          f"{burst / dt:.0f} rents/s (an invoice made, signed and decoded per rent)")
    ctx.close()
    shutil.rmtree(home)


class Prefetched:
    """A chain backend that answers from what the real one said before the clock ran."""

    name = "devchain"

    def __init__(self, real, addresses: list[str]) -> None:
        self._tip = real.tip()
        self._received = real.received(addresses)

    def watch(self, addresses) -> None:
        pass

    def tip_height(self) -> int:
        return self._tip.height

    def tip(self):
        return self._tip

    def orphaned(self, hashes) -> set[str]:
        return set()  # no reorg while the clock runs

    def received(self, addresses):
        return {a: self._received.get(a, []) for a in addresses}


def section_c(tmp: Path, runs: int) -> None:
    print("C. tick over 1,000 open requests (100 paid), chain answers prefetched")
    from cloudlease.bitcoin.backends.devchain import DevchainBackend
    from cloudlease.bitcoin.devchain import Devchain
    from cloudlease.ops.check import check
    from cloudlease.ops.context import Context

    times = []
    for run in range(runs):
        home = tmp / f"tick-{run}"
        os.environ["CLOUDLEASE_NOW"] = NOW.isoformat()
        try:
            c.build_home(home, 1000, open_leases=1000, recent_closed=0, open_kind="awaiting",
                         now=NOW)
            ctx = Context.at(home)
            reqs = ctx.read().requests.where("status = 'new'")
            chain = Devchain(home / "devchain.json")
            chain.pay_many([(r.address, r.amount_sats) for r in reqs[:100]])
            chain.mine(1)
            backend = Prefetched(DevchainBackend(home / "devchain.json"),
                                 [r.address for r in reqs])
            t0 = time.perf_counter()
            report = check(ctx, tick=True, backend=backend)
            times.append(time.perf_counter() - t0)
            ctx.close()
        finally:
            os.environ.pop("CLOUDLEASE_NOW", None)
        settled = sum(1 for t in report.transitions if t["to"] == "settled")
        shutil.rmtree(home)
    print(f"   {statistics.median(times) * 1000:.0f} ms (median of {runs}; {settled} settled "
          "per pass; goal ≤ 200 ms)")


def section_d(tmp: Path, leases: int, runs: int, keep: Path | None) -> None:
    print(f"D. history: {leases:,} leases")
    home = (keep or tmp) / f"history-{leases}"
    if not (home / "ledger.db").exists():
        t0 = time.perf_counter()
        info = c.build_home(home, leases, now=NOW, tenants=100, progress=print)
        print(f"   built in {time.perf_counter() - t0:.0f} s: {info['audit_entries']:,} audit "
              f"entries, ledger.db {c.human_bytes(c.size_of(home / 'ledger.db'))}")
    environ = c.env(CLOUDLEASE_NOW=NOW.isoformat())
    full, full_rss = med(cli(home, "verify", "--full", "--json"), environ, max(1, runs // 3))
    print(f"   verify --full: {full:.2f} s, peak {full_rss:.0f} MiB")
    for _ in range(20):  # some writes since the checkpoint the full run left
        c.run(cli(home, "rent", "--hours", "1", "--json", "--no-wait"), environ=environ)
    inc, inc_rss = med(cli(home, "verify", "--json"), environ, runs)
    print(f"   verify (incremental, 20 writes since the last): {inc * 1000:.0f} ms, peak "
          f"{inc_rss:.0f} MiB (goal ≤ 500 ms)")
    period = (NOW - timedelta(days=60)).strftime("%Y-%m")
    inv, inv_rss = med(cli(home, "invoice", "create", "--tenant", "tenant-001", "--period",
                           period, "--json"), environ, runs)
    print(f"   invoice create, one tenant-month ({period}): {inv * 1000:.0f} ms, peak "
          f"{inv_rss:.0f} MiB (goal ≤ 200 ms)")
    exp, exp_rss = med(cli(home, "export", "--format", "hledger", "--period", period),
                       environ, runs)
    print(f"   export --period {period} (hledger): {exp * 1000:.0f} ms, peak {exp_rss:.0f} MiB "
          "(goal ≤ 300 ms)")
    journal = tmp / "all.journal"
    c.run(cli(home, "export", "--format", "hledger", "-o", str(journal), "--force"),
          environ=environ)
    if shutil.which("hledger"):
        t0 = time.perf_counter()
        c.run(["hledger", "check", "-f", str(journal)])
        hl = time.perf_counter() - t0
        print(f"   hledger check on the full export: {hl:.2f} s; verify --full is "
              f"{full / hl:.2f} × that (goal ≤ 0.5 ×)")
    else:
        print("   hledger is not installed: no comparison")


def section_e(tmp: Path, runs: int) -> None:
    url = os.environ.get("CLOUDLEASE_TEST_PG_URL")
    print("E. rent --json on PostgreSQL against SQLite")
    if not url:
        print("   skipped: CLOUDLEASE_TEST_PG_URL is not set (scripts/pg-cluster)")
        return
    import psycopg

    name = f"bench_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name}")
        con.execute(f"CREATE DATABASE {name}")
    try:
        pg_url = url.rpartition("/")[0] + f"/{name}"
        vpub = c.regtest_vpub()
        sq, pg = tmp / "sqlite", tmp / "pg"
        c.run([*c.cloudlease_cmd(), "init", "--home", str(sq), "--xpub", vpub,
               "--lightning", "none"])
        c.run([*c.cloudlease_cmd(), "init", "--home", str(pg), "--xpub", vpub,
               "--lightning", "none",
               "--ledger-url", pg_url])
        environ = c.env()
        s = med(cli(sq, "rent", "--hours", "1", "--json", "--no-wait"), environ, runs)[0]
        p = med(cli(pg, "rent", "--hours", "1", "--json", "--no-wait"), environ, runs)[0]
        print(f"   SQLite {s * 1000:.1f} ms, PostgreSQL {p * 1000:.1f} ms = {p / s:.2f} × "
              "(goal ≤ 1.3 ×)")
    finally:
        with psycopg.connect(url, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leases", type=int, default=100_000)
    ap.add_argument("--burst", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--skip", default="")
    ap.add_argument("--keep", type=Path, help="keep (and reuse) the history home here")
    args = ap.parse_args()
    skip = set(args.skip.upper().split(",")) - {""}
    tmp = Path(tempfile.mkdtemp(prefix="cl-bench-ledger-"))
    try:
        if "A" not in skip:
            section_a(tmp, args.runs)
        if "B" not in skip:
            section_b(tmp, args.burst)
        if "C" not in skip:
            section_c(tmp, min(args.runs, 5))
        if "D" not in skip:
            section_d(tmp, args.leases, args.runs, args.keep)
        if "E" not in skip:
            section_e(tmp, args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
