"""Migrating a home from the first ledger format (TOML + audit.log + archive/) to SQL.

1. The old ledger is verified first: its audit chain, every sealed segment (parsed), its
   records. A ledger that fails is refused unless ``--force``, and then the new chain's
   first entry says what was wrong.
2. Every record (hot and sealed) is copied into a new database built beside the home and
   renamed to ``ledger.db`` only once it is complete and committed.
3. The old files move to ``legacy-toml-<date>/`` (never deleted), and stderr says so once.

A crash before 2 completes leaves the old files as they were (the next run starts over);
a crash between 2 and 3 is finished by the next run, which recognises its own migration
by the SHA-256 of ``ledger.toml`` recorded in the new ledger.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cloudlease.core import clock
from cloudlease.core.errors import LedgerError
from cloudlease.files.fsio import FileLock, fsync_dir

if TYPE_CHECKING:
    from cloudlease.files.home import Home


class Context(Protocol):
    """What a migration needs of the caller (``ops.context.Context`` has it)."""

    home: Home
    lock_timeout: float

    @property
    def settings(self) -> Any: ...


_OLD_FILES = ("ledger.toml", "audit.log", "archive")


@dataclass
class Migration:
    """What a migration found and did."""

    source: str
    leases: int = 0
    requests: int = 0
    records: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    moved_to: str | None = None
    done: bool = False


def migrate(ctx: Context, *, force: bool = False, check_only: bool = False,
            quiet: bool = False) -> Migration:
    home = ctx.home
    with FileLock(home.lock, ctx.lock_timeout):
        if home.db.exists():
            return _finish(ctx, quiet)
        from cloudlease.ledger.legacy.store import check

        report = check(home.path)
        old = report.ledger
        result = Migration(str(home.legacy_ledger), problems=list(report.problems),
                           notes=list(report.notes))
        if result.problems and not force:
            raise LedgerError(
                f"ledger.toml failed verification ({result.problems[0]}"
                + (f"; and {len(result.problems) - 1} more" if len(result.problems) > 1
                   else "")
                + "): it was not migrated. Restore it from a backup, or run 'cloudlease "
                "ledger migrate --force' to migrate it anyway (recorded in the new audit "
                "chain)", code="ledger_invalid")
        records, counts = _records(ctx, report, trust=force)
        result.leases, result.requests, result.records = counts["leases"], \
            counts["requests"], len(records)
        if check_only:
            return result
        digest = hashlib.sha256(report.data).hexdigest()
        wallet = _wallet(ctx)
        from cloudlease.ledger import store

        meta = store.new_meta(old.network, old.currency, old.created_at, wallet=wallet,
                              migrated_from=f"ledger.toml sha256 {digest}, audit entry "
                              f"{old.audit_seq} {report.head_hash}")
        if result.problems:
            meta["migrated_despite"] = "; ".join(result.problems)[:2000]
        action = f"migrate from ledger.toml (audit entry {old.audit_seq})" + (
            " --force despite: " + "; ".join(result.problems) if result.problems else "")
        _build(ctx, meta, records, action)
        result.moved_to = _move_old(home.path)
        result.done = True
    if not quiet:
        sys.stderr.write(f"note: migrated {home.legacy_ledger.name} ({result.leases} leases, "
                         f"{result.requests} payment requests) to ledger.db; the old files "
                         f"are in {result.moved_to}/\n")
    return result


def _finish(ctx: Context, quiet: bool) -> Migration:
    """ledger.db exists: if it is our migration of the ledger.toml still here, move the
    old files (a crash came between the two steps); otherwise refuse to guess."""
    home = ctx.home
    result = Migration(str(home.legacy_ledger))
    if not home.legacy_ledger.exists():
        return result
    from cloudlease.ledger.db import open_sqlite

    digest = hashlib.sha256(home.legacy_ledger.read_bytes()).hexdigest()
    db = open_sqlite(home.db, lock_timeout=ctx.lock_timeout)
    try:
        row = db.one("SELECT value FROM meta WHERE key = 'migrated_from'")
    finally:
        db.close()
    if not row or f"sha256 {digest}" not in row[0]:
        raise LedgerError(f"{home.path} holds both ledger.toml and ledger.db, and ledger.db "
                          "is not a migration of that ledger.toml; move one of them aside",
                          code="ledger_invalid")
    result.moved_to = _move_old(home.path)
    result.done = True
    if not quiet:
        sys.stderr.write(f"note: finished migrating ledger.toml; the old files are in "
                         f"{result.moved_to}/\n")
    return result


def _wallet(ctx: Context) -> str:
    s = ctx.settings
    return f"descriptor:{s.descriptor}" if s.wallet_kind == "descriptor" else "keys"


def _records(ctx: Context, report: Any, *, trust: bool = False
             ) -> tuple[list[Any], dict[str, int]]:
    """Every record of the old ledger, sealed history included, as new-format records
    (``trust``: read segments whose hash differs, for ``--force``)."""
    from cloudlease.ledger.legacy import archive
    from cloudlease.ledger.legacy.store import LegacyHome
    from cloudlease.model import Counter, Delivery, DeliveryStatus, Event

    old = report.ledger
    legacy = LegacyHome(ctx.home.path)
    leases = dict(old.leases)
    requests = dict(old.requests)
    from cloudlease.model import Lease, PaymentRequest

    for number in sorted(old.archives, key=int):
        seg = archive.load_segment(legacy, number, old.archives[number], check=not trust)
        for lid, data in seg.get("leases", {}).items():
            leases.setdefault(lid, Lease.from_json(data, f"archive {number}: leases.{lid}"))
        for rid, data in seg.get("requests", {}).items():
            requests.setdefault(rid, PaymentRequest.from_json(
                data, f"archive {number}: requests.{rid}"))
    records: list[Any] = []
    records += old.tenants.values()
    records += old.plans.values()
    from cloudlease.core.running import carried_over

    used = {x.pool for x in (*leases.values(), *old.contributions.values()) if x.pool}
    records += [carried_over(p, p.name in used) for p in old.pools.values()]
    records += leases.values()
    records += requests.values()
    records += old.contributions.values()
    records += old.payouts.values()
    records += old.invoices.values()
    counters = dict(old.counters)
    if "next_index" in old.wallet:
        counters["address_index"] = int(old.wallet["next_index"])
    for kind, value in sorted(counters.items()):
        records.append(Counter(kind=kind, value=int(value)))
    now = clock.now()
    for item in old.hooks_pending:
        body = item.get("event", {})
        eid = str(body.get("id", ""))
        if not eid:
            continue
        at = _time(body.get("at")) or now
        records.append(Event(id=eid, name=str(body.get("event", "")),
                             subject=str(body.get("lease_id") or body.get("request_id")
                                         or f"pool:{body.get('pool', '')}"),
                             created_at=at, body=json.loads(json.dumps(body, default=str))))
        records.append(Delivery(id=f"{eid}/hook", event=eid, target="hook",
                                status=DeliveryStatus.PENDING, created_at=at,
                                attempts=int(item.get("attempts", 0)),
                                last_error=item.get("last_error") or None))
    return records, {"leases": len(leases), "requests": len(requests)}


def _time(value: Any) -> Any:
    from datetime import datetime

    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _build(ctx: Context, meta: dict[str, str], records: list[Any], action: str) -> None:
    """The new ledger, built beside the home and renamed into place once committed."""
    from cloudlease.ledger import store
    from cloudlease.ledger.db import open_sqlite

    home = ctx.home
    for stale in home.path.glob(".ledger.db.*.new*"):
        stale.unlink(missing_ok=True)
    tmp = home.path / f".ledger.db.{os.getpid()}.new"
    lock = home.path / ".ledger-migrate.lock"
    db = open_sqlite(tmp, lock_timeout=ctx.lock_timeout, create=True)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.lock_path = lock
        store.create_schema(db, meta, records, action=action, timeout=ctx.lock_timeout)
    finally:
        db.close()
        lock.unlink(missing_ok=True)
    os.replace(tmp, home.db)
    fsync_dir(home.path)


def _move_old(path: Path) -> str:
    day = clock.now().date().isoformat()
    target = path / f"legacy-toml-{day}"
    n = 1
    while target.exists() and any((target / name).exists() for name in _OLD_FILES
                                  if (path / name).exists()):
        n += 1
        target = path / f"legacy-toml-{day}-{n}"
    target.mkdir(exist_ok=True)
    for name in _OLD_FILES:
        src = path / name
        if src.exists():
            os.replace(src, target / name)
    fsync_dir(target)
    fsync_dir(path)
    return target.name
