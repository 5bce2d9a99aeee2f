"""Checking payments against the chain, and ``tick``: one idempotent pass for cron.

The chain and the Lightning node (one ``statuses()`` call for every watched invoice) are
asked *outside* the ledger lock (they may be slow), then the answers are applied in one
write transaction to freshly loaded records, so a concurrent ``rent`` only waits for the
quick part. A backend failure raises before anything is written: nothing is ever
activated, expired or invalidated on uncertain data. A paid invoice settles its request
in the same pass (``lightning/settle.py``); the invoices of requests settled another way
are cancelled after the commit where the node can. Hooks and webhooks run after the
change is committed, outside the lock (``deliver.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from cloudlease.core import clock, lifecycle
from cloudlease.core import lnsettle as settle
from cloudlease.ledger.session import Ledger, normalize_id
from cloudlease.model import LeaseStatus, Payment, PaymentRequest, PaymentStatus, RequestStatus
from cloudlease.model.chain import Received
from cloudlease.ops import deliver, lnrequests, pools, prorating
from cloudlease.ops.context import Context

RECHECK_SETTLED = timedelta(hours=6)  # keep watching settled payments this long for reorgs


@dataclass
class PassReport:
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
        machines: ``{lease, action, state, error}`` for every machine driven this pass.
        leases_changed: leases whose record changed (activated, extended...), so ``pay
            check`` provisions just those.
        lightning: the Lightning node asked in this pass ("" when none was).
        refunds: ``{id, sats}`` for requests flagged ``refund_due`` in this pass.
        ln_cancelled: requests whose invoice was cancelled (settled another way).
        notes: things the operator should know (e.g. invoices no node here can check).
        partial: requests left partly paid: ``{id, paid_sats, amount_sats, due_sats,
            changed}`` (``changed``: more money was seen in this pass).
        at: when the pass ran (UTC).
        requests: the requests asked about, as the pass left them (not for JSON).
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
    machines: list[dict[str, Any]] = field(default_factory=list)
    leases_changed: set[str] = field(default_factory=set)
    lightning: str = ""
    refunds: list[dict[str, Any]] = field(default_factory=list)
    ln_cancelled: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    partial: list[dict[str, Any]] = field(default_factory=list)
    at: datetime | None = None
    requests: dict[str, PaymentRequest] = field(default_factory=dict)


def policy(ctx: Context) -> lifecycle.Policy:
    s = ctx.settings
    return lifecycle.Policy(confirmations=s.confirmations,
                            zero_conf_max_sats=s.zero_conf_max_sats,
                            monitoring=timedelta(hours=s.monitoring_hours))


def watched(ledger: Ledger, now: datetime, monitoring: timedelta) -> list[PaymentRequest]:
    """Requests worth asking the chain about: open ones, settled ones still young enough to
    be reorged, and expired or invalid ones that may yet receive money (to flag it)."""
    return ledger.requests.watched(now - RECHECK_SETTLED, now - monitoring)


@dataclass
class _Answers:
    """What the chain and the Lightning node said in this pass (asked outside the lock).

    Attributes:
        received: outputs seen paying each address.
        obs: the chain's tip and what it orphaned; None when the chain was not asked
            (nothing on-chain to watch).
        ln: invoice statuses by payment hash.
        node: the Lightning node asked (None when none was).
    """

    received: dict[str, list[Received]] = field(default_factory=dict)
    obs: lifecycle.Observation | None = None
    ln: dict[str, Any] = field(default_factory=dict)
    node: Any = None


def check(ctx: Context, ids: list[str] | None = None, *, tick: bool = False,
          backend: Any = None, ln_node: Any = None, open_only: bool = False) -> PassReport:
    """One pass over the requests ``ids`` (``pay check``), else (``open_only``: ``pay
    check`` without ids) the open requests, else (``tick``, which also ends leases, runs
    the pool monitor and drives machines) every watched one: ask the chain and the node,
    apply their answers in one write, then (outside the lock) cancel invoices no longer
    needed, drive machines and deliver hooks and webhooks."""
    now = clock.now()
    pol = policy(ctx)
    report = PassReport(at=now)
    wanted, ln_ask, left = _select(ctx, ids, now, pol, report, open_only=open_only)
    pro = prorating.prepare(ctx, wanted, now)  # a rate for late fiat payments: before the lock
    report.notes += pro.notes
    own = None
    try:
        answers = _ask_chain(ctx, wanted, now, backend, report)
        if ln_ask:  # one call for every watched invoice, after the chain: the fresher answer
            answers.node = ln_node or (own := lnrequests.node(ctx))
            report.lightning = answers.node.name
            answers.ln = lnrequests.statuses(answers.node, ln_ask)
        report.tip_height = answers.obs.height if answers.obs is not None else None
        report.checked = [r.id for r in wanted]
        cancel = _write(ctx, wanted, answers, now, pol, report, tick=tick, left=left,
                        pro=pro)
        if cancel and answers.node is not None:
            report.ln_cancelled = lnrequests.cancel_unneeded(answers.node, cancel)
    finally:
        if own is not None:
            own.close()
    if tick:  # NWC auto-renewal: after the commit, outside the lock (ops/renewals.py)
        _renew(ctx, report)
    if tick or report.leases_changed:  # machines: after the commit, outside the lock
        from cloudlease.ops import provisioning

        provisioning.run(ctx, report, only=None if tick else report.leases_changed)
    if tick or report.events:
        deliver.run_pending(ctx, report)
    return report


def _renew(ctx: Context, report: PassReport) -> None:
    """Ask the wallets of leases about to end to pay their next period (NWC), each
    settled invoice checked at once like ``pay check`` would."""
    from cloudlease.ops import renewals

    def check_one(rid: str) -> str | None:
        return check(ctx, [rid]).statuses.get(rid)

    report.notes += renewals.describe(renewals.run(ctx, check_one))


def tick(ctx: Context, **kw: Any) -> PassReport:
    """``cloudlease tick``: ``check`` every watched request, end leases, run the pool
    monitor, drive machines, deliver hooks and webhooks (``kw``: ``backend``, ``ln_node``)."""
    return check(ctx, tick=True, **kw)


def _select(ctx: Context, ids: list[str] | None, now: datetime, pol: lifecycle.Policy,
            report: PassReport, *, open_only: bool = False
            ) -> tuple[list[PaymentRequest], list[PaymentRequest], dict[str, str]]:
    """The requests this pass is about, those whose invoice the node is asked about, and
    (id → status) the open ones with an invoice no node here can check: left as they are."""
    ledger = ctx.read()
    if ids:
        wanted = [ledger.request(i) for i in ids]  # NotFound for unknown ids
    elif open_only:
        wanted = ledger.requests.open()
    else:
        wanted = watched(ledger, now, pol.monitoring)
    ln_ask = lnrequests.to_ask(wanted, now, explicit=bool(ids))
    left: dict[str, str] = {}
    if ln_ask and not ctx.settings.lightning.enabled:
        left = {r.id: r.status.value for r in ln_ask if r.status in lnrequests.OPEN_STATUSES}
        if left:
            report.notes.append(f"{len(left)} open request(s) carry a Lightning invoice, but "
                                "no [lightning] backend is configured here: left as they are "
                                f"(e.g. {min(left)})")
        wanted = [r for r in wanted if r.id not in left]
        ln_ask = []
    return wanted, ln_ask, left


def _ask_chain(ctx: Context, wanted: list[PaymentRequest], now: datetime, backend: Any,
               report: PassReport) -> _Answers:
    """The chain's answer for every address ``wanted`` (none asked when nothing is
    on-chain to watch)."""
    onchain = [r for r in wanted if r.address]
    if not onchain:
        return _Answers()
    from cloudlease.bitcoin.backends import make_backend

    backend = backend or make_backend(ctx.settings, ctx.home)
    report.backend = backend.name
    try:
        # each address with the time a payment to it can first have been made; the tip
        # is read before the outputs, so the answer is never older than its label
        since = {r.address: r.created_at for r in onchain}
        backend.watch(since)
        tip = backend.tip()
        orphaned = backend.orphaned({r.observed_hash for r in onchain if r.observed_hash})
        received = backend.received(since)
    finally:
        close = getattr(backend, "close", None)
        if close is not None:
            close()
    return _Answers(received, lifecycle.Observation(tip.height, now, tip.hash,
                                                    frozenset(orphaned)))


def _write(ctx: Context, wanted: list[PaymentRequest], answers: _Answers, now: datetime,
           pol: lifecycle.Policy, report: PassReport, *, tick: bool,
           left: dict[str, str], pro: prorating.Pass | None = None) -> list[PaymentRequest]:
    """Apply the answers to freshly loaded records in one write transaction (and, for a
    tick, end leases and run the pool monitor); queue the events. Returns the requests
    settled on-chain whose invoice is no longer needed."""
    quiet = {r.id: r.status.value for r in wanted if _quiet(r, answers.ln, now)}
    with ctx.transaction("tick" if tick else "pay check") as ledger:
        events: list[lifecycle.Event] = []
        fresh = ledger.requests.many(r.id for r in wanted if r.id not in quiet)
        if answers.obs is not None:
            _record_payments(ledger, {k: v for k, v in fresh.items() if v.address},
                             answers.received, answers.obs, now)
        cancel = _apply_each(ledger, wanted, fresh, answers, now, pol, report, events, pro)
        if tick:
            _end_leases(ledger, now, report, events)
            events += pools.monitor(ctx, ledger, now, report.pools)
        deliver.enqueue(ctx, ledger, events, now)
        _fill(report, ledger, wanted, fresh, quiet, left, events)
    return cancel


def _apply_each(ledger: Ledger, wanted: list[PaymentRequest], fresh: dict[str, PaymentRequest],
                answers: _Answers, now: datetime, pol: lifecycle.Policy, report: PassReport,
                events: list[lifecycle.Event], pro: prorating.Pass | None = None
                ) -> list[PaymentRequest]:
    """``_apply`` the answers to each loaded request; returns those settled on-chain while
    their invoice is still open (not needed any more)."""
    cancel: list[PaymentRequest] = []
    for r in wanted:
        if r.id not in fresh or (r.address and answers.obs is None):
            continue
        status = answers.ln.get(r.ln_payment_hash) if r.ln_payment_hash else None
        outputs = answers.received.get(r.address, []) if r.address else []
        _apply(ledger, fresh[r.id], outputs, answers.obs if r.address else 0, now, pol,
               report, events, status, pro)
        after = ledger.requests[r.id]
        if status is not None and status.state == "open" and \
                after.status == RequestStatus.SETTLED and not after.ln_paid_msat:
            cancel.append(after)  # paid on-chain: the invoice is not needed
    return cancel


def _fill(report: PassReport, ledger: Ledger, wanted: list[PaymentRequest],
          fresh: dict[str, PaymentRequest], quiet: dict[str, str], left: dict[str, str],
          events: list[lifecycle.Event]) -> None:
    """What the pass left: events, each request's status, the requests themselves, and
    those left partly paid."""
    report.events = [f"{e.name} {e.subject}" for e in events]
    shown = [r for r in wanted if r.id in fresh or r.id in quiet]
    report.statuses = {r.id: ledger.requests[r.id].status.value if r.id in fresh
                       else quiet[r.id] for r in shown} | left
    report.requests = {r.id: ledger.requests[r.id] if r.id in fresh else r for r in shown}
    report.partial = [
        {"id": k, "paid_sats": r.received_sats, "amount_sats": r.amount_sats,
         "due_sats": r.due_sats,
         "changed": k in fresh and r.received_sats != fresh[k].received_sats}
        for k, r in report.requests.items()
        if r.status == RequestStatus.NEW and 0 < r.received_sats < r.amount_sats]


def _quiet(r: PaymentRequest, ln: dict[str, Any], now: datetime) -> bool:
    """A request paid over Lightning only that this pass cannot change: its invoice is not
    newly paid and its window is not newly past. The write transaction skips it, so a
    pass over many open invoices loads (and re-checks against the audit chain) only what
    changes."""
    if r.address or not r.ln_payment_hash:
        return False
    status = ln.get(r.ln_payment_hash)
    newly_paid = status is not None and status.state == "paid" and not r.ln_paid_msat
    due = r.status in (RequestStatus.NEW, RequestStatus.PROCESSING) and now > r.expires_at
    return not newly_paid and not due and not settle.paid(r) or \
        settle.paid(r) and r.status == RequestStatus.SETTLED


def _record_payments(ledger: Ledger, requests: dict[str, PaymentRequest],
                     received: dict[str, list[Received]], obs: lifecycle.Observation,
                     now: datetime) -> None:
    """Keep one ``payments`` row per output seen paying a request (``<txid>:<vout>``): in a
    block or in the mempool, or gone (replaced, double-spent, reorged out and not seen
    again). Written only when something changed; a stale answer records nothing."""
    ids = [r.id for r in requests.values() if lifecycle.order(r, obs) is not
           lifecycle.Order.STALE]
    known: dict[str, Payment] = {p.id: p for p in ledger.payments.onchain_of(ids)}
    by_address = {requests[rid].address: rid for rid in ids}
    seen: set[str] = set()
    for address, outputs in received.items():
        rid = by_address.get(address)
        if rid is None:
            continue
        for o in outputs:
            pid = f"{o.txid}:{o.vout}"
            seen.add(pid)
            old = known.get(pid)
            status = PaymentStatus.CONFIRMED if o.height is not None else PaymentStatus.SEEN
            new = Payment(id=pid, request=rid, method="onchain", sats=o.sats, status=status,
                          first_seen_at=old.first_seen_at if old else now, txid=o.txid,
                          vout=o.vout, height=o.height,
                          chain_seen_at=(old.chain_seen_at if old and old.chain_seen_at
                                         else o.first_seen))
            if new != old:
                ledger.payments[pid] = new
    for pid, old in known.items():
        if pid not in seen and old.status != PaymentStatus.GONE:
            ledger.payments[pid] = old.replace(status=PaymentStatus.GONE, height=None)


def _apply(ledger: Ledger, before: PaymentRequest, outputs: list[Received],
           obs: lifecycle.Observation | int, now: datetime, pol: lifecycle.Policy,
           report: PassReport, events: list[lifecycle.Event], ln: Any = None,
           pro: prorating.Pass | None = None) -> None:
    """``obs`` is the chain observation, or 0 for a request paid over Lightning only (no
    address: the chain was not asked about it); ``ln`` its invoice's status this pass."""
    start, payment = settle.record(before, ln, now)
    if payment is not None and payment.id not in ledger.payments:
        ledger.payments[payment.id] = payment  # ln:<payment hash>, with its preimage
    if settle.paid(start):  # settled by Lightning: the chain only adds to it
        after, evs = settle.evaluate(start, outputs if start.address else None, obs, pol), []
    else:
        if isinstance(obs, lifecycle.Observation) and \
                lifecycle.order(before, obs) is lifecycle.Order.STALE:
            report.held.append(before.id)  # an answer older than one already applied
        after, evs = lifecycle.evaluate(start, outputs, obs, now, pol)
    events += evs
    after, lease, credit = _prorate(ledger, pro, before, after, now)
    if after == before or _only_the_look(before, after):
        # nothing but the look itself: not worth a write per open request per pass (a
        # look that matters — one that expires the request — changes it and is recorded)
        return
    old_lease = ledger.leases.get(after.lease) if after.lease else None
    new_lease = lease
    if lease is not None:  # the lease first: it may flag the request (unhonoured)
        reopen = lease.status not in (LeaseStatus.ENDED, LeaseStatus.EXPIRED) or \
            pools.can_reopen(ledger, lease, now)  # (counting slots only when it matters)
        new_lease, after, evs = lifecycle.apply_request(lease, before, after, now,
                                                        can_reopen=reopen)
        events += evs
        new_lease = prorating.keep_credit(ledger, new_lease, credit)
    ledger.requests[after.id] = after
    if settle.newly_refund_due(before, after):
        report.refunds.append({"id": after.id, "sats": after.refund_sats or 0})
        events.append(lifecycle.Event("payment_refund_due", after.id,
                                      {"refund_sats": after.refund_sats or 0}))
    if after.status != before.status:
        report.transitions.append({"id": after.id, "from": before.status.value,
                                   "to": after.status.value})
        pools.on_request_change(ledger, before, after, now)
    if old_lease is not None and new_lease is not None and new_lease != old_lease:
        ledger.leases[old_lease.id] = new_lease
        report.leases_changed.add(old_lease.id)
        if new_lease.status != old_lease.status:
            report.transitions.append({"id": old_lease.id, "from": old_lease.status.value,
                                       "to": new_lease.status.value})


