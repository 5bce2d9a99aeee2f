"""Hook deliveries: queued in the ledger with the change that caused them, run after it
is committed and outside the writer lock, at least once and never twice at a time.

A pass (``run_pending``) claims due deliveries in one short transaction (``claimed_until``
= now + the hook timeout + a margin, ``claimed_by`` = host and pid), runs them with no
lock held, then records each outcome in a second transaction. A concurrent pass skips
claimed deliveries, so two overlapping ticks never run one event twice; a runner that
dies mid-hook leaves a claim that expires, and the next pass retries it (at least once).
A failed hook is retried on the next pass, a failed webhook after a backoff (30 s,
doubling, at most an hour); both give up after ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cloudlease import clock, hooks, lifecycle, views
from cloudlease.model import Delivery, DeliveryStatus, Event

if TYPE_CHECKING:
    from cloudlease.context import Context
    from cloudlease.ledger.session import Ledger

MAX_ATTEMPTS = hooks.MAX_ATTEMPTS
CLAIM_MARGIN = timedelta(seconds=30)
BATCH = 50  # deliveries claimed per pass


def targets(ctx: Context, event_name: str) -> list[str]:
    """Where an event goes: the hook command configured for it."""
    return ["hook"] if event_name in ctx.settings.hooks else []


def enqueue(ctx: Context, ledger: Ledger, events: list[lifecycle.Event], now: datetime
            ) -> list[Event]:
    """Record events that have a receiver, with one delivery per receiver (in the caller's
    transaction, so an event is queued exactly when the change that caused it commits)."""
    out = []
    for e in events:
        where = targets(ctx, e.name)
        if not where:
            continue
        eid = ledger.next_id("event")
        body: dict[str, Any] = {"event": e.name, "id": eid, "at": now,
                                "network": ledger.network, **e.data}
        if e.subject.startswith("L-"):
            lease = ledger.leases.get(e.subject)
            if lease is not None:
                body["lease_id"], body["tenant"] = lease.id, lease.tenant
                body["lease"] = views.lease(lease)
        elif e.subject.startswith("pool:"):
            body["pool"] = e.subject.removeprefix("pool:")
        else:
            req = ledger.requests.get(e.subject)
            if req is not None:
                body["request_id"], body["lease_id"] = req.id, req.lease
                body["request"] = views.request(req)
        event = Event(id=eid, name=e.name, subject=e.subject, created_at=now,
                      body=views.jsonable(body))
        ledger.events.add(event)
        for target in where:
            ledger.deliveries.add(Delivery(id=f"{eid}/{target}", event=eid, target=target,
                                           status=DeliveryStatus.PENDING, created_at=now))
        out.append(event)
    return out


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def run_pending(ctx: Context, report: Any) -> None:
    """Deliver what is due; record outcomes in ``report.hooks_delivered/hooks_failed``."""
    now = clock.now()
    me = f"{socket.gethostname()} pid {os.getpid()}"
    claim_until = now + timedelta(seconds=ctx.settings.hook_timeout) + CLAIM_MARGIN
    with ctx.transaction("hooks claim") as ledger:
        due = ledger.deliveries.where(
            "status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) AND "
            "(claimed_until IS NULL OR claimed_until < ?)", (now.isoformat(), now.isoformat()),
            order="created_at, id", limit=BATCH)
        if not due:
            return
        events = ledger.events.many(d.event for d in due)
        for d in due:
            ledger.deliveries[d.id] = d.replace(claimed_until=claim_until, claimed_by=me)
    outcomes: dict[str, hooks.Outcome] = {}
    for d in due:
        event = events.get(d.event)
        command = ctx.settings.hooks.get(event.name) if event else None
        if event is None or command is None:
            outcomes[d.id] = hooks.Outcome(d.event, True)  # receiver removed: nothing to do
            continue
        outcomes[d.id] = hooks.run(command, event.body, str(ctx.home.path),
                                   ctx.settings.hook_timeout)
    done = clock.now()
    with ctx.transaction("hooks") as ledger:
        for d in due:
            cur = ledger.deliveries.get(d.id)
            if cur is None or cur.claimed_by != me:
                continue  # not ours any more (claim expired and taken over)
            out = outcomes[d.id]
            name = events[d.event].name if d.event in events else "?"
            if out.ok:
                ledger.deliveries[d.id] = cur.replace(
                    status=DeliveryStatus.DELIVERED, attempts=cur.attempts + 1,
                    delivered_at=done, claimed_until=None, claimed_by=None, last_error=None)
                report.hooks_delivered.append(f"{name} {d.event}")
                continue
            attempts = cur.attempts + 1
            error = (out.error or "failed")[:300]
            ledger.deliveries[d.id] = cur.replace(
                status=DeliveryStatus.FAILED if attempts >= MAX_ATTEMPTS
                else DeliveryStatus.PENDING, attempts=attempts, last_error=error,
                next_attempt_at=(done + _backoff(attempts) if d.target.startswith("webhook")
                                 else None), claimed_until=None,
                claimed_by=None)
            report.hooks_failed.append({"event": name, "id": d.event, "error": error,
                                        "target": d.target.removeprefix("webhook:")})
