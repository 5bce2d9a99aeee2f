"""Hook deliveries: queued in the ledger with the change that caused them, run after it
is committed and outside the writer lock, at least once and never twice at a time.

A pass (``run_pending``) claims due deliveries in one short transaction (``claimed_until``
= now + the hook timeout + a margin, ``claimed_by`` = host and pid), runs them with no
lock held, then records each outcome in a second transaction. A concurrent pass skips
claimed deliveries, so two overlapping ticks never run one event twice; a runner that
dies mid-hook leaves a claim that the next pass on the same host takes over at once (the
claimer's pid is gone), and that any other host retries when it expires (at least once).
A failed hook is retried on the next pass, a failed webhook after a backoff (30 s,
doubling, at most an hour); both give up after ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cloudlease.core import clock, lifecycle, views
from cloudlease.ledger.db import host_name
from cloudlease.model import Delivery, DeliveryStatus, Event
from cloudlease.notify import hooks

if TYPE_CHECKING:
    from cloudlease.ledger.session import Ledger
    from cloudlease.ops.context import Context

MAX_ATTEMPTS = hooks.MAX_ATTEMPTS
CLAIM_MARGIN = timedelta(seconds=30)
BATCH = 50  # deliveries claimed per pass


WEBHOOK = "webhook:"


def targets(ctx: Context, event_name: str) -> list[str]:
    """Where an event goes: the hook command configured for it (``hook``) and every
    webhook that takes it (``webhook:<url without credentials or query>``)."""
    from cloudlease.notify.webhooks import target

    out = ["hook"] if event_name in ctx.settings.hooks else []
    return out + [target(w) for w in ctx.settings.webhooks if event_name in w.events]


def webhook_for(ctx: Context, name: str) -> Any:
    """The configured webhook behind a target (or named by its URL); None when gone."""
    from cloudlease.notify.webhooks import target

    return next((w for w in ctx.settings.webhooks if name in (target(w), w.url,
                                                              WEBHOOK + w.url)), None)


def _timeout(ctx: Context, target: str) -> float:
    hook = webhook_for(ctx, target) if target.startswith(WEBHOOK) else None
    return clock.seconds(hook.timeout) if hook is not None else ctx.settings.hook_timeout


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


def _deliver_one(ctx: Context, d: Delivery, event: Event | None) -> hooks.Outcome:
    if event is None:
        return hooks.Outcome(d.event, True)
    if d.target.startswith(WEBHOOK):
        hook = webhook_for(ctx, d.target)
        if hook is None:
            return hooks.Outcome(d.event, True)  # webhook removed from config: nothing to do
        from cloudlease.notify import webhooks

        return webhooks.deliver(hook, event.body)
    command = ctx.settings.hooks.get(event.name)
    if command is None:
        return hooks.Outcome(d.event, True)  # hook removed from config: nothing to do
    return hooks.run(command, event.body, str(ctx.home.path), ctx.settings.hook_timeout)


def listing(ctx: Context, *, failed: bool = False, limit: int = 20) -> list[dict[str, Any]]:
    """Deliveries as ``hooks list`` shows them, oldest first: with ``failed``, those whose
    last attempt failed (retrying or given up); otherwise every one not yet delivered,
    after the ``limit`` latest delivered ones."""
    ledger = ctx.read()
    if failed:
        rows = ledger.deliveries.failing()
    else:
        rows = ledger.deliveries.undelivered()
        if limit:
            done = ledger.deliveries.latest_delivered(limit)
            rows = sorted(done, key=lambda d: (d.created_at, d.id)) + rows
    events = ledger.events.many(d.event for d in rows)
    return [_shown(d, events.get(d.event)) for d in rows]


def _shown(d: Delivery, event: Event | None) -> dict[str, Any]:
    webhook = d.target.startswith(WEBHOOK)
    return {"id": d.id, "event": d.event, "name": event.name if event else None,
            "subject": event.subject if event else None,
            "kind": "webhook" if webhook else "hook",
            "target": d.target.removeprefix(WEBHOOK) if webhook else "hook",
            "status": d.status, "attempts": d.attempts, "created_at": d.created_at,
            "next_attempt_at": d.next_attempt_at, "delivered_at": d.delivered_at,
            "last_error": d.last_error}


def redeliver(ctx: Context, event_id: str, target: str | None = None) -> list[str]:
    """Queue an event again for its receivers (all, or ``target``: ``hook`` or a webhook
    URL), including receivers configured since it happened; returns the delivery ids.
    The caller then runs ``run_pending(..., event=...)`` outside the lock."""
    from cloudlease.core.errors import Conflict, NotFound
    from cloudlease.ledger.session import normalize_id
    from cloudlease.notify import webhooks

    eid = normalize_id(event_id, "E")
    now = clock.now()
    with ctx.transaction(f"hooks redeliver {eid}") as ledger:
        event = ledger.events.get(eid)
        if event is None:
            raise NotFound(f"no event {event_id!r} (see 'cloudlease hooks list')")
        existing = {d.target: d for d in ledger.deliveries.of_event(eid)}
        wanted = set(existing) | set(targets(ctx, event.name))
        if target is not None:
            hook = webhook_for(ctx, target)
            key = "hook" if target == "hook" else (
                webhooks.target(hook) if hook is not None else target)
            if key not in wanted:
                raise NotFound(f"{event.id} has no receiver {target!r} (receivers: "
                               f"{', '.join(sorted(wanted)) or 'none'})")
            wanted = {key}
        live = [t for t in sorted(wanted) if t == "hook" and event.name in ctx.settings.hooks
                or t.startswith(WEBHOOK) and webhook_for(ctx, t) is not None]
        if not live:
            raise Conflict(f"no hook or webhook in config.toml takes {event.name} any more; "
                           "nothing to deliver it to")
        ids = []
        for t in live:
            d = existing.get(t)
            if d is not None and d.claimed_until is not None and d.claimed_until > now \
                    and not holder_dead(d.claimed_by):
                raise Conflict(f"{d.id} is being delivered right now by {d.claimed_by}; "
                               "try again in a moment")
            if d is None:
                d = Delivery(id=f"{eid}/{t}", event=eid, target=t,
                             status=DeliveryStatus.PENDING, created_at=now)
            ledger.deliveries[d.id] = d.replace(status=DeliveryStatus.PENDING,
                                                next_attempt_at=None, claimed_until=None,
                                                claimed_by=None)
            ids.append(d.id)
    return ids


def holder_dead(claimed_by: str | None) -> bool:
    """Whether a claim (``<host> pid <n>``) was made by a process of this host that is no
    longer running: its deliveries are taken over at once, as machines are
    (ops/provisioning.py), not when the claim expires."""
    host, _, pid = (claimed_by or "").partition(" pid ")
    if host != host_name() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def orphaned(ledger: Any, now: Any, event: str | None, limit: int) -> list:
    """Due deliveries still claimed by a runner of this host that died mid-delivery."""
    if limit <= 0:
        return []
    held = ledger.deliveries.claimed_and_due(now, event=event)
    return [d for d in held if holder_dead(d.claimed_by)][:limit]


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def run_pending(ctx: Context, report: Any, *, event: str | None = None) -> None:
    """Deliver what is due (only ``event``'s deliveries, when given); record outcomes in
    ``report.hooks_delivered/hooks_failed``."""
    now = clock.now()
    me = f"{host_name()} pid {os.getpid()}"
    with ctx.transaction("hooks claim") as ledger:
        due = ledger.deliveries.due(now, event=event, limit=BATCH)
        due += orphaned(ledger, now, event, BATCH - len(due))
        if not due:
            return
        events = ledger.events.many(d.event for d in due)
        # run one after another: the claim covers all of them, at their longest
        budget = sum(_timeout(ctx, d.target) for d in due)
        claim_until = now + timedelta(seconds=budget) + CLAIM_MARGIN
        for d in due:
            ledger.deliveries[d.id] = d.replace(claimed_until=claim_until, claimed_by=me)
    outcomes: dict[str, hooks.Outcome] = {}
    for d in due:
        outcomes[d.id] = _deliver_one(ctx, d, events.get(d.event))
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
                report.hooks_delivered.append(
                    f"{name} {d.event}" + (f" to {d.target.removeprefix(WEBHOOK)}"
                                           if d.target.startswith(WEBHOOK) else ""))
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
