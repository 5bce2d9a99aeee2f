"""What a Lightning payment does to a payment request (pure: no I/O, no clock reads).

A pass records the node's answer first (:func:`record`), then either the on-chain rules of
``lifecycle.evaluate`` run as before (the invoice is not paid), or, once it is, the
request is settled by Lightning (:func:`evaluate`) and the chain can only add to it:

- A paid invoice settles the request at once: no confirmations, no reorg. The node's
  settle time is authoritative: settled before the request's window closed is never
  late, even when the pass that sees it runs after the window (a cron run a few minutes
  late changes nothing); settled after it (only possible when the node's invoice outlives
  the window) is ``late``, and the operator decides with ``pay accept`` as on-chain.
- Money is honoured or flagged as on-chain (``lifecycle.with_refund``), with what arrived
  over Lightning counted as confirmed: paid both ways (the address of a ``both`` request
  received money too, before or after) is ``overpaid`` with the surplus in
  ``refund_sats`` and ``refund_due``; so is a payer's Lightning overpayment; paid after its
  lease was cancelled, all of it is due back.
- A Lightning payment is booked as a ``Payment`` ``ln:<payment hash>`` with its preimage.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cloudlease.core.lifecycle import (
    WINDOW_REASONS,
    Observation,
    Policy,
    is_late,
    needed_confirmations,
    with_refund,
)
from cloudlease.model import Payment, PaymentRequest, PaymentStatus, RequestFlag, RequestStatus
from cloudlease.model.chain import Received
from cloudlease.model.lightning import LnState, LnStatus

LEASE_CANCELLED = "lease cancelled"  # closed_reason of a request whose lease was cancelled
OPEN = (RequestStatus.NEW, RequestStatus.PROCESSING)


def paid(req: PaymentRequest) -> bool:
    """Whether the request's invoice was paid (recorded by an earlier :func:`record`)."""
    return req.ln_paid_msat > 0


def record(req: PaymentRequest, status: LnStatus | None, now: datetime
           ) -> tuple[PaymentRequest, Payment | None]:
    """The request with a newly paid invoice recorded on it, and the payment to book; the
    request unchanged (and no payment) when the node reports nothing new."""
    if status is None or status.state != LnState.PAID or paid(req) or \
            status.payment_hash != req.ln_payment_hash:
        return req, None
    settled = status.settled_at or now
    req = req.replace(ln_paid_msat=status.amount_paid_msat, ln_settled_at=settled,
                      ln_preimage=status.preimage, seen_at=req.seen_at or now)
    payment = Payment(id=f"ln:{status.payment_hash}", request=req.id, method="lightning",
                      sats=status.amount_paid_msat // 1000, status=PaymentStatus.SETTLED,
                      first_seen_at=now, payment_hash=status.payment_hash,
                      preimage=status.preimage, settled_at=settled)
    return req, payment


def evaluate(req: PaymentRequest, outputs: Sequence[Received] | None,
             tip: int | Observation, policy: Policy) -> PaymentRequest:
    """A request whose invoice is paid, after this pass: what its address received (when
    the chain was asked: ``outputs``, at ``tip``) only adds to it; its status and flags
    follow."""
    if outputs is not None and req.address:
        height = tip.height if isinstance(tip, Observation) else tip
        got = sum(o.sats for o in outputs)
        confirmed = sum(o.sats for o in outputs
                        if o.confirmations(height) >= needed_confirmations(req, o, policy,
                                                                          got))
        req = req.replace(paid_sats=got, confirmed_sats=confirmed,
                          txids=tuple(sorted({o.txid for o in outputs})))
    assert req.ln_settled_at is not None
    late = is_late(req, req.ln_settled_at)
    if req.status in OPEN:
        if late and RequestFlag.ACCEPTED not in req.flags:
            req = req.replace(status=RequestStatus.EXPIRED,
                              flags=_with(req.flags, RequestFlag.LATE),
                              closed_reason="paid after the payment window")
        else:
            req = req.replace(status=RequestStatus.SETTLED,
                              settled_at=req.settled_at or req.ln_settled_at)
    elif req.status == RequestStatus.EXPIRED and not late and \
            req.closed_reason in WINDOW_REASONS and RequestFlag.LATE not in req.flags:
        # the node settled it inside the window: never late, though a pass that could not
        # see the node closed it meanwhile (one closed otherwise, e.g. by lease cancel, is
        # never brought back: its money is due back)
        req = req.replace(status=RequestStatus.SETTLED, settled_at=req.ln_settled_at,
                          closed_reason=None)
    return _money_flags(req)


def _money_flags(req: PaymentRequest) -> PaymentRequest:
    """``overpaid`` from both ways the money came; ``refund_sats`` and ``refund_due`` as
    for the chain (``lifecycle.with_refund`` counts Lightning as confirmed)."""
    over = req.paid_sats * 1000 + req.ln_paid_msat > req.amount_sats * 1000
    flags = set(req.flags) - {RequestFlag.PARTIAL, RequestFlag.OVERPAID}
    if over:
        flags.add(RequestFlag.OVERPAID)
    return with_refund(req.replace(flags=tuple(sorted(str(f) for f in flags))))


def _with(flags: Sequence[str], flag: RequestFlag) -> tuple[str, ...]:
    return tuple(sorted({str(f) for f in flags} | {str(flag)}))


def newly_refund_due(before: PaymentRequest, after: PaymentRequest) -> bool:
    return RequestFlag.REFUND_DUE in after.flags and RequestFlag.REFUND_DUE not in before.flags
