"""``verify``: the audit chain, the rows it vouches for, and the ledger's invariants.

Problems are collected as values (as bean-check does) rather than raised one at a time,
so one run names everything that is wrong. A clean run records its checkpoint, so the
next incremental run starts there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from cloudlease import clock
from cloudlease.context import Context
from cloudlease.errors import LedgerError
from cloudlease.invoices import invoice_problems
from cloudlease.ledger import integrity
from cloudlease.ledger.session import Ledger
from cloudlease.model import LeaseStatus, RequestStatus


@dataclass
class Report:
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    audit_entries: int = 0
    checked_from: int = 0
    rows_checked: int = 0
    leases: int = 0
    full: bool = False
    head_hash: str = ""
    engine: str = "sqlite"


def verify(ctx: Context, *, full: bool = False) -> Report:
    report = Report(full=full)
    db = ctx.db()
    report.engine = db.dialect
    found = integrity.check(db, full=full)
    report.problems += found.problems
    report.notes += found.notes
    report.audit_entries = found.audit_entries
    report.checked_from = found.checked_from
    report.rows_checked = found.rows_checked
    report.head_hash = found.head_hash
    try:
        ledger = Ledger(db, writable=False)
    except LedgerError as exc:
        report.problems.append(str(exc))
        report.ok = False
        return report
    try:
        ctx.settings  # noqa: B018 - loading checks config.toml
        if ctx.settings.network != ledger.network:
            report.problems.append(f"config.toml network {ctx.settings.network!r} differs "
                                   f"from the ledger's {ledger.network!r}")
    except LedgerError as exc:
        report.problems.append(str(exc))
    try:
        report.problems += invariants(ledger, report, full)
        report.problems += invoice_problems(ledger.invoices.all(),
                                            {c.kind: c.value for c in ledger.counters.all()})
        report.problems += keystore_problems(ctx, ledger)
    except LedgerError as exc:  # a row that does not even decode
        report.problems.append(str(exc))
    report.ok = not report.problems
    if report.ok and not db.read_only and found.audit_entries:
        with db.write(ctx.lock_timeout):
            integrity.save_checkpoint(db, found.audit_entries, found.head_hash,
                                      clock.now().isoformat())
            db.commit()
    return report


def invariants(ledger: Ledger, report: Report, full: bool = False) -> list[str]:
    problems: list[str] = []
    for kind, table in (("lease", ledger.leases), ("request", ledger.requests),
                        ("contribution", ledger.contributions)):
        counter = ledger.counter(kind)
        count = table.count()
        if kind == "lease":
            report.leases = count
        if count < counter:
            problems.append(f"{counter - count} {kind} record(s) lost: the {kind} counter is "
                            f"{counter} but {count} exist")
        elif count > counter:
            problems.append(f"{kind} counter is {counter} but {count} {kind}s exist")
    open_only = "" if full else "status IN ('awaiting_payment', 'active', 'suspended')"
    leases = ledger.leases.where(open_only)
    reqs = ledger.requests.many(r for lease in leases for r in lease.requests)
    for req in (ledger.requests.where() if full else
                ledger.requests.where("status IN ('new', 'processing')")):
        if req.amount_sats <= 0:
            problems.append(f"request {req.id} has a non-positive amount")
        if req.status == RequestStatus.SETTLED and req.settled_at is None:
            problems.append(f"request {req.id} is settled but has no settled_at")
    plans = {p.name for p in ledger.plans.all()}
    for lease in leases:
        if lease.plan not in plans:
            problems.append(f"lease {lease.id} refers to unknown plan {lease.plan!r}")
        missing = [r for r in lease.requests if r not in reqs]
        if missing:
            problems.append(f"lease {lease.id} refers to unknown request {missing[0]}")
        if lease.status in (LeaseStatus.ACTIVE, LeaseStatus.ENDED):
            paid = sum(reqs[r].hours or 0 for r in lease.requests
                       if r in reqs and reqs[r].status == RequestStatus.SETTLED)
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
    if ctx.settings.wallet_kind != "keys" and not ctx.home.keys.exists():
        return []
    wanted = {r.address for r in ledger.requests.where("wallet = 'keys'")}
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
