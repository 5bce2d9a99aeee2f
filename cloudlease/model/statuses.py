"""The statuses and kinds records carry, each a StrEnum of its stored values."""

from __future__ import annotations

from enum import StrEnum


class LeaseStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


OPEN_LEASE = frozenset({LeaseStatus.AWAITING_PAYMENT, LeaseStatus.ACTIVE, LeaseStatus.SUSPENDED})
CLOSED_LEASE = frozenset({LeaseStatus.ENDED, LeaseStatus.EXPIRED, LeaseStatus.CANCELLED})


class RequestStatus(StrEnum):
    NEW = "new"
    PROCESSING = "processing"
    SETTLED = "settled"
    EXPIRED = "expired"
    INVALID = "invalid"


class RequestFlag(StrEnum):
    """Flags a payment request carries (in ``PaymentRequest.flags``)."""

    PARTIAL = "partial"  # underpaid: the remainder can still be paid
    OVERPAID = "overpaid"  # more than the amount arrived (the surplus is to refund)
    LATE = "late"  # first seen on the chain after the window: the operator decides
    ACCEPTED = "accepted"  # the operator accepted a late payment (``pay accept``)
    REORGED = "reorged"  # a reorg took confirmations away after it had settled
    REFUND_DUE = "refund_due"  # money arrived that no promise is kept for (refund_sats)
    UNHONOURED = "unhonoured"  # settled, but what it paid for cannot be delivered
    PRORATED = "prorated"  # what arrived bought minutes at the price when it settled
    REDEEMED = "redeemed"  # its L402 credential was answered once (never again)


class PaymentStatus(StrEnum):
    SEEN = "seen"            # in the mempool, or confirmed less than the policy asks
    CONFIRMED = "confirmed"  # counted towards the request
    GONE = "gone"            # replaced, double-spent or reorged out and not seen again
    SETTLED = "settled"      # a Lightning payment the node settled


class Consideration(StrEnum):
    REVENUE_SHARE = "revenue_share"
    OWNERSHIP = "ownership"
    FIXED_RETURN = "fixed_return"


class ContributionKind(StrEnum):
    INVESTMENT = "investment"
    DONATION = "donation"


class ContributionStatus(StrEnum):
    PENDING = "pending"      # its payment request is open
    SETTLED = "settled"      # its payment settled: it counts from ``settled_at``
    CANCELLED = "cancelled"  # its request expired or became invalid unaccepted


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    VOID = "void"


class InvoiceKind(StrEnum):
    """What a document in the ``invoices`` table is."""

    INVOICE = "invoice"              # a tenant's rentals
    CONTRIBUTIONS = "contributions"  # a tenant's investments, donations and consideration
    STATEMENT = "statement"          # anonymous sales
    CREDIT_NOTE = "credit_note"      # cancels an issued document


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"        # gave up after the last attempt


class MachineState(StrEnum):
    """Where a lease's machine is (``provision.base.State`` is this enum)."""

    PENDING = "pending"      # recorded before the first call; a crash leaves it for a retry
    READY = "ready"          # the tenant can log in (or the command said it is done)
    FAILED = "failed"        # the last call failed; ``error`` says why; retried next tick
    SUSPENDED = "suspended"  # processes frozen, logins refused
    RELEASED = "released"    # everything of the lease is gone


class TransferKind(StrEnum):
    SWEEP = "sweep"
    REFUND = "refund"


class TransferStatus(StrEnum):
    PENDING = "pending"  # signed and recorded; not yet known to be accepted by the chain
    SENT = "sent"        # the backend accepted it (or the operator sent it elsewhere)
    FAILED = "failed"    # the backend refused it: nothing left the wallet
