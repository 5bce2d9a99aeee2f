"""``pay show``, ``pay accept`` (the operator's call on a late payment) and ``lease
extend``."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from cloudlease.core import clock, lifecycle, validate
from cloudlease.core.errors import BadValue, Conflict
from cloudlease.ledger.session import Ledger
from cloudlease.model import Lease, LeaseStatus, PaymentRequest, RequestStatus
from cloudlease.ops import lnrequests, payment_requests
from cloudlease.ops.context import Context
from cloudlease.ops.quote import quote


def show(ctx: Context, request_id: str) -> PaymentRequest:
    """A payment request as the ledger has it now (``P-3``, ``p3`` or ``3``); NotFound
    (exit 3) when there is none. ``core.views.request`` is its JSON shape, and
    ``core.views.payable_uri`` the URI for what is still due."""
    return ctx.read().request(request_id)


def accept(ctx: Context, request_id: str, *, requote: bool = False,
           rate: Decimal | None = None) -> tuple[PaymentRequest, Lease | None]:
    """Accept a late payment as is, or re-quote its hours at today's rate.

    As is: the request counts at its locked price and settles once confirmed. Re-quote:
    the price is worked out again; if what arrived covers it, it is accepted, otherwise
    the request reopens for the difference with a fresh payment window.
    """
    with ctx.transaction(f"pay accept {request_id}") as ledger:
        req = ledger.request(request_id)
        received = req.paid_sats + req.ln_paid_msat // 1000
        if req.status != RequestStatus.EXPIRED or received == 0:
            raise Conflict(f"request {req.id} is {req.status.value}"
                           + ("" if received else " and unpaid")
                           + "; only an expired request with a late payment can be accepted")
        if req.closed_reason == "lease cancelled":
            raise Conflict(f"request {req.id} was closed because its lease was cancelled; "
                           "the payment that still arrived is due back to the payer")
        if req.refunded_sats:
            raise Conflict(f"{req.refunded_sats:,} sat of {req.id} already went back to the "
                           "payer ('pay refund'); it can no longer be accepted")
        lease = ledger.leases.get(req.lease) if req.lease else None
        now = clock.now()
        amount = req.amount_sats
        changes: dict = {"flags": tuple(sorted(set(req.flags) | {"accepted"})),
                         "closed_reason": None}
        if requote:
            if lease is None or req.hours is None:
                raise Conflict(f"request {req.id} has no lease to re-quote")
            q = quote(ctx.settings, ledger.plan(lease.plan), req.hours, rate)
            amount = q.amount_sats
            changes.update(amount_sats=amount, rate=q.rate, rate_source=q.rate_source,
                           fiat_amount=q.fiat_amount)
        if received >= amount:
            changes["status"] = RequestStatus.PROCESSING
        else:
            changes.update(status=RequestStatus.NEW,
                           expires_at=now + timedelta(minutes=ctx.settings.expiry_minutes))
        req = lifecycle.with_refund(req.replace(**changes))  # accepted: no refund due
        ledger.requests[req.id] = req
        if lease is not None and lease.status == LeaseStatus.EXPIRED:
            lease = lease.replace(status=LeaseStatus.AWAITING_PAYMENT, closed_at=None,
                                  note=f"late payment on {req.id} accepted")
            ledger.leases[lease.id] = lease
    return req, lease


def extend(ctx: Context, lease_id: str, hours: str | int, *, rate: Decimal | None = None,
           method: str | None = None, idempotency_key: str | None = None,
           via: str | None = None) -> tuple[Lease, PaymentRequest, bool]:
    """A new payment request for more hours; ``ends_at`` moves when it settles. Returns
    (lease, request, created).

    Never two unpaid requests on one lease: while one is open and unpaid (``new``), asking
    for the same hours again returns it (created False), and asking for other hours is
    exit 4 naming it. The same idempotency key returns the request it made, at any age;
    the same key with another lease or other hours is exit 4. ``via``: who asked for it,
    when not the operator or the tenant (``l402``, ``nwc``).
    """
    h = validate.hours(hours)
    key = validate.idempotency_key(idempotency_key) if idempotency_key is not None else None
    methods = lnrequests.methods_for(ctx.settings, method)
    prepared = q = None
    if "lightning" in methods:  # the invoice first, outside the lock (ops/lnrequests.py)
        ledger = ctx.read()
        lease = ledger.lease(lease_id)
        if _existing(ledger, lease, h, key) is None:  # none to show again: a new one
            lease = _extendable(lease, h)
            q = quote(ctx.settings, ledger.plan(lease.plan), h, rate)
            prepared = lnrequests.prepare(
                ctx, methods, q.amount_sats,
                f"cloudlease {lease.id}: {h} more h of {lease.plan}",
                timedelta(minutes=ctx.settings.expiry_minutes))
    created = True
    try:
        with ctx.transaction(f"lease extend {lease_id}") as ledger:
            lease = ledger.lease(lease_id)
            req = _existing(ledger, lease, h, key)
            if req is not None:
                created = False
                if key is not None and req.idempotency_key is None:
                    req = req.replace(idempotency_key=key)  # a retry must find it again
                    ledger.requests[req.id] = req
            else:
                lease = _extendable(lease, h)
                if "lightning" in methods and prepared is None:
                    raise Conflict(f"lease {lease.id}'s open request changed meanwhile; "
                                   "run the command again")
                if q is None:
                    q = quote(ctx.settings, ledger.plan(lease.plan), h, rate)
                req = payment_requests.create(
                    ctx, ledger, purpose="extend", quote=q, lease=lease.id,
                    hours=h, label=f"cloudlease {lease.id}",
                    message=f"{h} more h of {lease.plan}", methods=methods,
                    invoice=prepared.invoice if prepared else None,
                    created_at=prepared.asked_at if prepared else None,
                    idempotency_key=key)
                if via is not None:
                    req = req.replace(via=via)
                    ledger.requests[req.id] = req
                lease = lease.replace(requests=(*lease.requests, req.id))
                ledger.leases[lease.id] = lease
    except BaseException:
        lnrequests.discard(ctx, prepared)
        raise
    if not created:
        lnrequests.discard(ctx, prepared)  # shown again: the invoice made for nothing goes
    return lease, req, created


def _existing(ledger: Ledger, lease: Lease, h: int, key: str | None
              ) -> PaymentRequest | None:
    """The request to show again instead of making one: the one this idempotency key
    made, or the lease's unpaid extension for the same hours. Exit 4 for the same key
    with other parameters, or for an unpaid request of another kind or other hours."""
    if key is not None:
        found = payment_requests.by_key(ledger, key, "lease extend")
        if found is not None:
            if (found.purpose, found.lease, found.hours) != ("extend", lease.id, h):
                raise Conflict(f"idempotency key {key!r} was used for {found.id} "
                               f"({found.hours} h on {found.lease}); use another key")
            return found
    if lease.status not in (LeaseStatus.ACTIVE, LeaseStatus.SUSPENDED,
                            LeaseStatus.AWAITING_PAYMENT):
        return None  # _extendable says why
    unpaid = [r for r in ledger.requests.many(lease.requests).values()
              if r.status == RequestStatus.NEW and r.via != "lnurl"]  # (a payer's top-up)
    if not unpaid:
        return None
    open_ = unpaid[-1]
    if open_.purpose == "extend" and open_.hours == h and \
            (key is None or open_.idempotency_key is None):
        return open_
    what = "its first payment" if open_.purpose == "rent" else \
        f"an extension of {open_.hours} h"
    raise Conflict(f"lease {lease.id} already has an open payment request {open_.id} for "
                   f"{what}; pay it or let it expire (cloudlease pay show {open_.id})")


def _extendable(lease: Lease, h: int) -> Lease:
    if lease.status not in (LeaseStatus.ACTIVE, LeaseStatus.SUSPENDED,
                            LeaseStatus.AWAITING_PAYMENT):
        raise Conflict(f"lease {lease.id} is {lease.status.value}; only an open lease can "
                       "be extended (rent again instead)")
    if lease.minutes + h * 60 > validate.MAX_HOURS * 2 * 60:
        raise BadValue(f"lease {lease.id} would run longer than two years")
    return lease


def listing(ctx: Context, *, status: str | None = None, lease: str | None = None,
            open_only: bool = False) -> list[dict]:
    """Payment requests, oldest first, as ``views.request`` shows them (with ``payable``
    at this moment); filtered by status, lease or open (indexed look-ups)."""
    from cloudlease.core import views
    from cloudlease.ledger.session import normalize_id

    wanted = None
    if status is not None:
        try:
            wanted = RequestStatus(status.strip().lower()).value
        except ValueError:
            raise BadValue(f"--status must be one of "
                           f"{', '.join(s.value for s in RequestStatus)}, not {status!r}"
                           ) from None
    ledger = ctx.read()
    lid = None
    if lease is not None:
        lid = normalize_id(lease, "L")
        ledger.lease(lid)  # NotFound for an unknown lease
    now = clock.now()
    rows = ledger.requests.listing(status=wanted, lease=lid, open_only=open_only)
    return [views.request(r, now) for r in rows]
