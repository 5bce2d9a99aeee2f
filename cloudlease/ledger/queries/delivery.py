"""Named queries on hook and webhook deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from cloudlease.ledger.queries._base import Named

if TYPE_CHECKING:
    from cloudlease.model import Delivery

_OLDEST_FIRST = "created_at, id"


class Deliveries(Named):
    """``ledger.deliveries``: indexed on (status, created_at) and on event."""

    def of_event(self, event: str) -> list[Delivery]:
        """An event's deliveries, one per receiver."""
        return self.where("event = ?", (event,))

    def due(self, now: datetime, *, event: str | None = None, limit: int | None = None
            ) -> list[Delivery]:
        """Pending deliveries whose next attempt is due and that nobody has claimed (only
        ``event``'s, when given), oldest first, at most ``limit``."""
        clause = ("status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
                  "AND (claimed_until IS NULL OR claimed_until < ?)")
        params: tuple[str, ...] = (now.isoformat(), now.isoformat())
        if event is not None:
            clause += " AND event = ?"
            params += (event,)
        return self.where(clause, params, order=_OLDEST_FIRST, limit=limit)

    def claimed_and_due(self, now: datetime, *, event: str | None = None) -> list[Delivery]:
        """Pending deliveries whose next attempt is due but that a runner still claims
        (the caller takes over those whose runner died), oldest first."""
        clause = ("status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
                  "AND claimed_until >= ?")
        params: tuple[str, ...] = (now.isoformat(), now.isoformat())
        if event is not None:
            clause += " AND event = ?"
            params += (event,)
        return self.where(clause, params, order=_OLDEST_FIRST)

    def failing(self) -> list[Delivery]:
        """Deliveries whose last attempt failed: given up, or waiting to be retried."""
        return self.where("status = 'failed' OR (status = 'pending' AND attempts > 0)",
                          order=_OLDEST_FIRST)

    def undelivered(self) -> list[Delivery]:
        """Every delivery not delivered yet (pending or given up), oldest first."""
        return self.where("status IN ('pending', 'failed')", order=_OLDEST_FIRST)

    def latest_delivered(self, limit: int) -> list[Delivery]:
        """The ``limit`` deliveries made last, newest first."""
        return self.where("status = 'delivered'", order="created_at DESC, id DESC",
                          limit=limit)
