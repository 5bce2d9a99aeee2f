"""``invoice create`` and ``export`` over a ledger with 100,000 leases.

The ledger is built by ``_common.build_home`` (closed history sealed into ``archive/``
segments by the archive module itself, 150 leases in the hot ledger; leases 5 minutes
apart over about a year, half of them anonymous, 80 % of the closed ones paid), plus 500
settled pool contributions and 12 monthly payouts in the hot ledger.

Measures (``time.perf_counter``; in-process figures are one run each, CLI figures the
median of ``--runs`` real subprocesses):

1. in-process ``ops.invoicing.create`` for one tenant's month (about 430 lines), again
   (nothing changed: no write), the anonymous-sales statement of the same month (about
   3,500 lines), and ``issue``;
2. in-process ``ops.invoicing.export`` for every format over all history (about 80,000
   entries) and for one month, with the output size;
3. ``cloudlease invoice create`` and ``cloudlease export --format hledger`` as
   subprocesses (started through a two-line launcher that registers the commands, until
   cli/main.py does);
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

LAUNCHER = """
import sys
from cloudlease.cli.main import app
from cloudlease.cli import invoice
if "invoice" not in [g.name for g in app.registered_groups]:
    app.add_typer(invoice.app, name="invoice")
    invoice.register(app)
sys.argv[0] = "cloudlease"
app()
"""


def timed(label: str, fn, *args, **kw):
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    print(f"  {label:<52s} {c.ms(time.perf_counter() - t0)}")
    return out


def add_funding(home: Path, now: datetime) -> None:
    """500 settled contributions and 12 payouts, as a year of pool funding leaves them."""
    from cloudlease.context import Context
    from cloudlease.model import (
        Consideration,
        Contribution,
        ContributionKind,
        Payout,
        Pool,
    )

    ctx = Context.at(home)
    with ctx.transaction("bench: funding") as led:
        start = now - timedelta(days=365)
        led.pools["bench"] = Pool(name="bench", created_at=start, slots=10,
                                  consideration=Consideration.REVENUE_SHARE,
                                  investor_pct=Decimal(20), cost_sats=100,
                                  period_months=24)
        tenants = sorted(led.tenants)
        for k in range(1, 501):
            when = start + timedelta(hours=17 * k)
            cid = led.next_id("contribution")
            led.contributions[cid] = Contribution(
                id=cid, pool="bench", tenant=tenants[k % len(tenants)],
                kind=ContributionKind.INVESTMENT if k % 5 else ContributionKind.DONATION,
                amount_sats=10_000 + k, created_at=when, settled_at=when, status="settled")
        for m in range(12):
            month = (start + timedelta(days=31 * m)).strftime("%Y-%m")
            shares = {t: 1_000 + 7 * i for i, t in enumerate(tenants)}
            led.payouts[f"bench/{month}"] = Payout(
                id=f"bench/{month}", pool="bench", period=month,
                consideration=Consideration.REVENUE_SHARE, basis_sats=10 * sum(shares.values()),
                distributable_sats=sum(shares.values()), created_at=now, shares=shares)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--leases", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the temp home (prints where)")
    args = ap.parse_args()

    from cloudlease.context import Context
    from cloudlease.ops import invoicing

    tmp = Path(tempfile.mkdtemp(prefix="bench-invoices-"))
    home = tmp / "home"
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        t0 = time.perf_counter()
        info = c.build_home(home, args.leases, now=now, progress=print)
        add_funding(home, now)
        sizes = {name: c.human_bytes(c.size_of(home / name))
                 for name in ("archive", "ledger.toml")}
        print(f"built {info['total']:,} leases ({info['segments']} archive segments) in "
              f"{time.perf_counter() - t0:.1f} s; archive {sizes['archive']}, "
              f"ledger.toml {sizes['ledger.toml']}")
        period = (now - timedelta(days=180)).strftime("%Y-%m")
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
            text, n = invoicing.export(ctx, fmt)
            dt = time.perf_counter() - t0
            outputs[fmt] = text
            print(f"  {fmt + ', all history':<52s} {c.ms(dt)}  ({n:,} entries, "
                  f"{c.human_bytes(len(text.encode()))})")
        t0 = time.perf_counter()
        _, n = invoicing.export(ctx, "hledger", period)
        print(f"  {'hledger, --period ' + period:<52s} {c.ms(time.perf_counter() - t0)}  "
              f"({n:,} entries)")

        print(f"\nCLI wall time (median of {args.runs})")
        cmd = [sys.executable, "-c", LAUNCHER]
        for label, argv in (
            ("invoice create --tenant tenant-003", ["invoice", "create", "--tenant",
                                                    "tenant-003", "--period", period]),
            ("export --format hledger (all history)", ["export", "--format", "hledger"]),
            (f"export --format beancount --period {period}",
             ["export", "--format", "beancount", "--period", period]),
        ):
            w = c.wall(cmd + argv + ["--json"] if argv[0] == "invoice" else cmd + argv,
                       runs=args.runs, environ=env)
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
