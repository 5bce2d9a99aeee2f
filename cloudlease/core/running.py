"""When a pool runs, and what running costs (pure).

A pool costs money only while it runs (docs/design.md, "Risk and reward"; README,
"Pools"): while one of its leases is active, or from an explicit ``pool start`` until
``pool stop``. A pool that has not run has accrued nothing, so it can never throttle
itself before its first rental: capacity is funded by the payments themselves.

The running time is a meter, ``Pool.run_seconds``: whole seconds of running up to
``Pool.accrued_until``. Every time is taken at the whole second (UTC epoch seconds), so the
time measured over [a, b) plus [b, c) is exactly the time over [a, c): accruing often or
rarely books the same sats.

Accrual is computed from totals, so how often it runs never changes the result:
- a sat cost: the cost of ``r`` running seconds is ``cost_sats × r // 3600``; a step books
  total(meter after) − total(meter before).
- a fiat cost: the pool keeps ``cost_fiat_booked``, the fiat value of what it booked so far
  (each step's sats at that step's rate). A step books the fiat spent and not yet booked,
  converted at the step's rate with ``money.fiat_to_sats`` (the one conversion: rounded up,
  so cost is never understated), and adds that booking's exact fiat value. At a constant
  rate the total is exactly fiat_to_sats(cost of the running time) whatever the tick
  schedule; the sub-sat part carries over instead of being lost. Arithmetic is in
  fiat × seconds so the only division is the final one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal, localcontext

from cloudlease.core.money import fiat_to_sats
from cloudlease.model import Lease, LeaseStatus, Pool

# A stretch of running: [start, end), end None while it lasts.
Run = tuple[datetime, datetime | None]


def _s(when: datetime) -> int:
    """Whole epoch seconds (the one rounding of every time here)."""
    return int(when.timestamp())


def lease_runs(leases: Iterable[Lease]) -> list[Run]:
    """The stretches a pool's leases held it running: each lease that started, from its
    start to its end (an active one), or to its suspension (a suspended one: a frozen
    machine costs nothing). Awaiting, expired and cancelled leases never ran."""
    out: list[Run] = []
    for lease in leases:
        if lease.starts_at is None:
            continue
        if lease.status in (LeaseStatus.ACTIVE, LeaseStatus.ENDED):
            out.append((lease.starts_at, lease.ends_at))
        elif lease.status == LeaseStatus.SUSPENDED:
            out.append((lease.starts_at, lease.suspended_at or lease.starts_at))
    return out


def runs_of(pool: Pool, leases: Iterable[Lease]) -> list[Run]:
    """Every stretch the pool ran: its leases', and from an explicit start."""
    runs = lease_runs(leases)
    if pool.started_at is not None:
        runs.append((pool.started_at, None))
    return runs


def run_seconds(runs: Iterable[Run], start: datetime, end: datetime) -> int:
    """Whole seconds within [start, end) covered by at least one run (overlaps counted
    once). Additive: over [a, b) plus over [b, c) is over [a, c)."""
    lo, hi = _s(start), _s(end)
    spans = sorted((max(_s(a), lo), min(_s(b) if b is not None else hi, hi))
                   for a, b in runs)
    total, reach = 0, lo
    for a, b in spans:
        a = max(a, reach)
        if b > a:
            total += b - a
            reach = b
    return total


def meter(pool: Pool) -> int:
    """Running seconds accrued so far. A pool from before the meter was kept ran, as it
    was then reckoned, from its creation to ``accrued_until``."""
    if pool.run_seconds is not None:
        return pool.run_seconds
    return max(0, int((( pool.accrued_until or pool.created_at) - pool.created_at)
                      .total_seconds()))


def never_ran(pool: Pool) -> Pool:
    """A pool with no lease and no contribution, from before the meter was kept: the cost
    the old rule booked for every hour since its creation is forgotten (it never ran, so
    it spent nothing, and nobody's money was in it), and a throttle that cost caused is
    lifted. Used once, when the ledger is upgraded."""
    return pool.replace(cost_months={}, cost_fiat_booked=None, run_seconds=0,
                        throttled=False, throttled_at=None, low_funds=False)


