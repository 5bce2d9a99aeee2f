"""Pure state transitions for payment requests and leases (no I/O, no clock reads).

The payment model follows BTCPay Server's invoices: ``new`` → ``processing`` (paid in
full, not yet confirmed enough) → ``settled``; ``new`` → ``expired`` when the window
passes unpaid; ``processing`` → ``invalid`` when a payment that never settled does not
confirm within the monitoring window (counted from when the chain first saw it). Flags
(``model.RequestFlag``): ``partial``, ``overpaid``, ``late`` (first seen on the chain
after expiry: never activated automatically — the operator decides with ``pay accept``),
``reorged``, ``refund_due`` and ``unhonoured``.

Which look at the chain counts and when an output counts (ordered observations, the
speed policy) are the rules of ``observations.py``. A reorg that drops a settled payment
below the policy moves the request back to ``processing`` and it stays there while its
transaction is known; a re-confirmation settles it again (the hours are never applied
twice) and restores the lease.

Late: decided by when the chain first saw the payments that covered the amount
(``Received.first_seen``), not when the tool looked. Where a backend gives no first-seen
time (Esplora's mempool), the payment is known only to have arrived after the last look
that did not see it: it is late only if that look was already after expiry.

Money received is honoured or flagged: ``refund_sats`` / ``refund_due`` carry what arrived
without a promise kept for it (see ``with_refund``); a settlement that cannot be delivered
(an extension for a lease that ended and cannot reopen, a payment for a cancelled lease)
is flagged ``unhonoured``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cloudlease.core.observations import (  # noqa: F401 - re-exported: callers know them here
    Observation,
    Order,
    Policy,
    needed_confirmations,
    order,
)
from cloudlease.model import Lease, LeaseStatus, PaymentRequest, RequestFlag, RequestStatus
from cloudlease.model.chain import Received

Flag = RequestFlag
#: closed_reason values of requests this module expired by their payment window (a
#: request closed otherwise, e.g. by ``lease cancel``, is never brought back).
NOT_PAID = "not paid in time"
UNDERPAID = "underpaid when the window closed"
PAID_LATE = "paid after the payment window"
WINDOW_REASONS = frozenset({NOT_PAID, UNDERPAID, PAID_LATE})
_RANK = {RequestStatus.NEW: 0, RequestStatus.PROCESSING: 1, RequestStatus.SETTLED: 2}


@dataclass(frozen=True)
class Event:
    """Something hooks hear about: ``payment_processing``, ``lease_active``, ..."""

    name: str
    subject: str  # the request or lease id
    data: dict


def _flags(flags: Sequence[str], add: Iterable[str] = (), drop: Iterable[str] = ()) -> tuple:
    drop = set(drop)
    kept = [str(f) for f in flags if f not in drop]
    return tuple(sorted(set(kept) | {str(f) for f in add}))


def is_late(req: PaymentRequest, paid_at: datetime | None) -> bool:
    """The one rule for "late", on-chain and over Lightning alike: the money that covered
    the request arrived (first seen on the chain, or settled by the node) after its window
    closed. When it arrived is the chain's or the node's time, never when cloudlease looked,
    so a cron run a few minutes late changes nothing. An unknown time is not late."""
    return paid_at is not None and paid_at > req.expires_at


def paid_at(req: PaymentRequest, outputs: Sequence[Received], *,
            strict: bool = False) -> datetime | None:
    """When ``outputs`` first covered the request's amount, by the chain's first-seen times.

    An output without one (Esplora's mempool) is dated by what the request knows: one it
    had already seen no earlier than the request's creation, a new one no earlier than the
    last look that did not list it (``observed_at``) — so a look that came late never
    makes a payment late. ``strict``: None unless every output has a first-seen time.
    None when the outputs do not cover the amount."""
    since = req.observed_at or req.created_at
    stamps = []
    for o in outputs:
        if o.first_seen is not None:
            stamps.append((o.first_seen, o.sats))
        elif strict:
            return None
        else:
            stamps.append((req.created_at if o.txid in req.txids else since, o.sats))
    total = 0
    for when, sats in sorted(stamps, key=lambda s: s[0]):
        total += sats
        if total >= req.amount_sats:
            return when
    return None


def evaluate(req: PaymentRequest, outputs: Sequence[Received], tip: int | Observation,
             now: datetime, policy: Policy) -> tuple[PaymentRequest, list[Event]]:
    """The request after one look at what its address received. Pure.

    ``tip`` is the ``Observation`` the outputs were taken at. A stale observation returns
    ``req`` unchanged, and so does one at the same tip that would move it backwards with
    nothing on the chain to explain it. Otherwise the request records the observation's
    tip (``observed_height``, ``observed_hash``, ``observed_at``). A bare height (a caller
    that does not track observations) is applied unordered and recorded nowhere."""
    if not isinstance(tip, Observation):
        new, events = _judge(req, outputs, Observation(tip, now), now, policy)
        return with_refund(new), events
    rank = order(req, tip)
    if rank is Order.STALE:
        return req, []
    new, events = _judge(req, outputs, tip, now, policy)
    if rank is Order.SAME and _backwards(req, new) and \
            not any(o.txid not in req.txids for o in outputs):
        return req, []
    new = new.replace(observed_height=tip.height, observed_hash=tip.hash,
                      observed_at=tip.taken_at)
    return with_refund(new), events


def _backwards(before: PaymentRequest, after: PaymentRequest) -> bool:
    """Would this undo what is known: a lower status, or fewer sats seen or confirmed?"""
    a, b = _RANK.get(after.status), _RANK.get(before.status)
    if a is not None and b is not None and a < b:
        return True
    return after.paid_sats < before.paid_sats or after.confirmed_sats < before.confirmed_sats


def _judge(req: PaymentRequest, outputs: Sequence[Received], obs: Observation,
           now: datetime, policy: Policy) -> tuple[PaymentRequest, list[Event]]:
    """One look, in phases: the amounts the chain shows now (whatever the status), then the
    status from where the request stood: invalid stays; expired stays unless the chain saw
    the payment in time; new is paid or expires; a paid request settles, waits, goes back
    or becomes invalid."""
    new = _amounts(req, outputs, obs, now, policy)
    if req.status == RequestStatus.INVALID:
        return new, []  # terminal; the amounts still show money that arrived later
    if req.status == RequestStatus.EXPIRED:
        new = _expired(req, new, outputs)
        if new.status == RequestStatus.EXPIRED:
            return new, []
    if new.status == RequestStatus.NEW:
        new = _new(req, new, outputs, now, policy)
        if new.status != RequestStatus.PROCESSING:
            return new, []
    return _paid(req, new, now, policy)


def _amounts(req: PaymentRequest, outputs: Sequence[Received], obs: Observation,
             now: datetime, policy: Policy) -> PaymentRequest:
    """Sats paid and confirmed (as the policy asks), the transactions, when a payment was
    first seen, and the ``partial`` / ``overpaid`` flags."""
    paid = sum(o.sats for o in outputs)
    confirmed = sum(o.sats for o in outputs
                    if o.confirmations(obs.height) >= needed_confirmations(req, o, policy, paid))
    new = req.replace(paid_sats=paid, confirmed_sats=confirmed,
                      txids=tuple(sorted({o.txid for o in outputs})))
    if paid:
        first = min((o.first_seen for o in outputs if o.first_seen is not None),
                    default=obs.taken_at)
        if req.seen_at is None:
            new = new.replace(seen_at=now)
        if req.first_seen_at is None or first < req.first_seen_at:
            new = new.replace(first_seen_at=first)
    amount = req.amount_sats
    size_flags = ([Flag.PARTIAL] if 0 < paid < amount else []) + \
        ([Flag.OVERPAID] if paid > amount else [])
    return new.replace(flags=_flags(new.flags, size_flags, drop=(Flag.PARTIAL, Flag.OVERPAID)))


def _expired(req: PaymentRequest, new: PaymentRequest, outputs: Sequence[Received]
             ) -> PaymentRequest:
    """An expired request stays expired, money arriving now flagged ``late``, unless its
    window closed it and the chain saw the full payment in time (a look after expiry had
    missed it): then it is new again."""
    paid, amount = new.paid_sats, req.amount_sats
    when = paid_at(new, outputs, strict=True) if paid >= amount else None
    if Flag.ACCEPTED in new.flags or req.closed_reason not in WINDOW_REASONS or \
            when is None or is_late(req, when):
        if paid > req.paid_sats:
            new = new.replace(flags=_flags(new.flags, [Flag.LATE]))
        if paid >= amount and new.paid_at is None:
            new = new.replace(paid_at=when or paid_at(req, outputs))
        return new
    return new.replace(status=RequestStatus.NEW, closed_reason=None,
                       flags=_flags(new.flags, drop=[Flag.LATE]))


def _new(req: PaymentRequest, new: PaymentRequest, outputs: Sequence[Received],
         now: datetime, policy: Policy) -> PaymentRequest:
    """A new request paid in full is processing (expired and ``late`` when the chain first
    saw the money after the window); short, it expires with its window, or (a settled
    payment that vanished) becomes invalid after the monitoring window."""
    if new.paid_sats >= req.amount_sats:
        was_settled = req.settled_at is not None  # the same money, back after a reorg
        when = paid_at(req, outputs)
        new = new.replace(paid_at=req.paid_at if was_settled and req.paid_at else when)
        if not was_settled and Flag.ACCEPTED not in new.flags and is_late(req, when):
            return new.replace(status=RequestStatus.EXPIRED,
                               flags=_flags(new.flags, [Flag.LATE]), closed_reason=PAID_LATE)
        return new.replace(status=RequestStatus.PROCESSING)
    if req.settled_at is not None:
        # a payment that had settled vanished (double-spent after a reorg): its window
        # was met, so not expired; invalid once the monitoring window is over
        if now > (req.first_seen_at or now) + policy.monitoring:
            return new.replace(status=RequestStatus.INVALID,
                               closed_reason="its payment vanished after it had settled")
        return new
    if now > req.expires_at:
        return new.replace(status=RequestStatus.EXPIRED,
                           closed_reason=UNDERPAID if new.paid_sats else NOT_PAID)
    return new


def _paid(req: PaymentRequest, new: PaymentRequest, now: datetime, policy: Policy
          ) -> tuple[PaymentRequest, list[Event]]:
    """A request paid in full (processing, settled, or just paid): settled once the
    confirmed sats cover it; back to new when a replacement or double-spend took money
    away, to processing when a reorg took confirmations; invalid when it did not confirm
    within the monitoring window."""
    paid, amount = new.paid_sats, req.amount_sats
    if paid < amount:
        # a replacement or double-spend took money away: back to new (BTCPay), partial
        add = ([Flag.PARTIAL] if paid else []) + ([Flag.REORGED] if req.settled_at else [])
        return new.replace(status=RequestStatus.NEW, flags=_flags(new.flags, add)), []
    if new.confirmed_sats >= amount:
        if req.status != RequestStatus.SETTLED:
            new = new.replace(status=RequestStatus.SETTLED, settled_at=req.settled_at or now)
        return new, []
    if req.status == RequestStatus.SETTLED:  # a reorg took confirmations away
        return new.replace(status=RequestStatus.PROCESSING,
                           flags=_flags(new.flags, [Flag.REORGED])), []
    if req.settled_at is None and now > (new.first_seen_at or now) + policy.monitoring:
        return new.replace(status=RequestStatus.INVALID,
                           closed_reason="not confirmed within the monitoring window"), []
    events = [] if req.status == RequestStatus.PROCESSING else [
        Event("payment_processing", req.id, {})]
    return new.replace(status=RequestStatus.PROCESSING), events


def promised_sats(req: PaymentRequest) -> int:
    """What of the money received keeps a promise: the amount while the request is open
    or settled (and honoured); nothing once expired, invalid or unhonoured."""
    if Flag.UNHONOURED in req.flags:
        return 0
    if req.status in (RequestStatus.NEW, RequestStatus.PROCESSING, RequestStatus.SETTLED):
        return req.amount_sats
    return 0


def refund_owed(req: PaymentRequest) -> int:
    """What arrived (confirmed as the policy asks; Lightning is final at once) beyond what
    keeps a promise, before any of it went back."""
    received = req.confirmed_sats + req.ln_paid_msat // 1000
    return max(0, received - promised_sats(req))


def with_refund(req: PaymentRequest) -> PaymentRequest:
    """``refund_sats`` and the ``refund_due`` flag from what arrived (confirmed as the
    policy asks) beyond what keeps a promise: an overpaid surplus, money for an expired
    (late, cancelled), invalid or unhonoured request. Accepting a late payment
    (``pay accept``) takes it back. The flag stays while some of it has not gone back yet
    (``refunded_sats``, booked by ``pay refund``). Pure."""
    refund = refund_owed(req)
    flags = _flags(req.flags, [Flag.REFUND_DUE] if refund > req.refunded_sats else [],
                   drop=[Flag.REFUND_DUE])
    return req.replace(refund_sats=refund or None, flags=flags)


# -- leases ------------------------------------------------------------------------------
def apply_request(lease: Lease, before: PaymentRequest, after: PaymentRequest,
                  now: datetime, *, can_reopen: bool = True
                  ) -> tuple[Lease, PaymentRequest, list[Event]]:
    """The lease (and the request) after one of the lease's requests changed. Pure.

    ``can_reopen``: whether the lease's pool has room for it again (not throttled, a
    free slot) — needed to bring back a lease that expired or ended. A settlement that
    cannot be delivered flags the request ``unhonoured`` with a refund due."""
    if _paid_in_time_after_all(lease, before, after):
        if not can_reopen:
            return lease, _unhonoured(after, f"lease {lease.id} expired and its pool has no "
                                             "room for it now"), []
        # its payment was on time after all (a look after expiry had missed it)
        lease = lease.replace(status=LeaseStatus.AWAITING_PAYMENT, closed_at=None,
                              note=f"payment {after.id} was first seen in time")
    if after.status == RequestStatus.SETTLED and before.settled_at is None and \
            after.bought_minutes:
        return _add_time(lease, after, now, can_reopen)
    return _follow(lease, before, after, now)


def _paid_in_time_after_all(lease: Lease, before: PaymentRequest, after: PaymentRequest
                            ) -> bool:
    """The first request of an expired lease, expired itself, is paid after all (the
    chain saw it in time), and not by the operator's ``pay accept``."""
    return after.purpose == "rent" and before.status == RequestStatus.EXPIRED and \
        after.status in (RequestStatus.PROCESSING, RequestStatus.SETTLED) and \
        lease.status == LeaseStatus.EXPIRED and lease.requests[:1] == (after.id,) and \
        Flag.ACCEPTED not in after.flags


