"""Pure state transitions for payment requests and leases (no I/O, no clock reads).

The payment model follows BTCPay Server's invoices: ``new`` → ``processing`` (paid in
full, not yet confirmed enough) → ``settled``; ``new`` → ``expired`` when the window
passes; ``processing`` → ``invalid`` when it does not confirm within the monitoring
window. Flags: ``partial`` (underpaid), ``overpaid``, ``late`` (paid after expiry: never
activated automatically — the operator decides with ``pay accept``), ``reorged``.

Speed policy: an output counts once it has ``confirmations`` confirmations. With a
policy of 0, an RBF-signalling output still needs 1. Unconfirmed outputs count only when
the request is at most ``zero_conf_max_sats`` and the transaction does not signal RBF.
Replaced or double-spent transactions are gone from what the backend reports, so they
never count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cloudlease.bitcoin.backends.base import Received
from cloudlease.model import Lease, LeaseStatus, PaymentRequest, RequestStatus


@dataclass(frozen=True)
class Policy:
    """How sure a payment must be before it counts.

    Attributes:
        confirmations: confirmations each output needs (0, 1, 2, 6...).
        zero_conf_max_sats: requests up to this amount may settle unconfirmed (no RBF).
        monitoring: how long after expiry a seen payment may take to confirm.
    """

    confirmations: int = 1
    zero_conf_max_sats: int = 0
    monitoring: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Event:
    """Something hooks hear about: ``payment_processing``, ``lease_active``, ..."""

    name: str
    subject: str  # the request or lease id
    data: dict


def needed_confirmations(req: PaymentRequest, out: Received, policy: Policy) -> int:
    if req.amount_sats <= policy.zero_conf_max_sats and not out.rbf:
        return 0
    if policy.confirmations == 0 and out.rbf:
        return 1
    return policy.confirmations


def _flags(flags: Sequence[str], add: Sequence[str] = (), drop: Sequence[str] = ()) -> tuple:
    kept = [f for f in flags if f not in drop]
    return tuple(sorted(set(kept) | set(add)))


def evaluate(req: PaymentRequest, outputs: Sequence[Received], tip: int, now: datetime,
             policy: Policy) -> tuple[PaymentRequest, list[Event]]:
    """The request after looking at what its address received. Pure."""
    if req.status == RequestStatus.INVALID:
        return req, []
    paid = sum(o.sats for o in outputs)
    confirmed = sum(o.sats for o in outputs
                    if o.confirmations(tip) >= needed_confirmations(req, o, policy))
    txids = tuple(sorted({o.txid for o in outputs}))
    events: list[Event] = []
    new = req.replace(paid_sats=paid, confirmed_sats=confirmed, txids=txids)
    if paid and req.seen_at is None:
        new = new.replace(seen_at=now)
    amount = req.amount_sats
    size_flags = (["partial"] if 0 < paid < amount else []) + (["overpaid"] if paid > amount
                                                                else [])
    flags = _flags(new.flags, size_flags, drop=("partial", "overpaid"))
    new = new.replace(flags=flags)
    expired = now > req.expires_at

    if req.status == RequestStatus.EXPIRED:
        if paid > req.paid_sats:
            new = new.replace(flags=_flags(new.flags, ["late"]))
        return new, events
    if new.status == RequestStatus.NEW:
        if paid >= amount:
            if expired and req.paid_sats < amount and "accepted" not in new.flags:
                return new.replace(status=RequestStatus.EXPIRED,
                                   flags=_flags(new.flags, ["late"]),
                                   closed_reason="paid after the payment window"), events
            new = new.replace(status=RequestStatus.PROCESSING)
        elif expired:
            reason = "underpaid when the window closed" if paid else "not paid in time"
            return new.replace(status=RequestStatus.EXPIRED, closed_reason=reason), events
        else:
            return new, events
    # processing or settled
    if paid < amount:
        # a replacement or double-spend took money away: back to new (BTCPay), partial
        return new.replace(status=RequestStatus.NEW,
                           flags=_flags(new.flags, ["partial"] if paid else [])), events
    if confirmed >= amount:
        if req.status != RequestStatus.SETTLED:
            new = new.replace(status=RequestStatus.SETTLED,
                              settled_at=req.settled_at or now)
        return new, events
    if req.status == RequestStatus.SETTLED:  # a reorg took confirmations away
        return new.replace(status=RequestStatus.PROCESSING,
                           flags=_flags(new.flags, ["reorged"])), events
    if now > req.expires_at + policy.monitoring:
        return new.replace(status=RequestStatus.INVALID,
                           closed_reason="not confirmed within the monitoring window"), events
    if req.status != RequestStatus.PROCESSING:
        events.append(Event("payment_processing", req.id, {}))
    return new, events


def apply_to_lease(lease: Lease, before: PaymentRequest, after: PaymentRequest,
                   now: datetime) -> tuple[Lease, list[Event]]:
    """The lease after one of its requests changed status. Pure."""
    events: list[Event] = []
    first_settlement = after.status == RequestStatus.SETTLED and before.settled_at is None
    if first_settlement and after.hours:
        paid_hours = lease.paid_hours + after.hours
        if lease.status == LeaseStatus.AWAITING_PAYMENT:
            lease = lease.replace(status=LeaseStatus.ACTIVE, starts_at=now,
                                  paid_hours=paid_hours,
                                  ends_at=now + timedelta(hours=paid_hours))
            events.append(Event("lease_active", lease.id, {}))
        elif lease.starts_at is not None:
            lease = lease.replace(paid_hours=paid_hours,
                                  ends_at=lease.starts_at + timedelta(hours=paid_hours))
        return lease, events
    if after.status == RequestStatus.SETTLED and lease.status == LeaseStatus.SUSPENDED \
            and lease.note and lease.note.startswith("reorg"):
        return lease.replace(status=LeaseStatus.ACTIVE, note=None), events
    if before.status == RequestStatus.SETTLED and after.status != RequestStatus.SETTLED \
            and lease.status == LeaseStatus.ACTIVE:
        return lease.replace(status=LeaseStatus.SUSPENDED,
                             note=f"reorg: payment {after.id} lost its confirmations"), events
    if after.purpose == "rent" and lease.status == LeaseStatus.AWAITING_PAYMENT and \
            after.status in (RequestStatus.EXPIRED, RequestStatus.INVALID) and \
            before.status != after.status:
        lease = lease.replace(status=LeaseStatus.EXPIRED, closed_at=now,
                              note=after.closed_reason)
        events.append(Event("lease_expired", lease.id, {"reason": after.closed_reason}))
    return lease, events


def end_if_due(lease: Lease, now: datetime, extension_pending: bool) -> tuple[Lease,
                                                                             list[Event]]:
    """End an active lease whose paid time is up (not while an extension is confirming)."""
    if lease.status == LeaseStatus.ACTIVE and lease.ends_at is not None and \
            now >= lease.ends_at and not extension_pending:
        return (lease.replace(status=LeaseStatus.ENDED, closed_at=now),
                [Event("lease_ended", lease.id, {})])
    return lease, []