def carried_over(pool: Pool, has_history: bool) -> Pool:
    """A pool from before the meter, as this rule takes it over (once, when the ledger is
    upgraded or migrated): one with no lease and no contribution never ran (its booked
    cost and any throttle are forgotten: ``never_ran``); any other ran all the time under
    the old rule and is marked started at its creation, so its cost keeps counting as it
    did (``pool stop`` switches it to counting only while rented)."""
    if pool.run_seconds is not None:
        return pool
    if not has_history:
        return never_ran(pool)
    return pool.replace(started_at=pool.started_at or pool.created_at)


def has_run(pool: Pool) -> bool:
    """Whether the pool has run (and so accrued cost) at all."""
    return meter(pool) > 0


def _sat_cost(pool: Pool, seconds: int) -> int:
    return pool.cost_sats * seconds // 3600  # type: ignore[operator]


def _fiat_seconds(pool: Pool, seconds: int) -> Decimal:
    """Fiat spent in ``seconds`` of running, times 3600 (exact)."""
    with localcontext() as c:
        c.prec = 60
        return pool.cost_fiat * seconds  # type: ignore[operator]


def _booked_start(pool: Pool, seconds: int) -> Decimal:
    """``cost_fiat_booked`` of a pool accrued before it was kept: the fiat spent in the
    meter's ``seconds``, rounded up at 1e-12 (never books a spurious sat)."""
    if pool.cost_fiat_booked is not None:
        return pool.cost_fiat_booked
    with localcontext() as c:
        c.prec = 60
        return (_fiat_seconds(pool, seconds) / 3600).quantize(Decimal("1e-12"),
                                                              rounding=ROUND_CEILING)


def _fiat_step(pool: Pool, booked: Decimal, seconds: int, rate: Decimal
               ) -> tuple[int, Decimal]:
    """Sats for the fiat cost of ``seconds`` of running not yet booked, and the new booked
    fiat value."""
    with localcontext() as c:
        c.prec = 60
        unbooked = _fiat_seconds(pool, seconds) - booked * 3600  # fiat × seconds
        if unbooked <= 0:
            return 0, booked
        sats = fiat_to_sats(unbooked, rate * 3600)
        return sats, booked + (Decimal(sats) * rate).scaleb(-8)


def _next_month(start: datetime) -> datetime:
    return datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=UTC)


def accrue(pool: Pool, now: datetime, rate: Decimal | None = None,
           runs: Iterable[Run] = ()) -> Pool:
    """Accrue running cost up to ``now``, booked to the calendar month it was spent in.

    ``runs`` are the stretches the pool's leases held it running (``lease_runs``); an
    explicit start (``pool.started_at``) counts too. Only the time covered by a run costs
    anything; the meter and ``accrued_until`` move to ``now`` either way."""
    start = pool.accrued_until or pool.created_at
    if now <= start:
        return pool
    if pool.cost_sats is None and (rate is None or pool.cost_fiat is None):
        return pool  # a fiat cost with no rate right now: catch up next time
    runs = list(runs)
    if pool.started_at is not None:
        runs.append((pool.started_at, None))
    months = dict(pool.cost_months)
    ran = meter(pool)
    booked = _booked_start(pool, ran) if pool.cost_sats is None else None
    cursor = start
    while cursor < now:
        edge = min(_next_month(datetime(cursor.year, cursor.month, 1, tzinfo=UTC)), now)
        more = run_seconds(runs, cursor, edge)
        if more:
            key = f"{cursor.year:04d}-{cursor.month:02d}"
            if booked is None:
                sats = _sat_cost(pool, ran + more) - _sat_cost(pool, ran)
            else:
                sats, booked = _fiat_step(pool, booked, ran + more, rate)  # type: ignore[arg-type]
            months[key] = months.get(key, 0) + sats
            ran += more
        cursor = edge
    return pool.replace(cost_months=months, accrued_until=now, cost_fiat_booked=booked,
                        run_seconds=ran)


def cost_per_hour_sats(pool: Pool, rate: Decimal | None) -> int | None:
    """The running cost of an hour in sats; None when a fiat cost has no rate (unknown)."""
    if pool.cost_sats is not None:
        return pool.cost_sats
    if pool.cost_fiat is None or rate is None:
        return None
    return fiat_to_sats(pool.cost_fiat, rate)
