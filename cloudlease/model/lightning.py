"""What a Lightning node reports, as values the pure rules can take (no backend import).

A backend (``cloudlease/lightning/``) makes :class:`LnInvoice` records and answers with
:class:`LnStatus`; ``core.lnsettle`` settles payment requests from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class LnState(StrEnum):
    """Where an invoice stands, as its node reports it."""

    OPEN = "open"  # payable (LND ACCEPTED, a held HTLC not yet settled, is still open)
    PAID = "paid"  # settled: the node has the preimage and the money
    EXPIRED = "expired"  # unpaid and past its expiry; the node refuses payments
    CANCELLED = "cancelled"  # cancelled on the node before expiry (LND, devnode)


@dataclass(frozen=True, slots=True)
class LnInvoice:
    """A BOLT11 invoice as cloudlease stores it with a payment request.

    Attributes:
        bolt11: the invoice text, lowercase, as the node made it (``lnbcrt210u1p...``).
        payment_hash: 64 lowercase hex digits (sha256 of the preimage).
        amount_msat: the amount the invoice asks for, in millisatoshis (= sats × 1000).
        description: the ``d`` field, exactly what we asked for.
        created_at: the invoice timestamp (UTC, whole seconds).
        expires_at: ``created_at`` + the invoice's expiry (UTC).
    """

    bolt11: str
    payment_hash: str
    amount_msat: int
    description: str
    created_at: datetime
    expires_at: datetime

    @property
    def amount_sats(self) -> int:
        """The amount in whole sats (every invoice cloudlease asks for is whole sats)."""
        return self.amount_msat // 1000


@dataclass(frozen=True, slots=True)
class LnStatus:
    """One invoice's status in one pass.

    Attributes:
        payment_hash: which invoice (64 hex digits).
        state: an :class:`LnState`.
        amount_paid_msat: what the node received (0 unless paid; may exceed the invoice
            amount: a payer may overpay up to twice the amount and nodes accept it).
        settled_at: the node's settle time (UTC) when paid, else None.
        preimage: 64 hex digits when paid (``sha256(preimage) == payment_hash``), else None.
    """

    payment_hash: str
    state: LnState
    amount_paid_msat: int = 0
    settled_at: datetime | None = None
    preimage: str | None = None
