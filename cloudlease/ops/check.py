"""Checking payments against the chain, and ``tick``: one idempotent pass for cron.

The chain is asked *outside* the ledger lock (it may be slow), then the answers are
applied under the lock to a freshly loaded ledger, so a concurrent ``rent`` only waits
for the quick part. A backend failure raises before anything is written: nothing is
ever activated, expired or invalidated on uncertain data. Hooks run under the same lock
hold, after the change is saved, so two overlapping ticks never fire an event twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cloudlease import clock, hooks, lifecycle, views
from cloudlease.bitcoin.backends.base import Received
from cloudlease.context import Context
from cloudlease.ledger.state import Ledger, normalize_id
from cloudlease.model import LeaseStatus, PaymentRequest, RequestStatus
from cloudlease.ops import pools

RECHECK_SETTLED = timedelta(hours=6)  # keep watching settled payments this long for reorgs


@dataclass
class Report:
    """What a check or tick did.

    Attributes:
        checked: request ids looked up on the chain.
        transitions: ``{id, from, to}`` for every request or lease that changed status.
        events: hook events raised by this pass.
        hooks_delivered / hooks_failed: hook deliveries (this pass and retries).
        tip_height: the chain height seen.
        backend: backend name.
        statuses: final status of each request asked about (``pay check``).
        held: requests whose chain answer was older than one already applied (unchanged).
        pools: the monitor's decision per pool (``tick``), unknown runways included.
    """

    checked: list[str] = field(default_factory=list)
    transitions: list[dict[str, str]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    hooks_delivered: list[str] = field(default_factory=list)
    hooks_failed: list[dict[str, str]] = field(default_factory=list)
    tip_height: int | None = None
    backend: str = ""
    statuses: dict[str, str] = field(default_factory=dict)
    held: list[str] = field(default_factory=list)
    pools: list[Any] = field(default_factory=list)


def policy(ctx: Context) -> lifecycle.Policy:
    s = ctx.settings
    return lifecycle.Policy(confirmations=s.confirmations,
                            zero_conf_max_sats=s.zero_conf_max_sats,
                            monitoring=timedelta(hours=s.monitoring_hours))


def watched(ledger: Ledger, now: datetime, monitoring: timedelta) -> list[PaymentRequest]:
    """Requests worth asking the chain about."""
    out = []
    for r in ledger.requests.values():
        if r.status in (RequestStatus.NEW, RequestStatus.PROCESSING):
            out.append(r)
        elif r.status == RequestStatus.SETTLED and r.settled_at and \
                now - r.settled_at < RECHECK_SETTLED:
            out.append(r)
        elif r.status == RequestStatus.EXPIRED and now - r.expires_at < monitoring:
            out.append(r)  # to notice late payments
    return out


def check(ctx: Context, ids: list[str] | None = None, *, tick: bool = False,
          backend: Any = None) -> Report:
    from cloudlease.bitcoin.backends import make_backend

    now = clock.now()
    pol = policy(ctx)
    ledger = ctx.read()
    if ids:
        wanted = [ledger.request(i) for i in ids]  # NotFound for unknown ids
    else:
        wanted = watched(ledger, now, pol.monitoring)
    report = Report()
    received: dict[str, list[Received]] = {}
    obs: lifecycle.Observation | None = None
    if wanted:  # nothing open: no need to ask the chain (a tick still runs the monitor)
        backend = backend or make_backend(ctx.settings, ctx.home)
        report.backend = backend.name
        try:
            # each address with the time a payment to it can first have been made; the tip
            # is read before the outputs, so the answer is never older than its label
            since = {r.address: r.created_at for r in wanted}
            backend.watch(since)
            tip = backend.tip()
            orphaned = backend.orphaned({r.observed_hash for r in wanted if r.observed_hash})
            received = backend.received(since)
        finally:
            close = getattr(backend, "close", None)
            if close is not None:
                close()
        obs = lifecycle.Observation(tip.height, now, tip.hash, frozenset(orphaned))
    report.tip_height = obs.height if obs is not None else None
    report.checked = [r.id for r in wanted]
    with ctx.locked():
        with ctx.transaction("tick" if tick else "pay check") as ledger:
            events: list[lifecycle.Event] = []
            for r in wanted:
                if r.id in ledger.requests and obs is not None:
                    _apply(ledger, ledger.requests[r.id], received.get(r.address, []), obs,
                           now, pol, report, events)
            if tick:
                _end_leases(ledger, now, report, events)
                events += pools.monitor(ctx, ledger, now, report.pools)
            _enqueue(ctx, ledger, events, now)
            report.events = [f"{e.name} {e.subject}" for e in events]
            report.statuses = {r.id: ledger.requests[r.id].status.value
                               for r in wanted if r.id in ledger.requests}
            pending = bool(ledger.hooks_pending)
        if pending:
            _deliver(ctx, report)
    return report


def _apply(ledger: Ledger, before: PaymentRequest, outputs: list[Received],
           obs: lifecycle.Observation, now: datetime, pol: lifecycle.Policy, report: Report,
           events: list[lifecycle.Event]) -> None:
    if lifecycle.order(before, obs) is lifecycle.Order.STALE:
        report.held.append(before.id)  # an answer older than one already applied
    after, evs = lifecycle.evaluate(before, outputs, obs, now, pol)
    events += evs
    if after == before:
        return
    lease = ledger.leases.get(after.lease or "")
    new_lease = lease
    if lease is not None:  # the lease first: it may flag the request (unhonoured)
        reopen = lease.status not in (LeaseStatus.ENDED, LeaseStatus.EXPIRED) or \
            pools.can_reopen(ledger, lease, now)  # (counting slots only when it matters)
        new_lease, after, evs = lifecycle.apply_request(lease, before, after, now,
                                                        can_reopen=reopen)
        events += evs
    ledger.requests[after.id] = after
    if after.status != before.status:
        report.transitions.append({"id": after.id, "from": before.status.value,
                                   "to": after.status.value})
        pools.on_request_change(ledger, before, after, now)
    if lease is not None and new_lease is not None and new_lease != lease:
        ledger.leases[lease.id] = new_lease
        if new_lease.status != lease.status:
            report.transitions.append({"id": lease.id, "from": lease.status.value,
                                       "to": new_lease.status.value})


def _end_leases(ledger: Ledger, now: datetime, report: Report,
                events: list[lifecycle.Event]) -> None:
    for lease in list(ledger.leases.values()):
        pending = any(ledger.requests[r].status == RequestStatus.PROCESSING
                      for r in lease.requests if r in ledger.requests)
        new, evs = lifecycle.end_if_due(lease, now, pending)
        if new != lease:
            ledger.leases[lease.id] = new
            events += evs
            report.transitions.append({"id": lease.id, "from": lease.status.value,
                                       "to": new.status.value})


def _enqueue(ctx: Context, ledger: Ledger, events: list[lifecycle.Event], now: datetime
             ) -> None:
    """Queue events that have a hook; the queue is saved with the change that caused it."""
    configured = ctx.settings.hooks
    for e in events:
        if e.name not in configured:
            continue
        seq = ledger.counters.get("event", 0) + 1
        ledger.counters["event"] = seq
        body: dict[str, Any] = {"event": e.name, "id": f"E-{seq}", "at": now,
                                "network": ledger.network, **e.data}
        if e.subject.startswith("L-") and e.subject in ledger.leases:
            lease = ledger.leases[e.subject]
            body["lease_id"], body["tenant"] = lease.id, lease.tenant
            body["lease"] = views.lease(lease)
        elif e.subject.startswith("pool:"):
            body["pool"] = e.subject.removeprefix("pool:")
        elif e.subject in ledger.requests:
            req = ledger.requests[e.subject]
            body["request_id"], body["lease_id"] = req.id, req.lease
            body["request"] = views.request(req)
        ledger.hooks_pending.append({"event": _no_nulls(views.jsonable(body)), "attempts": 0})


def _no_nulls(value: Any) -> Any:
    """TOML has no null: drop None values (hooks treat a missing key as null)."""
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value if v is not None]
    return value


def _deliver(ctx: Context, report: Report) -> None:
    """Run queued hooks (the lock is held) and record what happened."""
    ledger = ctx.read()
    configured = ctx.settings.hooks
    outcomes: dict[str, hooks.Outcome] = {}
    for item in ledger.hooks_pending:
        event = item["event"]
        command = configured.get(event["event"])
        if command is None:
            outcomes[event["id"]] = hooks.Outcome(event["id"], True)  # hook removed: drop
            continue
        outcomes[event["id"]] = hooks.run(command, event, str(ctx.home.path),
                                          ctx.settings.hook_timeout)
    with ctx.transaction("hooks") as ledger:
        keep = []
        for item in ledger.hooks_pending:
            out = outcomes.get(item["event"]["id"])
            if out is None:
                keep.append(item)
            elif out.ok:
                report.hooks_delivered.append(f"{item['event']['event']} {item['event']['id']}")
            else:
                attempts = int(item.get("attempts", 0)) + 1
                report.hooks_failed.append({"event": item["event"]["event"],
                                            "id": item["event"]["id"],
                                            "error": out.error or ""})
                if attempts < hooks.MAX_ATTEMPTS:
                    keep.append({**item, "attempts": attempts, "last_error": out.error or ""})
        ledger.hooks_pending = keep


def expect_settled(ctx: Context, ids: list[str], report: Report) -> int:
    """Exit code for ``pay check``: 0 all settled, 8 any expired/invalid, 7 pending."""
    statuses = [report.statuses.get(normalize_id(i, "P")) for i in ids] if ids else \
        list(report.statuses.values())
    if any(s in ("expired", "invalid") for s in statuses):
        return 8
    if all(s == "settled" for s in statuses):
        return 0
    return 7
