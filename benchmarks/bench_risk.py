"""``risk`` and ``payout`` over a pool with 1,000 contributions and 100,000 lease payments.

The home is built the way a year of use leaves it: 100,000 leases (``_common.build_home``,
written straight into ledger.db with its audit chain: closed history, 100 recently ended
and 50 open leases), of which the pool's plan took every lease, so its revenue is those
100,000 settled payments booked by month at settlement; 1,000 settled contributions
(investments and some donations from 50 tenants, spread over the year, some in start-up)
each with its payment request; twelve months of accrued cost; six months already paid
out. The pool, its contributions and payouts are written in one ``ctx.transaction``.

Measures (median of several real subprocesses, each command run once untimed first):
``risk --json``, ``risk`` (human, with the bar chart), ``payout --dry-run``, ``pool show
--json``, ``tick`` (the monitor runs over the pool), then a recording ``payout`` for a
month (one run, not warmed up: a second run is the no-op) and the same again (no-op).
Prints figures; asserts nothing.

    python benchmarks/bench_risk.py [--runs 5] [--leases 100000] [--contributions 1000]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def build(path: Path, leases: int, contributions: int) -> None:
    from cloudlease.core.risk import compute_payout, month_key
    from cloudlease.model import (
        Consideration,
        Contribution,
        ContributionKind,
        ContributionStatus,
        PaymentRequest,
        Plan,
        Pool,
        RequestStatus,
        Tenant,
    )
    from cloudlease.ops.context import Context

    c.build_home(path, leases, now=NOW)
    rng = random.Random(7)
    created = datetime(2025, 1, 1, tzinfo=UTC)
    revenue: dict[str, int] = {}
    for _ in range(leases):  # the pool's 100,000 settled lease payments, booked by month
        when = created + timedelta(seconds=rng.randrange(int((NOW - created).total_seconds())))
        key = month_key(when)
        revenue[key] = revenue.get(key, 0) + rng.choice((1000, 2000, 5000, 10_000))
    cost: dict[str, int] = {}
    t = created
    while t < NOW:  # 3,000 sat/h running cost, booked by month
        key = month_key(t)
        cost[key] = cost.get(key, 0) + 3000
        t += timedelta(hours=1)
    pool = Pool(name="gpu", created_at=created, slots=64,
                consideration=Consideration.FIXED_RETURN, investor_pct=Decimal(25),
                return_multiple=Decimal("1.5"), cost_sats=3000, accrued_until=NOW,
                startup_ended_at=datetime(2025, 3, 1, tzinfo=UTC), revenue_months=revenue,
                cost_months=cost)
    ctx = Context.at(path)
    with ctx.transaction("bench: pool") as led:
        led.pools["gpu"] = pool
        for plan in led.plans.all():
            led.plans[plan.name] = plan.replace(pool="gpu")
        if "gpu-hour" not in led.plans:
            led.plans["gpu-hour"] = Plan(name="gpu-hour", created_at=created, price_sats=2000,
                                         pool="gpu")
        for i in range(50):
            name = f"investor{i:02d}"
            if name not in led.tenants:
                led.tenants[name] = Tenant(name=name, created_at=created)
        for i in range(contributions):
            when = created + timedelta(minutes=rng.randrange(int(
                (NOW - created).total_seconds() // 60)))
            cid, rid = led.next_id("contribution"), led.next_id("request")
            kind = ContributionKind.DONATION if i % 10 == 9 else ContributionKind.INVESTMENT
            sats = rng.randrange(10_000, 2_000_000)
            led.requests[rid] = PaymentRequest(
                id=rid, purpose="invest", address=c.filler_address(i, "contrib"),
                amount_sats=sats, created_at=when, expires_at=when + timedelta(minutes=15),
                status=RequestStatus.SETTLED, uri="bitcoin:x", settled_at=when, paid_sats=sats,
                confirmed_sats=sats, tenant=f"investor{i % 50:02d}", pool="gpu",
                contribution=cid, invest_sats=sats if kind == "investment" else 0)
            led.contributions[cid] = Contribution(
                id=cid, pool="gpu", tenant=f"investor{i % 50:02d}", kind=kind,
                amount_sats=sats, created_at=when, request=rid, settled_at=when,
                startup=when < pool.startup_ended_at, status=ContributionStatus.SETTLED)
        done = []
        for m in range(1, 7):
            p = compute_payout(pool, f"2025-{m:02d}", led.contributions.all(), done, NOW)
            done.append(p)
            led.payouts[p.id] = p
    ctx.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--leases", type=int, default=100_000)
    ap.add_argument("--contributions", type=int, default=1000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cl-bench-risk-"))
    try:
        home = tmp / "home"
        t0 = time.perf_counter()
        build(home, args.leases, args.contributions)
        print(f"built {args.leases:,} leases + {args.contributions:,} contributions in "
              f"{time.perf_counter() - t0:.1f} s; {c.ledger_size(home)}")
        cmd = c.cloudlease_cmd()
        environ = c.env(CLOUDLEASE_HOME=str(home), CLOUDLEASE_NOW=NOW.isoformat())
        floor = c.wall([sys.executable, "-c", "pass"], runs=args.runs)
        print(f"{'python -c pass':<23} {c.fmt_wall(floor)}")
        for label, argv in (
            ("risk --json", ["risk", "--json"]),
            ("risk (bar chart)", ["risk"]),
            ("payout --dry-run", ["payout", "--pool", "gpu", "--period", "2025-12",
                                  "--dry-run", "--json"]),
            ("pool show --json", ["pool", "show", "gpu", "--json"]),
            ("tick (monitor)", ["tick", "--json"]),
        ):
            took = c.wall([*cmd, *argv], runs=args.runs, environ=environ)
            print(f"{label:<23} {c.fmt_wall(took)}")
        one = c.wall([*cmd, "payout", "--pool", "gpu", "--period", "2025-07", "--json"],
                     runs=1, warmup=0, environ=environ)
        print(f"{'payout (records 2025-07)':<23} {c.fmt_wall(one)}")
        again = c.wall([*cmd, "payout", "--pool", "gpu", "--period", "2025-07", "--json"],
                       runs=args.runs, environ=environ)
        print(f"{'payout again (no-op)':<23} {c.fmt_wall(again)}")
        print(f"after the runs: {c.ledger_size(home)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
