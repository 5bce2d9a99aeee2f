"""When a pool runs: the running cost it accrues, and the explicit ``pool start|stop``.

A pool costs money only while it runs (``core/running.py``): while one of its leases is
active, or from ``pool start`` until ``pool stop`` (capacity that costs you whether
rented or not). So a new pool has spent nothing, is never throttled, and its first
rental — which funds it — is never refused.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from cloudlease.core import clock, running
from cloudlease.core.errors import BackendError, BadValue, Conflict
from cloudlease.ledger.session import Ledger
from cloudlease.model import Pool
from cloudlease.ops.context import Context


def rate_for(ctx: Context, pool: Pool) -> Decimal | None:
    """The exchange rate a fiat running cost is booked at now (None: a sat cost, or no
    rate to be had; the cost then catches up next time)."""
    if pool.cost_fiat is None:
        return None
    from cloudlease.ops.quote import lock_rate

    try:
        return lock_rate(ctx.settings)[0]
    except (BackendError, BadValue):
        return None


def runs(ledger: Ledger, pool: Pool) -> list[running.Run]:
    """The stretches the pool's leases held it running since its cost was last accrued:
    leases active or suspended now, and those that ended since (indexed look-ups, so a
    pool's history does not slow a tick)."""
    leases = ledger.leases.ran_in_pool_since(pool.name, pool.accrued_until or pool.created_at)
    return running.lease_runs(leases)


def accrue(ledger: Ledger, pool: Pool, now: datetime, rate: Decimal | None) -> Pool:
    """The pool with its running cost accrued up to ``now``."""
    if now <= (pool.accrued_until or pool.created_at):
        return pool
    return running.accrue(pool, now, rate, runs(ledger, pool))


def is_running(ledger: Ledger, pool: Pool) -> bool:
    """Whether the pool runs now: started explicitly, or a lease of it is active."""
    return pool.started_at is not None or bool(
        ledger.leases.active_in_pool(pool.name))


def start(ctx: Context, name: str) -> tuple[Pool, bool]:
    """``pool start``: the pool runs (and costs) from now on, rented or not. Returns
    (pool, changed); starting a started pool changes nothing."""
    with ctx.transaction(f"pool start {name}") as ledger:
        pool = ledger.pool(name)
        if pool.started_at is not None:
            return pool, False
        now = clock.now()
        pool = _accrued_or_refuse(ledger, pool, now, rate_for(ctx, pool), "start")
        pool = pool.replace(started_at=now)
        ledger.pools[name] = pool
    return pool, True


def stop(ctx: Context, name: str) -> tuple[Pool, bool]:
    """``pool stop``: back to running (and costing) only while a lease is active. Cost up
    to now is accrued first. Returns (pool, changed)."""
    with ctx.transaction(f"pool stop {name}") as ledger:
        pool = ledger.pool(name)
        if pool.started_at is None:
            return pool, False
        now = clock.now()
        pool = _accrued_or_refuse(ledger, pool, now, rate_for(ctx, pool), "stop")
        pool = pool.replace(started_at=None)
        ledger.pools[name] = pool
    return pool, True


def _accrued_or_refuse(ledger: Ledger, pool: Pool, now: datetime, rate: Decimal | None,
                       verb: str) -> Pool:
    """The cost up to now must be booked before the way it accrues changes; a fiat cost
    with no exchange rate cannot be (exit 4, nothing changes)."""
    after = accrue(ledger, pool, now, rate)
    if after.accrued_until != now and now > (pool.accrued_until or pool.created_at):
        raise Conflict(f"cannot {verb} pool {pool.name!r} now: its running cost is in "
                       f"{pool.currency} and no exchange rate is available to book the cost "
                       "so far; try again when rates answer")
    return after