def _prorate(ledger: Ledger, pro: prorating.Pass | None, before: PaymentRequest,
             after: PaymentRequest, now: datetime) -> tuple[PaymentRequest, Any, int | None]:
    """Pay as you go (ops/prorating.py): the request re-quoted or with the minutes it buys
    fixed, its lease (an expired rental brought back), and the payer's new credit."""
    lease = ledger.leases.get(after.lease) if after.lease else None
    if pro is None or lease is None or not prorating.worth(pro, before, after):
        return after, lease, None
    reopen = lease.status != LeaseStatus.EXPIRED or pools.can_reopen(ledger, lease, now)
    after, lease = prorating.requote(ledger, pro, lease, before, after, now, reopen)
    after, credit = prorating.settle(ledger, pro, lease, before, after)
    return after, lease, credit


_LOOK = frozenset({"observed_height", "observed_hash", "observed_at"})


@cache
def _compared() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(PaymentRequest) if f.name not in _LOOK)


def _only_the_look(before: PaymentRequest, after: PaymentRequest) -> bool:
    """Whether ``after`` differs from ``before`` in the observation it records alone."""
    return all(getattr(before, n) == getattr(after, n) for n in _compared())


def _end_leases(ledger: Ledger, now: datetime, report: PassReport,
                events: list[lifecycle.Event]) -> None:
    due = ledger.leases.due_to_end(now)
    if not due:
        return
    reqs = ledger.requests.many(r for lease in due for r in lease.requests)
    for lease in due:
        pending = any(reqs[r].status == RequestStatus.PROCESSING
                      for r in lease.requests if r in reqs)
        new, evs = lifecycle.end_if_due(lease, now, pending)
        if new != lease:
            ledger.leases[lease.id] = new
            events += evs
            report.transitions.append({"id": lease.id, "from": lease.status.value,
                                       "to": new.status.value})


def expect_settled(ctx: Context, ids: list[str], report: PassReport) -> int:
    """Exit code for ``pay check``: 0 all settled, 8 any expired/invalid, 7 pending."""
    statuses = [report.statuses.get(normalize_id(i, "P")) for i in ids] if ids else \
        list(report.statuses.values())
    if any(s in ("expired", "invalid") for s in statuses):
        return 8
    if all(s == "settled" for s in statuses):
        return 0
    return 7
