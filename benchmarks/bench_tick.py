"""``tick`` speed: 1,000 open requests checked over the Esplora API, and an idle tick.

Measures (median of several runs, each warmed up once; ledger.db is restored before each
run so every run does the same work; the clock is pinned with CLOUDLEASE_NOW so nothing
expires midway):

A. 1,000 open payment requests, 100 of them just paid (one confirmed tx each), against
   ``devchain serve`` running in a separate process, with the esplora backend:
   - in-process ``check(ctx, tick=True, backend=EsploraBackend([url]))``: wall time,
     HTTP requests made and ledger writes (audit entries added); the first tick
     (settles 100, activates 100 leases, one write) and a steady tick (the same 1,000
     addresses asked again, nothing changes: no write expected);
   - the CLI ``cloudlease tick --json`` as a subprocess, config switched to esplora.
B. "10,000 addresses of history", taken as: the same 1,000 open requests, each address
   paid by 10 confirmed transactions (10,000 outputs in all; 1,000 settle on the first
   tick). Each address still fits one Esplora page (25 confirmed).
C. The same 10,000 outputs on 100 addresses (100 transactions each), which forces paging
   (/txs, then /txs/chain/:last_seen three times, then /address/:a for the counts).
D. ``cloudlease tick --json`` with nothing to do, devchain backend: on an empty ledger,
   and with 50 settled, active leases (made by rent → pay → mine → tick; their payments
   are re-checked for reorgs during 6 h, so they are still asked about); it should write
   nothing (the audit chain's head is compared before and after).

The homes' ledgers are built by ``_common.build_home`` straight into ledger.db (every
lease open and awaiting payment, one audit entry each).

Run from the repository root:

    python benchmarks/bench_tick.py
    python benchmarks/bench_tick.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

NOW = "2026-03-02T12:00:00Z"
SERVER = """
import sys
from cloudlease.bitcoin.devserver import serve
server = serve(sys.argv[1], port=0)
print(server.url, flush=True)
server.serve_forever()
"""


class Snapshot:
    """A home's ledger.db, to put back before each timed run (no connection may be open on
    it while it is taken or restored)."""

    def __init__(self, home: Path) -> None:
        self.db = home / "ledger.db"
        con = sqlite3.connect(self.db)
        try:  # fold the write-ahead log into the file, so the file is the whole ledger
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            con.close()
        self.saved = self.db.read_bytes()

    def restore(self) -> None:
        for suffix in ("-wal", "-shm"):
            self.db.with_name(self.db.name + suffix).unlink(missing_ok=True)
        self.db.write_bytes(self.saved)


def audit_head(home: Path) -> int:
    """The audit chain's last entry (a write adds one)."""
    con = sqlite3.connect(home / "ledger.db")
    try:
        return con.execute("SELECT max(seq) FROM audit").fetchone()[0]
    finally:
        con.close()


def start_server(devchain: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(devchain)],
                            stdout=subprocess.PIPE, text=True,
                            env=c.env(CLOUDLEASE_NOW=NOW))
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        proc.kill()
        proc.wait()
        raise SystemExit("devchain server did not start")
    return proc, url


