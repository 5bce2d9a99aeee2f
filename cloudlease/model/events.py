"""Events hooks and webhooks hear about, and their deliveries to each receiver."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from cloudlease.model.record import Record
from cloudlease.model.statuses import DeliveryStatus


@dataclasses.dataclass(frozen=True, slots=True)
class Event(Record):
    """Something hooks and webhooks hear about (``lease_active``, ``pool_throttled``...).

    Attributes:
        id: ``E-<n>``; receivers deduplicate on it.
        name: the event name.
        subject: the lease, request or ``pool:<name>`` it is about.
        created_at: when it happened.
        body: the JSON document delivered.
    """

    id: str
    name: str
    subject: str
    created_at: datetime
    body: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery(Record):
    """One event to one receiver (a hook command or a webhook), at least once.

    Attributes:
        id: ``<event id>/<target>``.
        event: the event id.
        target: ``hook`` or ``webhook:<url>``.
        status: see ``DeliveryStatus``.
        attempts: how many times it was tried.
        created_at: when it was queued.
        next_attempt_at: not before this (backoff).
        claimed_until: a runner is delivering it until then (no second runner takes it).
        claimed_by: who claimed it (``host pid``).
        delivered_at: when it succeeded.
        last_error: the last failure, one line.
    """

    id: str
    event: str
    target: str
    status: DeliveryStatus
    created_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    claimed_until: datetime | None = None
    claimed_by: str | None = None
    delivered_at: datetime | None = None
    last_error: str | None = None
