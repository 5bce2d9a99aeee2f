"""Pro-rating in a pass (``ops/check.py``): the rules of ``core/prorate.py`` applied to the
requests a pass changes, with what they need from the ledger (the plan, the payer's
credit, the pool's room) and, for a fiat plan paid late, a rate asked before the lock.

Two steps, both inside the pass's write transaction:

1. **re-quote** (``[payment] underpaid`` / ``late`` = ``"prorate"``): a request its window
   closed with money on it is re-quoted to what arrived, at the price of the moment, if
   that buys at least the plan's ``min_minutes`` (a first rental) or one minute (an
   extension) and the lease can take it (an expired rental comes back awaiting payment
   when its pool has room); otherwise it stays expired and its money is owed back.
2. **settle**: when a lease's request settles for the first time, what it buys is fixed
   in minutes: its hours, and the surplus (``overpaid = "prorate"``) or the payer's
   credit on top; a re-quoted request or a top-up buys minutes with all of it. The
   sub-minute rest is the payer's credit: the tenant's, or an anonymous lease's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from cloudlease.core import prorate
from cloudlease.core.errors import CloudleaseError
from cloudlease.model import Lease, LeaseStatus, PaymentRequest, RequestStatus

if TYPE_CHECKING:
    from cloudlease.ledger.session import Ledger
    from cloudlease.ops.context import Context


@dataclass
class Pass:
    """What one pass pro-rates with.

    Attributes:
        terms: ``[payment]`` underpaid, late, overpaid.
        rate: a rate asked before the lock for fiat plans paid late (None: none, or the
            source failed: such a request waits for the next pass).
        rate_source: where ``rate`` came from.
        notes: what the operator should know (a late fiat payment left for a rate).
    """

    terms: prorate.Terms
    rate: Decimal | None = None
    rate_source: str | None = None
    notes: list[str] = field(default_factory=list)


def terms(ctx: Context) -> prorate.Terms:
    s = ctx.settings
    return prorate.Terms(underpaid=s.underpaid, late=s.late, overpaid=s.overpaid)


def prepare(ctx: Context, wanted: list[PaymentRequest], now: datetime) -> Pass:
    """The pass's terms, and a fresh rate when a fiat request may be re-quoted in it
    (asked now, outside the ledger lock; a failing source leaves those for later)."""
    t = terms(ctx)
    out = Pass(t)
    if t.late != prorate.PRORATE and t.underpaid != prorate.PRORATE:
        return out
    if not any(r.rate is not None and r.lease and (
            r.status == RequestStatus.EXPIRED or now > r.expires_at) for r in wanted):
        return out
    from cloudlease.ops.quote import lock_rate

    try:
        out.rate, out.rate_source = lock_rate(ctx.settings)
    except CloudleaseError as exc:
        out.notes.append(f"late fiat payments wait for a rate to pro-rate at: {exc.message}")
    return out


def worth(p: Pass, before: PaymentRequest, after: PaymentRequest) -> bool:
    """Whether a request's change may pro-rate: a first settlement (the payer's credit or
    a surplus may buy minutes), or money on a closed request when late or underpaid
    money may buy time."""
    if after.status == RequestStatus.SETTLED and before.settled_at is None:
        return True
    return after.status == RequestStatus.EXPIRED and after.received_sats > 0 and \
        prorate.PRORATE in (p.terms.late, p.terms.underpaid)


def _plan_price(ledger: Ledger, lease: Lease, rate: Decimal | None) -> int | None:
    plan = ledger.plans.get(lease.plan)
    if plan is None:
        return None
    return prorate.price_per_hour(plan.price_sats, plan.price_fiat, rate)


def min_minutes(ledger: Ledger, lease: Lease, req: PaymentRequest) -> int:
    """A first rental's fewest minutes (its plan's ``min_minutes``, 60 when unset), one
    for anything after."""
    if req.purpose != "rent":
        return prorate.EXTEND_MIN_MINUTES
    plan = ledger.plans.get(lease.plan)
    value = plan.min_minutes if plan is not None else None
    return value if value is not None else prorate.FIRST_MIN_MINUTES


def credit_of(ledger: Ledger, lease: Lease) -> int:
    """The payer's credit: the tenant's, or an anonymous lease's own."""
    if lease.tenant:
        tenant = ledger.tenants.get(lease.tenant)
        return (tenant.credit_sats or 0) if tenant is not None else 0
    return lease.credit_sats or 0


def requote(ledger: Ledger, p: Pass, lease: Lease | None, before: PaymentRequest,
            after: PaymentRequest, now: datetime, can_reopen: bool
            ) -> tuple[PaymentRequest, Lease | None]:
    """Step 1 (see the module doc): the request re-quoted and its lease, or both as
    they were."""
    if lease is None or prorate.requote_reason(after, p.terms) is None:
        return after, lease
    if lease.status == LeaseStatus.CANCELLED or \
            (lease.status == LeaseStatus.EXPIRED and (after.purpose != "rent"
                                                      or not can_reopen)):
        return after, lease
    rate = None
    if after.rate is not None:
        if p.rate is None:
            return after, lease  # a fiat price needs today's rate: next pass
        rate = p.rate
    price = _plan_price(ledger, lease, rate)
    if price is None:
        return after, lease
    got = prorate.buy(after.received_sats, credit_of(ledger, lease), price,
                      min_minutes(ledger, lease, after), prorate.MAX_MINUTES - lease.minutes)
    if not got.minutes:
        return after, lease  # too little for the fewest minutes: owed back as before
    done = prorate.confirmed(after) >= after.received_sats
    new = prorate.requote(after, done, now)
    if rate is not None:
        new = new.replace(rate=rate, rate_source=p.rate_source, fiat_amount=None)
    if lease.status == LeaseStatus.EXPIRED:
        lease = lease.replace(status=LeaseStatus.AWAITING_PAYMENT, closed_at=None,
                              note=f"payment {after.id} pro-rated")
    return new, lease


def settle(ledger: Ledger, p: Pass, lease: Lease | None, before: PaymentRequest,
           after: PaymentRequest) -> tuple[PaymentRequest, int | None]:
    """Step 2: the request with the minutes it buys fixed, and the payer's new credit
    (None: unchanged)."""
    if lease is None or after.status != RequestStatus.SETTLED or \
            before.settled_at is not None or after.purpose not in ("rent", "extend"):
        return after, None
    credit = credit_of(ledger, lease)
    price = _plan_price(ledger, lease, after.rate)
    new, left = prorate.settle(after, credit=credit, price=price,
                               min_minutes=min_minutes(ledger, lease, after),
                               terms=p.terms,
                               room_minutes=prorate.MAX_MINUTES - lease.minutes)
    if new is after:
        return after, None
    return new, left


def keep_credit(ledger: Ledger, lease: Lease | None, credit: int | None) -> Lease | None:
    """Write the payer's new credit: on the tenant, or on the (anonymous) lease returned
    (``credit`` None: nothing changes)."""
    if credit is None or lease is None:
        return lease
    if lease.tenant:
        tenant = ledger.tenants.get(lease.tenant)
        if tenant is not None and (tenant.credit_sats or 0) != credit:
            ledger.tenants[tenant.name] = tenant.replace(credit_sats=credit or None)
        return lease
    return lease.replace(credit_sats=credit or None)
