"""``verify``: the audit chain, the rows it vouches for, and the ledger's invariants.

Problems are collected as values (as bean-check does) rather than raised one at a time,
so one run names everything that is wrong. A clean run records its checkpoint, so the
next incremental run starts there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cloudlease.core import clock
from cloudlease.core.errors import LedgerError
from cloudlease.core.invoices import invoice_problems
from cloudlease.ledger import integrity, tools
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
    problems += tools.invariant_problems(ledger.db, full=full)
    return problems[:50]


def keystore_problems(ctx: Context, ledger: Ledger) -> list[str]:
    """Every keys-wallet address in the ledger has its key, and every key pays its address."""
    if ctx.settings.wallet_kind != "keys" and not ctx.home.keys.exists():
        return []
    wanted = {r.address for r in ledger.requests.of_keys_wallet()}
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
