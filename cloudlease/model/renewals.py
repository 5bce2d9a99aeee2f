"""Auto-renewal of a lease through the tenant's own wallet (Nostr Wallet Connect, NIP-47)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import StrEnum

from cloudlease.model.record import Record


class RenewalStatus(StrEnum):
    ACTIVE = "active"        # renews before the lease ends
    REVOKED = "revoked"      # the tenant took it back (the secret is erased)
    FAILED = "failed"        # the wallet refused, erred or did not answer in time
    EXHAUSTED = "exhausted"  # the next period would pass the budget


@dataclasses.dataclass(frozen=True, slots=True)
class Renewal(Record):
    """A tenant's standing order to pay the next period of a lease from their wallet.

    Attributes:
        lease: the lease it renews (the record's key: one per lease).
        created_at: when the tenant handed it over.
        status: see ``RenewalStatus``; only ``active`` renews.
        wallet_pubkey: the wallet service's Nostr public key (64 hex digits).
        relay: the relay the wallet listens on (``wss://...``).
        secret_box: the connection's secret, encrypted with the home's serve key
            (``ops/secrets.py``); never shown again, erased when it stops.
        max_per_renewal_sats: the most one renewal may cost.
        max_total_sats: the most all renewals together may cost.
        spent_sats: what settled renewals cost so far.
        renewals: how many renewals settled.
        updated_at: the last change.
        request: the payment request of the renewal under way or last made.
        attempt_at: when that request was sent to the wallet (a renewal under way is
            claimed until ``attempt_at`` + the timeout, so two passes never pay twice).
        reason: why it stopped (failed, exhausted, revoked), one line for the tenant.
    """

    lease: str
    created_at: datetime
    status: RenewalStatus
    wallet_pubkey: str
    relay: str
    secret_box: str | None
    max_per_renewal_sats: int
    max_total_sats: int
    spent_sats: int = 0
    renewals: int = 0
    updated_at: datetime | None = None
    request: str | None = None
    attempt_at: datetime | None = None
    reason: str | None = None