def stop_server(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def in_process(home: Path, url: str, runs: int, snap: Snapshot | None) -> dict[str, float]:
    """Median wall time of check(tick=True) with a fresh EsploraBackend, and its counts
    (with ``snap``: restored before each run, the first run untimed)."""
    from cloudlease.bitcoin.backends.esplora import EsploraBackend
    from cloudlease.ops.check import check
    from cloudlease.ops.context import Context

    times, made, moved, checked, writes = [], 0, 0, 0, 0
    for k in range(runs + (snap is not None)):  # with a snapshot, one untimed warm-up first
        if snap is not None:
            snap.restore()
        head = audit_head(home)
        ctx = Context.at(home, lock_timeout=60)
        backend = EsploraBackend([url])
        t0 = time.perf_counter()
        report = check(ctx, tick=True, backend=backend)
        if k or snap is None:
            times.append(time.perf_counter() - t0)
        ctx.close()
        made, moved, checked = backend.requests_made, len(report.transitions), len(report.checked)
        writes = audit_head(home) - head
    times.sort()
    return {"median": times[len(times) // 2], "min": times[0], "max": times[-1], "runs": runs,
            "requests": made, "transitions": moved, "checked": checked, "writes": writes}


def line(label: str, w: dict[str, float], extra: str = "") -> None:
    print(f"  {label:40s} {c.fmt_wall(w)}{extra}")


def scenario(tmp: Path, name: str, *, requests: int, txs_per_address: int, paid: int,
             runs: int, cmd: list[str]) -> None:
    """``requests`` open requests; ``paid`` of them receive ``txs_per_address`` confirmed
    transactions adding up to the amount due."""
    from cloudlease.bitcoin.devchain import Devchain
    from cloudlease.ops.context import Context

    home = tmp / name
    t0 = time.perf_counter()
    c.build_home(home, requests, open_leases=requests, recent_closed=0, audit_per_lease=1,
                 open_kind="awaiting")
    ctx = Context.at(home)
    due = [(r.address, r.amount_sats) for r in ctx.read().requests.where(
        "status = 'new'", order="address_index", limit=paid)]
    ctx.close()
    chain = Devchain(home / "devchain.json")
    for k in range(txs_per_address):
        part = [(a, s // txs_per_address + (s % txs_per_address if k == 0 else 0))
                for a, s in due]
        for i in range(0, len(part), 2000):
            chain.pay_many(part[i:i + 2000])
        chain.mine(1)
    outputs = paid * txs_per_address
    print(f"{name}: {requests:,} open requests; {paid:,} addresses paid by "
          f"{txs_per_address} tx each = {outputs:,} outputs; {c.ledger_size(home)}, "
          f"devchain.json {c.human_bytes(c.size_of(home / 'devchain.json'))} (set up in "
          f"{time.perf_counter() - t0:.1f} s)")
    server, url = start_server(home / "devchain.json")
    try:
        snap = Snapshot(home)
        w = in_process(home, url, runs, snap)
        line("first tick, in-process", w,
             f"  {w['requests']:.0f} HTTP requests, {w['checked']:.0f} checked, "
             f"{w['transitions']:.0f} transitions, {w['writes']:.0f} ledger writes")
        # steady state: the tick after that one (nothing changes)
        snap.restore()
        in_process(home, url, 1, None)
        steady = Snapshot(home)
        w = in_process(home, url, runs, steady)
        line("steady tick, in-process", w,
             f"  {w['requests']:.0f} HTTP requests, {w['transitions']:.0f} transitions, "
             f"{w['writes']:.0f} ledger writes")
        c.set_config(home, "backend", "kind", "esplora")
        c.set_config(home, "backend", "esplora_urls", [url])
        environ = c.env(CLOUDLEASE_NOW=NOW)
        argv = [*cmd, "tick", "--json", "--home", str(home)]
        w = c.wall(argv, runs=runs, environ=environ, before=snap.restore)
        line("first tick, cloudlease tick --json", w)
        w = c.wall(argv, runs=runs, environ=environ, before=steady.restore)
        line("steady tick, cloudlease tick --json", w)
    finally:
        stop_server(server)
        shutil.rmtree(home, ignore_errors=True)
    print()


def idle(tmp: Path, runs: int, cmd: list[str]) -> None:
    from cloudlease.bitcoin.devchain import Devchain
    from cloudlease.ops import leases
    from cloudlease.ops.check import check
    from cloudlease.ops.context import Context
    from cloudlease.ops.home import init

    environ = c.env(CLOUDLEASE_NOW=NOW)
    print("D: cloudlease tick --json with nothing to do (devchain backend)")
    home = tmp / "idle-empty"
    init(home)
    w = c.wall([*cmd, "tick", "--json", "--home", str(home)], runs=runs, environ=environ)
    line("empty ledger", w)

    home = tmp / "idle-50"
    init(home)
    ctx = Context.at(home)
    rentals = [leases.rent(ctx, 2) for _ in range(50)]
    chain = Devchain(home / "devchain.json")
    chain.pay_many([(r.request.address, r.request.amount_sats) for r in rentals])
    chain.mine(1)
    report = check(ctx, tick=True)
    ctx.close()
    assert len(report.transitions) == 100, report.transitions  # 50 requests + 50 leases
    before = audit_head(home)
    w = c.wall([*cmd, "tick", "--json", "--home", str(home)], runs=runs, environ=environ)
    writes = audit_head(home) - before
    line("50 settled, active leases", w,
         "" if not writes else f"  ({writes} writes to the ledger!)")
    w = c.wall([*cmd, "lease", "list", "--open", "--json", "--home", str(home)], runs=runs,
               environ=environ)
    line("(for scale: lease list --open --json)", w)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    os.environ["CLOUDLEASE_NOW"] = NOW  # in-process building and checks share the clock
    cmd = c.cloudlease_cmd()
    print(f"python {sys.version.split()[0]}; cloudlease command: {' '.join(cmd)}; "
          f"median of {args.runs} runs; clock pinned at {NOW}\n")
    tmp = Path(tempfile.mkdtemp(prefix="cloudlease-bench-tick-"))
    try:
        scenario(tmp, "A", requests=1000, txs_per_address=1, paid=100, runs=args.runs,
                 cmd=cmd)
        scenario(tmp, "B", requests=1000, txs_per_address=10, paid=1000, runs=args.runs,
                 cmd=cmd)
        scenario(tmp, "C", requests=100, txs_per_address=100, paid=100, runs=args.runs,
                 cmd=cmd)
        idle(tmp, args.runs, cmd)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