def _add_time(lease: Lease, after: PaymentRequest, now: datetime, can_reopen: bool
              ) -> tuple[Lease, PaymentRequest, list[Event]]:
    """A first settlement buys its time (whole hours, or the minutes a pro-rated payment
    bought, ``core/prorate.py``): a lease awaiting payment starts now, a running (or
    suspended) one ends later, an ended one runs again when its pool has room; any other
    lease cannot take them and the request is unhonoured."""
    minutes = lease.minutes + after.bought_minutes
    paid = {"paid_minutes": minutes, "paid_hours": minutes // 60}
    if lease.status == LeaseStatus.AWAITING_PAYMENT:
        lease = lease.replace(status=LeaseStatus.ACTIVE, starts_at=now, **paid,
                              ends_at=now + timedelta(minutes=minutes))
        return lease, after, [Event("lease_active", lease.id, {})]
    if lease.status in (LeaseStatus.ACTIVE, LeaseStatus.SUSPENDED) and \
            lease.starts_at is not None:
        return lease.replace(**paid, ends_at=lease.starts_at + timedelta(minutes=minutes)), \
            after, []
    if lease.status == LeaseStatus.ENDED and lease.starts_at is not None and \
            lease.ends_at is not None and can_reopen:
        # paid after its end: it runs again from now for the time bought; like a
        # suspension, the time it was off is not counted (starts_at moves with it)
        gap = max(timedelta(0), now - lease.ends_at)
        starts = lease.starts_at + gap
        lease = lease.replace(status=LeaseStatus.ACTIVE, closed_at=None, **paid,
                              starts_at=starts, ends_at=starts + timedelta(minutes=minutes),
                              note=f"reopened: {after.id} settled after the lease ended")
        return lease, after, [Event("lease_active", lease.id, {"reopened": True})]
    return lease, _unhonoured(after, f"lease {lease.id} is {lease.status.value}"
                              + (" and its pool has no room for it now"
                                 if lease.status == LeaseStatus.ENDED else "")), []


def _follow(lease: Lease, before: PaymentRequest, after: PaymentRequest, now: datetime
            ) -> tuple[Lease, PaymentRequest, list[Event]]:
    """The lease follows a request that buys no new hours: a settlement back after a reorg
    restores it (the time it was off given back), a reorg that took the settlement away
    suspends it, and a rental request that expired or became invalid expires it."""
    if after.status == RequestStatus.SETTLED and lease.status == LeaseStatus.SUSPENDED \
            and lease.note and lease.note.startswith("reorg"):
        off = now - (lease.suspended_at or now)  # give back the time it was off
        return lease.replace(status=LeaseStatus.ACTIVE, note=None, suspended_at=None,
                             starts_at=lease.starts_at + off if lease.starts_at else None,
                             ends_at=lease.ends_at + off if lease.ends_at else None
                             ), after, []
    if before.status == RequestStatus.SETTLED and after.status != RequestStatus.SETTLED \
            and lease.status == LeaseStatus.ACTIVE:
        return lease.replace(status=LeaseStatus.SUSPENDED, suspended_at=now,
                             note=f"reorg: payment {after.id} lost its confirmations"
                             ), after, []
    if after.purpose == "rent" and lease.status == LeaseStatus.AWAITING_PAYMENT and \
            after.status in (RequestStatus.EXPIRED, RequestStatus.INVALID) and \
            before.status != after.status:
        lease = lease.replace(status=LeaseStatus.EXPIRED, closed_at=now,
                              note=after.closed_reason)
        return lease, after, [Event("lease_expired", lease.id, {"reason": after.closed_reason})]
    return lease, after, []


def _unhonoured(req: PaymentRequest, why: str) -> PaymentRequest:
    return with_refund(req.replace(flags=_flags(req.flags, [Flag.UNHONOURED]),
                                   closed_reason=f"not honoured: {why}; refund due"))


def apply_to_lease(lease: Lease, before: PaymentRequest, after: PaymentRequest,
                   now: datetime) -> tuple[Lease, list[Event]]:
    """The lease after one of its requests changed status (``apply_request`` without the
    request, for callers that do not store it). Pure."""
    lease, _, events = apply_request(lease, before, after, now)
    return lease, events


def end_if_due(lease: Lease, now: datetime, extension_pending: bool) -> tuple[Lease,
                                                                             list[Event]]:
    """End an active lease whose paid time is up (not while an extension is confirming)."""
    if lease.status == LeaseStatus.ACTIVE and lease.ends_at is not None and \
            now >= lease.ends_at and not extension_pending:
        return (lease.replace(status=LeaseStatus.ENDED, closed_at=now),
                [Event("lease_ended", lease.id, {})])
    return lease, []
