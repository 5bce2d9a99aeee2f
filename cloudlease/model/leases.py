"""Leases: rentals of capacity for paid hours."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

from cloudlease.model.record import Record
from cloudlease.model.statuses import OPEN_LEASE, LeaseStatus


@dataclasses.dataclass(frozen=True, slots=True)
class Lease(Record):
    """A rental of capacity for a number of paid hours.

    Attributes:
        id: ``L-<n>``, assigned in order under the ledger lock.
        status: see ``LeaseStatus``; never ``active`` without a settled payment.
        hours: hours bought with the first payment.
        plan: plan name.
        created_at: when the lease was made.
        tenant: tenant name, or None for an anonymous rental.
        price_sats: the first payment's amount for the hours, in sats (price locked).
        price_fiat: the fiat price of those hours, when the plan is priced in fiat.
        currency: currency of ``price_fiat``.
        requests: ids of payment requests for this lease (first, then extensions).
        paid_hours: hours covered by settled payments so far.
        starts_at: activation time (settlement of the first payment).
        ends_at: ``starts_at`` + ``paid_hours``.
        closed_at: when it became ended, expired or cancelled.
        idempotency_key: the caller's key; the same key returns this lease again.
        note: free text kept with the lease (e.g. why it was cancelled).
        pool: the pool its plan drew on when it was rented.
        suspended_at: when it was suspended (throttled pool or reorg), to give the time back.
        paid_minutes: minutes covered by settled payments (pro-rated payments buy minutes);
            None on a lease written before minutes existed: ``paid_hours`` × 60.
        credit_sats: an anonymous lease's credit (sub-minute remainders of pro-rated
            payments, used first by its next payment); a named tenant's is the tenant's.
    """

    id: str
    status: LeaseStatus
    hours: int
    plan: str
    created_at: datetime
    tenant: str | None = None
    price_sats: int | None = None
    price_fiat: Decimal | None = None
    currency: str | None = None
    requests: tuple[str, ...] = ()
    paid_hours: int = 0
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    closed_at: datetime | None = None
    idempotency_key: str | None = None
    note: str | None = None
    pool: str | None = None
    suspended_at: datetime | None = None
    # schema 3 (pay as you go): appended, nullable
    paid_minutes: int | None = None
    credit_sats: int | None = None

    @property
    def minutes(self) -> int:
        """Minutes paid for so far (``ends_at`` = ``starts_at`` + these)."""
        return self.paid_minutes if self.paid_minutes is not None else self.paid_hours * 60

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_LEASE
