"""The state of a pool: funding, runway, slots in use, whether a lease may take one.

Read by ``pool show``, by ``rent`` and ``pool fund`` before they write, and by the monitor
``tick`` runs; ``ops.pools`` re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cloudlease.core import risk
from cloudlease.core.errors import Conflict
from cloudlease.ledger.session import Ledger
from cloudlease.model import LeaseStatus, Pool
from cloudlease.ops import payment_requests, poolrun
from cloudlease.ops.context import Context


@dataclass
class PoolState:
    pool: Pool
    funding_sats: int
    cost_per_hour_sats: int | None
    runway_hours: Decimal | None
    slots_in_use: int
    next_free: datetime | None
    running: bool = False


def slots_in_use(ledger: Ledger, pool: str, now: datetime) -> tuple[int, datetime | None]:
    """Leases holding a slot (active, suspended, or awaiting payment within its window)
    and when the next one frees up."""
    used = 0
    frees: list[datetime] = []
    leases = ledger.leases.holding_slots(pool)
    first = ledger.requests.many(lease.requests[0] for lease in leases if lease.requests)
    for lease in leases:
        if lease.status in (LeaseStatus.ACTIVE, LeaseStatus.SUSPENDED):
            used += 1
            if lease.ends_at:
                frees.append(lease.ends_at)
        else:
            req = first.get(lease.requests[0]) if lease.requests else None
            if req is not None and req.status in payment_requests.OPEN_REQUEST:
                used += 1
                frees.append(req.expires_at)
    return used, min(frees, default=None)


def state(ctx: Context, ledger: Ledger, pool: Pool, now: datetime,
          rate: Decimal | None = None) -> PoolState:
    pool = poolrun.accrue(ledger, pool, now, rate)
    funding = risk.funding_level(pool, ledger.contributions.of_pool(pool.name),
                                 ledger.payouts.of_pool(pool.name))
    cph = risk.cost_per_hour_sats(pool, rate)
    used, free = slots_in_use(ledger, pool.name, now)
    return PoolState(pool, funding, cph, risk.runway_hours(funding, cph), used, free,
                     poolrun.is_running(ledger, pool))


rate_for = poolrun.rate_for


def check_can_rent(ctx: Context, ledger: Ledger, pool_name: str, now: datetime) -> None:
    pool = ledger.pool(pool_name)
    if pool.throttled:
        raise Conflict(f"pool {pool.name!r} is throttled: its funding ran out; new rentals "
                       "resume when investors top it up")
    used, free = slots_in_use(ledger, pool.name, now)
    if used >= pool.slots:
        when = f"; the next slot frees up at {free.isoformat()}" if free else ""
        raise Conflict(f"pool {pool.name!r} is full ({used}/{pool.slots} slots){when}")


def month_summary(pool: Pool, now: datetime) -> dict[str, Any]:
    """This month's and last month's revenue and cost; a month before the pool existed
    is None (there is nothing to show for it)."""
    this = risk.month_key(now)
    last = risk.month_key(now.replace(day=1) - timedelta(days=1))
    born = risk.month_key(pool.created_at)
    return {key: {"revenue_sats": pool.revenue_months.get(m, 0),
                  "cost_sats": pool.cost_months.get(m, 0), "month": m} if m >= born else None
            for key, m in (("current_month", this), ("last_month", last))}
