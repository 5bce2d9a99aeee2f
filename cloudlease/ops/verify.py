"""``verify``: the audit chain, the rows it vouches for, and the ledger's invariants.

Problems are collected as values (as bean-check does) rather than raised one at a time,
so one run names everything that is wrong. A clean run records its checkpoint, so the
next incremental run starts there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cloudlease.core import clock
from cloudlease.core.errors import LedgerError
from cloudlease.core.invoices import invoice_problems
from cloudlease.ledger import integrity
from cloudlease.ledger.session import Ledger
from cloudlease.ops.context import Context


@dataclass
class VerifyReport:
    """What ``cloudlease verify`` found, and how much of the ledger it looked at."""

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


def verify(ctx: Context, *, full: bool = False) -> VerifyReport:
    report = VerifyReport(full=full)
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


def invariants(ledger: Ledger, report: VerifyReport, full: bool = False) -> list[str]:
    """The ledger's rules, checked in the database (no record is built): over open leases
    and requests, or over all history with ``full``."""
    problems: list[str] = []
    db = ledger.db
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
    leases = "" if full else " AND l.status IN ('awaiting_payment', 'active', 'suspended')"
    reqs = "" if full else " AND status IN ('new', 'processing')"
    checks = [
        (f"SELECT id FROM payment_requests WHERE amount_sats <= 0{reqs}",
         "request {} has a non-positive amount"),
        (f"SELECT id FROM payment_requests WHERE status = 'settled' AND settled_at IS NULL"
         f"{reqs}", "request {} is settled but has no settled_at"),
        (f"SELECT l.id, l.plan FROM leases l WHERE l.plan NOT IN (SELECT name FROM plans)"
         f"{leases}", "lease {} refers to unknown plan {!r}"),
        (f"SELECT l.id FROM leases l WHERE NOT EXISTS (SELECT 1 FROM payment_requests r "
         f"WHERE r.lease = l.id){leases}", "lease {} has no payment request"),
        (f"SELECT l.id, l.status, {_MINUTES} FROM leases l WHERE l.status IN ('active', "
         f"'ended') AND ({_MINUTES} <= 0 OR {_MINUTES} > (SELECT COALESCE(SUM("
         f"COALESCE(r.minutes, r.hours * 60)), 0) FROM payment_requests r WHERE r.lease = "
         f"l.id AND r.status = 'settled')){leases}",
         "lease {} is {} without settled payments covering its {} minutes"),
    ]
    for sql, text in checks:
        for row in db.query(sql + " LIMIT 20"):
            problems.append(text.format(*row))
    rows = db.query(f"SELECT l.id, l.status, l.starts_at, l.ends_at, {_MINUTES} FROM leases l "
                    f"WHERE l.status IN ('active', 'suspended', 'ended'){leases}")
    for lid, status, starts, ends, minutes in rows:
        if starts is None or ends is None:
            problems.append(f"lease {lid} is {status} without start/end")
        elif datetime.fromisoformat(ends) != datetime.fromisoformat(starts) + \
                timedelta(minutes=minutes):
            problems.append(f"lease {lid} ends_at does not match its paid minutes")
    return problems[:50]


_MINUTES = "COALESCE(l.paid_minutes, l.paid_hours * 60)"  # leases before schema 3: hours


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
