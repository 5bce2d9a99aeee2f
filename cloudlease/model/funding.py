"""Pool funding: contributions investors and donors make, and the payouts investors earn."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from cloudlease.model.record import Record
from cloudlease.model.statuses import Consideration, ContributionKind, ContributionStatus


@dataclasses.dataclass(frozen=True, slots=True)
class Contribution(Record):
    """Money put into a pool: an investment (earns consideration) or a donation (none).

    Attributes:
        id: ``C-<n>``.
        pool: the pool funded.
        tenant: who funds it (never anonymous).
        kind: investment or donation.
        amount_sats: the principal.
        created_at: when it was asked for.
        request: the payment request that pays it.
        settled_at: when its payment settled; it counts from then.
        startup: settled during the pool's start-up phase (weighted).
        topup: made by the monitor to restore the pool's runway.
        status: see ``ContributionStatus``: pending, settled, or cancelled (its request
            expired).
    """

    id: str
    pool: str
    tenant: str
    kind: ContributionKind
    amount_sats: int
    created_at: datetime
    request: str | None = None
    settled_at: datetime | None = None
    startup: bool = False
    topup: bool = False
    status: ContributionStatus = ContributionStatus.PENDING


@dataclasses.dataclass(frozen=True, slots=True)
class Payout(Record):
    """One month's consideration for a pool's investors, recorded once.

    Attributes:
        id: ``<pool>/<YYYY-MM>``.
        pool: the pool.
        period: ``YYYY-MM``.
        consideration: the pool's consideration when it was computed.
        basis_sats: revenue (or net revenue) the percentage applies to.
        distributable_sats: what investors get in all.
        shares: tenant → sats (largest-remainder split by risk share, caps applied).
        created_at: when it was recorded.
    """

    id: str
    pool: str
    period: str
    consideration: Consideration
    basis_sats: int
    distributable_sats: int
    created_at: datetime
    shares: dict[str, int] = dataclasses.field(default_factory=dict)
