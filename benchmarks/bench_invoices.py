"""``invoice create`` and ``export`` over a ledger with 100,000 leases.

The ledger is built by ``_common.build_home`` straight into ledger.db with its audit chain
(leases 5 minutes apart over about a year, half of them anonymous, 80 % of the closed ones
paid; 100 recently ended and 50 open), plus 500 settled pool contributions and 12 monthly
payouts written in one ``ctx.transaction``.

Measures (``time.perf_counter``; in-process figures are one run each, CLI figures the
median of ``--runs`` real subprocesses):

1. in-process ``ops.invoicing.create`` for one tenant's month (about 430 lines at 100k
   leases), again (nothing changed: no write), the anonymous-sales statement of the same
   month (one line per day and plan, from about 3,500 payments), and ``issue``; the month
   is the one in the middle of the history, so smaller ``--leases`` still have one;
2. in-process ``ops.books.export`` for every format over all history (about 80,000
   entries) and for one month, with the output size;
3. ``cloudlease invoice create`` (a new draft once, then again: rebuilt, unchanged, no
   write) and ``cloudlease export`` as subprocesses (each warmed up once);
4. ``hledger check --strict`` and ``bean-check`` on the full exports, when installed.

Run from the repository root:

    python benchmarks/bench_invoices.py
    python benchmarks/bench_invoices.py --leases 10000 --runs 3 --keep
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402


def timed(label: str, fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    print(f"  {label:<52s} {c.ms(time.perf_counter() - t0)}")
    return out


def add_funding(home: Path, now: datetime) -> None:
    """500 settled contributions and 12 payouts, as a year of pool funding leaves them."""
    from cloudlease.model import (
        Consideration,
        Contribution,
        ContributionKind,
        ContributionStatus,
        Payout,
        Pool,
    )
    from cloudlease.ops.context import Context

    ctx = Context.at(home)
    with ctx.transaction("bench: funding") as led:
        start = now - timedelta(days=365)
        led.pools["bench"] = Pool(name="bench", created_at=start, slots=10,
                                  consideration=Consideration.REVENUE_SHARE,
                                  investor_pct=Decimal(20), cost_sats=100,
                                  period_months=24)
        tenants = [t.name for t in led.tenants.all()]
        for k in range(1, 501):
            when = start + timedelta(hours=17 * k)
            cid = led.next_id("contribution")
            led.contributions[cid] = Contribution(
                id=cid, pool="bench", tenant=tenants[k % len(tenants)],
                kind=ContributionKind.INVESTMENT if k % 5 else ContributionKind.DONATION,
                amount_sats=10_000 + k, created_at=when, settled_at=when,
                status=ContributionStatus.SETTLED)
        for m in range(12):
            month = (start + timedelta(days=31 * m)).strftime("%Y-%m")
            shares = {t: 1_000 + 7 * i for i, t in enumerate(tenants)}
            led.payouts[f"bench/{month}"] = Payout(
                id=f"bench/{month}", pool="bench", period=month,
                consideration=Consideration.REVENUE_SHARE, basis_sats=10 * sum(shares.values()),
                distributable_sats=sum(shares.values()), created_at=now, shares=shares)
    ctx.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leases", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the temp home (prints where)")
    args = ap.parse_args()

    from cloudlease.ops import books, invoicing
    from cloudlease.ops.context import Context

    tmp = Path(tempfile.mkdtemp(prefix="bench-invoices-"))
    home = tmp / "home"
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        t0 = time.perf_counter()
        info = c.build_home(home, args.leases, now=now, progress=print)
        add_funding(home, now)
        # issuing needs the seller's details (frozen into the document)
        c.set_config(home, "operator", "name", "Bench Compute Ltd")
        c.set_config(home, "operator", "address", "1 Bench Street\nBenchtown")
        print(f"built {info['total']:,} leases ({info['closed']:,} closed, "
              f"{info['audit_entries']:,} audit entries) and the funding in "
              f"{time.perf_counter() - t0:.1f} s; {c.ledger_size(home)}")
        # the month in the middle of the closed history (5 minutes between leases)
        middle = now - timedelta(days=3) - timedelta(minutes=5) * (info["closed"] // 2)
        period = middle.strftime("%Y-%m")
        env = c.env(CLOUDLEASE_HOME=str(home))
        ctx = Context.at(home)
        ctx.settings  # noqa: B018 - load config outside the timings

        print(f"\ninvoices for {period} (in-process, one run each)")
        inv, _ = timed("create: tenant-001", invoicing.create, ctx, "tenant-001", period)
        print(f"    {len(inv.lines)} lines, total {inv.total_sats:,} sat")
        timed("create again: tenant-001 (unchanged, no write)", invoicing.create, ctx,
              "tenant-001", period)
        stm, _ = timed("create: anonymous-sales statement", invoicing.create, ctx, None, period)
        print(f"    {len(stm.lines)} lines, total {stm.total_sats:,} sat")
        timed("issue: tenant-001", invoicing.issue, ctx, inv.id)

        print("\nexports (in-process, one run each)")
        outputs = {}
        for fmt in ("hledger", "beancount", "csv", "json"):
            t0 = time.perf_counter()
            text, n = books.export(ctx, fmt)
            dt = time.perf_counter() - t0
            outputs[fmt] = text
            print(f"  {fmt + ', all history':<52s} {c.ms(dt)}  ({n:,} entries, "
                  f"{c.human_bytes(len(text.encode()))})")
        t0 = time.perf_counter()
        _, n = books.export(ctx, "hledger", period)
        print(f"  {'hledger, --period ' + period:<52s} {c.ms(time.perf_counter() - t0)}  "
              f"({n:,} entries)")

        ctx.close()

        print(f"\nCLI wall time (median of {args.runs}; each command run once first)")
        cmd = c.cloudlease_cmd()
        create = [*cmd, "invoice", "create", "--period", period, "--json", "--tenant"]
        c.run([*create, "tenant-002"], environ=env)  # warm-up on another tenant
        w = c.wall([*create, "tenant-003"], runs=1, warmup=0, environ=env)
        print(f"  {'invoice create --tenant tenant-003 (new draft, 1 run)':<52s} "
              f"{c.fmt_wall(w)}")
        w = c.wall([*create, "tenant-003"], runs=args.runs, warmup=0, environ=env)
        print(f"  {'invoice create --tenant tenant-003 again (no write)':<52s} "
              f"{c.fmt_wall(w)}")
        # the one-month export warms the export command up for the all-history one, whose
        # own warm-up would cost as much as a timed run
        for label, argv, warmup in (
            (f"export --format beancount --period {period}",
             ["export", "--format", "beancount", "--period", period], 1),
            ("export --format hledger (all history)", ["export", "--format", "hledger"], 0),
        ):
            w = c.wall([*cmd, *argv], runs=args.runs, warmup=warmup, environ=env)
            print(f"  {label:<52s} {c.fmt_wall(w)}")

        print("\naccounting tools on the full export")
        for tool, fmt, argv in (("hledger", "hledger", ["-f", "{}", "check", "--strict"]),
                                ("bean-check", "beancount", ["{}"])):
            path = shutil.which(tool)
            if path is None:
                print(f"  {tool}: not installed")
                continue
            f = tmp / f"books.{fmt}"
            f.write_text(outputs[fmt])
            t0 = time.perf_counter()
            proc = subprocess.run([path, *[a.format(f) for a in argv]], capture_output=True,
                                  text=True)
            print(f"  {tool:<52s} {c.ms(time.perf_counter() - t0)}  exit {proc.returncode}"
                  + (f": {proc.stderr.strip()[:200]}" if proc.returncode else ""))
    finally:
        if args.keep:
            print(f"\nkept {home}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
