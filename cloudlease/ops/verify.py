"""``verify``: the audit chain, the sealed archive and the ledger's invariants.

Problems are collected as values (as bean-check does) rather than raised one at a time,
so one run names everything that is wrong.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta

from cloudlease.context import Context
from cloudlease.errors import LedgerError
from cloudlease.invoices import invoice_problems
from cloudlease.ledger import archive, audit, store
from cloudlease.ledger.state import Ledger, loads
from cloudlease.model import LeaseStatus, RequestStatus, record_number


@dataclass
class Report:
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    audit_entries: int = 0
    leases: int = 0
    archived_leases: int = 0
    archive_segments: int = 0


def verify(ctx: Context, *, deep: bool = False) -> Report:
    report = Report()
    with store.lock(ctx.home, ctx.lock_timeout):
        data = store.read_bytes(ctx.home)
        try:
            ledger = loads(data, str(ctx.home.ledger))
        except LedgerError as exc:
            report.problems.append(str(exc))
            report.ok = False
            return report
        chain = audit.check_chain(ctx.home.audit, ledger.audit_seq,
                                  hashlib.sha256(data).hexdigest())
        report.audit_entries = chain.entries
        report.problems += chain.problems
        report.notes += chain.notes
        try:
            ctx.settings  # noqa: B018 - loading checks config.toml
            if ctx.settings.network != ledger.network:
                report.problems.append(f"config.toml network {ctx.settings.network!r} differs "
                                       f"from the ledger's {ledger.network!r}")
        except LedgerError as exc:
            report.problems.append(str(exc))
        report.problems += invariants(ctx, ledger, report, deep)
        report.problems += invoice_problems(ledger)
        report.problems += keystore_problems(ctx, ledger)
    report.ok = not report.problems
    return report


def invariants(ctx: Context, ledger: Ledger, report: Report, deep: bool = False
               ) -> list[str]:
    problems: list[str] = []
    sealed = archive.scan(ctx.home, ledger, deep=deep)
    problems += sealed.problems
    sealed_ids = {f"L-{n}" for n in sealed.lease_numbers}
    sealed_requests = {f"P-{n}" for n in sealed.request_numbers}
    report.archive_segments = len(ledger.archives)
    report.archived_leases = sealed.leases
    report.leases = sealed.leases + len(ledger.leases)
    for kind, hot, numbers in (("lease", set(ledger.leases), sealed.lease_numbers),
                               ("request", set(ledger.requests), sealed.request_numbers)):
        hot_numbers = {record_number(i) for i in hot}
        both = hot_numbers & numbers
        if both:
            problems.append(f"{kind} #{min(both)} is both in the ledger and sealed")
        counter = ledger.counters.get(kind, 0)
        present = hot_numbers | numbers
        if present and max(present) > counter:
            problems.append(f"{kind} counter is {counter} but {kind} {max(present)} exists")
        if not sealed.problems:
            missing = sorted(set(range(1, counter + 1)) - present)
            if missing:
                problems.append(f"{len(missing)} {kind} record(s) lost, e.g. #{missing[0]}")
    seen_addresses: dict[str, str] = {}
    for req in ledger.requests.values():
        other = seen_addresses.setdefault(req.address, req.id)
        if other != req.id:
            problems.append(f"address {req.address} is used by both {other} and {req.id}")
        if req.amount_sats <= 0:
            problems.append(f"request {req.id} has a non-positive amount")
        if req.status == RequestStatus.SETTLED and req.settled_at is None:
            problems.append(f"request {req.id} is settled but has no settled_at")
        if req.lease and req.lease not in ledger.leases and req.lease not in sealed_ids:
            problems.append(f"request {req.id} refers to unknown lease {req.lease}")
    for lease in ledger.leases.values():
        if lease.plan not in ledger.plans:
            problems.append(f"lease {lease.id} refers to unknown plan {lease.plan!r}")
        if lease.tenant is not None and lease.tenant not in ledger.tenants:
            problems.append(f"lease {lease.id} refers to unknown tenant {lease.tenant!r}")
        for rid in lease.requests:
            if rid not in ledger.requests and rid not in sealed_requests:
                problems.append(f"lease {lease.id} refers to unknown request {rid}")
        if lease.status in (LeaseStatus.ACTIVE, LeaseStatus.ENDED):
            paid = sum(ledger.requests[r].hours or 0 for r in lease.requests
                       if r in ledger.requests
                       and ledger.requests[r].status == RequestStatus.SETTLED)
            if paid < lease.paid_hours or lease.paid_hours < lease.hours:
                problems.append(f"lease {lease.id} is {lease.status.value} without settled "
                                f"payments covering its {lease.paid_hours} hours")
        if lease.status in (LeaseStatus.ACTIVE, LeaseStatus.SUSPENDED, LeaseStatus.ENDED):
            if lease.starts_at is None or lease.ends_at is None:
                problems.append(f"lease {lease.id} is {lease.status.value} without start/end")
            elif lease.ends_at != lease.starts_at + timedelta(hours=lease.paid_hours):
                problems.append(f"lease {lease.id} ends_at does not match its paid hours")
    return problems


def keystore_problems(ctx: Context, ledger: Ledger) -> list[str]:
    """Every keys-wallet address in the ledger has its key, and every key pays its address."""
    wanted = {r.address for r in ledger.requests.values() if r.wallet == "keys"}
    if not wanted and not ctx.home.keys.exists():
        return []
    from cloudlease.bitcoin.keystore import KeyStore

    try:
        store = KeyStore(ctx.home.keys).load()
    except LedgerError as exc:
        return [str(exc)]
    problems = [f"keys.toml: {p}" for p in store.verify()]
    missing = sorted(a for a in wanted if a not in store)
    if missing:
        problems.append(f"{len(missing)} address(es) have no private key in keys.toml, "
                        f"e.g. {missing[0]}: payments to them cannot be swept")
    return problems
