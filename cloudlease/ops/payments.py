"""``pay accept`` (the operator's call on a late payment) and ``lease extend``."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from cloudlease import clock, lifecycle, validate
from cloudlease.context import Context
from cloudlease.errors import BadValue, Conflict
from cloudlease.model import Lease, LeaseStatus, PaymentRequest, RequestStatus
from cloudlease.ops import lnrequests, requests
from cloudlease.ops.quote import quote


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
           method: str | None = None) -> tuple[Lease, PaymentRequest]:
    """A new payment request for more hours; ``ends_at`` moves when it settles."""
    h = validate.hours(hours)
    methods = lnrequests.methods_for(ctx.settings, method)
    prepared = q = None
    if "lightning" in methods:  # the invoice first, outside the lock (ops/lnrequests.py)
        ledger = ctx.read()
        lease = _extendable(ledger.lease(lease_id), h)
        q = quote(ctx.settings, ledger.plan(lease.plan), h, rate)
        prepared = lnrequests.prepare(
            ctx, methods, q.amount_sats, f"cloudlease {lease.id}: {h} more h of {lease.plan}",
            timedelta(minutes=ctx.settings.expiry_minutes))
    try:
        with ctx.transaction(f"lease extend {lease_id}") as ledger:
            lease = _extendable(ledger.lease(lease_id), h)
            if q is None:
                q = quote(ctx.settings, ledger.plan(lease.plan), h, rate)
            req = requests.create(ctx, ledger, purpose="extend", quote=q, lease=lease.id,
                                  hours=h, label=f"cloudlease {lease.id}",
                                  message=f"{h} more h of {lease.plan}", methods=methods,
                                  invoice=prepared.invoice if prepared else None,
                                  created_at=prepared.asked_at if prepared else None)
            lease = lease.replace(requests=(*lease.requests, req.id))
            ledger.leases[lease.id] = lease
    except BaseException:
        lnrequests.discard(ctx, prepared)
        raise
    return lease, req


def _extendable(lease: Lease, h: int) -> Lease:
    if lease.status not in (LeaseStatus.ACTIVE, LeaseStatus.SUSPENDED,
                            LeaseStatus.AWAITING_PAYMENT):
        raise Conflict(f"lease {lease.id} is {lease.status.value}; only an open lease can "
                       "be extended (rent again instead)")
    if lease.paid_hours + h > validate.MAX_HOURS * 2:
        raise BadValue(f"lease {lease.id} would run longer than two years")
    return lease
