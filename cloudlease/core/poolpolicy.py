"""Pool policy (pure): the monitor's decisions, and what a request's change means for a pool.

The monitor (docs/design.md, "Risk and reward"): runway under ``min_runway_hours`` → investors
are asked to top up what restores ``target_runway_hours``; funding level ≤ 0 once the pool
has run (accrued running cost, ``core/running.py``) → the pool is throttled (and its
active leases suspended if the pool says so); runway back above ``min_runway_hours`` →
restored. A pool that has never run has spent nothing: it is never throttled, so its
first rental (which funds it) is never refused. Unknown is never good news: when the
running cost per hour is unknown (a fiat cost and no exchange rate), the runway is
unknown and nothing changes — the decision says so, so the caller can report it.

No I/O, no clock reads: the operation loads the pool, its funding and cost, calls
``decide``, and carries out the decision (events, suspensions, top-up requests).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from cloudlease.core import risk, running
from cloudlease.model import (
    Contribution,
    ContributionStatus,
    PaymentRequest,
    Pool,
    RequestFlag,
    RequestStatus,
)


class PoolChange(StrEnum):
    NONE = "none"
    THROTTLE = "throttle"
    RESTORE = "restore"


@dataclass(frozen=True)
class PoolDecision:
    """What the monitor should do with one pool.

    Attributes:
        pool: the pool after the decision (``throttled``, ``throttled_at``, ``low_funds``).
        change: throttle, restore, or none.
        events: hook events to fire (``pool_throttled``, ``pool_restored``,
            ``pool_low_funds``), in order.
        suspend: suspend the pool's active leases (throttled, and the pool says so).
        resume: resume the leases the throttle suspended (giving their time back).
        topup_sats: what investors should be asked for in all (0: nothing).
        runway_hours: funding / cost per hour, None when unknown.
        known: False when the runway is unknown (no rate for a fiat cost): nothing changed.
        reason: one line saying why, for the CLI.
    """

    pool: Pool
    change: PoolChange
    events: tuple[str, ...]
    suspend: bool
    resume: bool
    topup_sats: int
    runway_hours: Decimal | None
    known: bool
    reason: str


def decide(pool: Pool, funding_sats: int, cost_per_hour_sats: int | None,
           now: datetime) -> PoolDecision:
    """Throttle, restore or warn, from the pool's funding level and running cost. Pure.

    ``funding_sats`` must include the cost accrued up to ``now``; ``cost_per_hour_sats``
    is None when it is unknown — then the pool is left exactly as it is. A pool that has
    not run yet is never throttled (it has spent nothing)."""
    if not cost_per_hour_sats or cost_per_hour_sats < 0:
        state = "throttled" if pool.throttled else "not throttled"
        return PoolDecision(pool, PoolChange.NONE, (), False, False, 0, None, False,
                            f"runway unknown (no exchange rate for the running cost): "
                            f"pool {pool.name} left {state}")
    runway = risk.runway_hours(funding_sats, cost_per_hour_sats)
    assert runway is not None
    events: list[str] = []
    change = PoolChange.NONE
    suspend = resume = False
    reason = f"runway {runway} h"
    if funding_sats <= 0 and not pool.throttled and running.has_run(pool):
        pool = pool.replace(throttled=True, throttled_at=now)
        change, suspend = PoolChange.THROTTLE, pool.suspend_on_throttle
        events.append("pool_throttled")
        reason = f"funding ran out ({funding_sats} sat): new rentals refused"
    elif pool.throttled and funding_sats > 0 and runway > pool.min_runway_hours:
        pool = pool.replace(throttled=False, throttled_at=None)
        change, resume = PoolChange.RESTORE, True
        events.append("pool_restored")
        reason = f"runway back to {runway} h (above {pool.min_runway_hours} h)"
    # a pool that has not run spends nothing: not low, whatever its funding
    low = runway < pool.min_runway_hours and running.has_run(pool)
    if low and not pool.low_funds:
        events.append("pool_low_funds")
    pool = pool.replace(low_funds=low)
    need = pool.target_runway_hours * cost_per_hour_sats - funding_sats if low else 0
    return PoolDecision(pool, change, tuple(events), suspend, resume, max(0, need), runway,
                        True, reason)


def has_room(pool: Pool | None, slots_in_use: int) -> bool:
    """Whether a lease can (re)start in the pool: not throttled and a slot free."""
    return pool is None or (not pool.throttled and slots_in_use < pool.slots)


def contribution_after(c: Contribution, pool: Pool | None, before: PaymentRequest,
                       after: PaymentRequest, now: datetime) -> Contribution:
    """A contribution after its payment request changed. Pure.

    It counts from its request's first settlement — also when the request had expired and
    the operator accepted the late payment (the contribution was cancelled meanwhile) or
    the chain showed it was paid in time. It is cancelled when its request expires or
    becomes invalid without being accepted."""
    first_settlement = after.status == RequestStatus.SETTLED and before.settled_at is None
    if first_settlement and \
            c.status in (ContributionStatus.PENDING, ContributionStatus.CANCELLED) and \
            RequestFlag.UNHONOURED not in after.flags:
        startup = pool is not None and risk.in_startup(pool, now)
        return c.replace(status=ContributionStatus.SETTLED, settled_at=now, startup=startup)
    if after.status in (RequestStatus.EXPIRED, RequestStatus.INVALID) and \
            c.status == ContributionStatus.PENDING and RequestFlag.ACCEPTED not in after.flags:
        return c.replace(status=ContributionStatus.CANCELLED)
    return c


def revenue_sats(before: PaymentRequest, after: PaymentRequest) -> int:
    """Lease revenue a request's change books (at its first settlement): its amount less
    the investment part; nothing for a settlement that was not honoured (refund due)."""
    if after.status != RequestStatus.SETTLED or before.settled_at is not None or \
            RequestFlag.UNHONOURED in after.flags:
        return 0
    return after.amount_sats - after.invest_sats
