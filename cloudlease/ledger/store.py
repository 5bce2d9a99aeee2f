"""Where the ledger lives, how it is created and opened, and the write transaction.

``transaction`` is the only way anything is written: the writer lock (bounded wait),
a pre-flight check that nothing was changed behind the tool's back since the last write
(the touch log is empty, the triggers that fill it are all there, the chain's head is
intact), the caller's changes — every row it loads is checked against the chain — then,
only if some row really changed, one audit entry and the commit. An exception inside
the block writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from cloudlease.core import clock
from cloudlease.core.errors import BadValue, Conflict, LedgerError
from cloudlease.ledger import audit, schema
from cloudlease.ledger.codec import row_hash
from cloudlease.ledger.db import Db
from cloudlease.ledger.session import Ledger

DEFAULT_LOCK_TIMEOUT = 5.0


# -- opening ------------------------------------------------------------------------------
def check_schema(db: Db) -> None:
    """Refuse a database that is not a cloudlease ledger or is from a newer version; upgrade
    an older one."""
    row = None
    try:
        row = db.one("SELECT value FROM meta WHERE key = 'schema_version'")
    except LedgerError as exc:
        if exc.code == "ledger_invalid" and "missing part of its schema" in exc.message:
            raise LedgerError(f"{db.where} holds no cloudlease ledger (no meta table); run "
                              "'cloudlease init'", code="ledger_missing") from None
        raise
    if row is None:
        raise LedgerError(f"{db.where} has no schema_version; it is not a complete "
                          "cloudlease ledger", code="ledger_invalid")
    try:
        version = int(row[0])
    except ValueError:
        raise LedgerError(f"{db.where}: schema_version {row[0]!r} is not a number",
                          code="ledger_invalid") from None
    if version > schema.SCHEMA_VERSION:
        raise LedgerError(f"{db.where} has schema version {version}, newer than this "
                          f"cloudlease understands ({schema.SCHEMA_VERSION}); upgrade "
                          "cloudlease", code="schema_too_new")
    if version < schema.SCHEMA_VERSION:
        upgrade(db, version)


def upgrade(db: Db, version: int, timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
    """Bring a ledger of an older schema version up to this one: every step's statements
    and the new ``schema_version`` in one audited write (a second process that raced here
    finds the work done under the lock and leaves it)."""
    from cloudlease.model import Meta

    if version not in schema.UPGRADES:
        raise LedgerError(f"{db.where}: no upgrade from schema version {version}",
                          code="ledger_invalid")
    if db.read_only:
        raise LedgerError(f"{db.where} has schema version {version} and must be upgraded to "
                          f"{schema.SCHEMA_VERSION}, but it is read-only here; run any "
                          "command that writes (e.g. 'cloudlease tick') where it is writable",
                          code="ledger_read_only")
    # tables an upgrade creates have no change-log triggers yet: it makes them
    coming = frozenset(s.name for s in schema.SPECS) - table_names(db)
    with transaction(db, f"ledger upgrade: schema {version} -> {schema.SCHEMA_VERSION}",
                     lock_timeout=timeout, creating=coming) as ledger:
        row = db.one("SELECT value FROM meta WHERE key = 'schema_version'")
        now = int(row[0]) if row else version
        if now >= schema.SCHEMA_VERSION:
            return
        for step in range(now, schema.SCHEMA_VERSION):
            for stmt in schema.UPGRADES[step](db.dialect):  # type: ignore[operator]
                db.execute(stmt)
            if step in schema.REPAIRS:
                schema.REPAIRS[step](ledger)
        ledger.meta["schema_version"] = Meta(key="schema_version",
                                             value=str(schema.SCHEMA_VERSION))


def has_ledger(db: Db) -> bool:
    """Whether the database already holds a cloudlease ledger (its meta table)."""
    if db.dialect == "sqlite":
        row = db.one("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                     "name = 'meta'")
    else:
        row = db.one("SELECT count(*) FROM information_schema.tables WHERE "
                     "table_schema = current_schema() AND table_name = 'meta'")
    return bool(row and row[0])


def table_names(db: Db) -> set[str]:
    if db.dialect == "sqlite":
        rows = db.query("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = db.query("SELECT table_name FROM information_schema.tables WHERE "
                        "table_schema = current_schema()")
    return {r[0] for r in rows}


def trigger_names(db: Db) -> set[str]:
    if db.dialect == "sqlite":
        rows = db.query("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    else:
        rows = db.query("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
    return {r[0] for r in rows}


# -- creating -----------------------------------------------------------------------------
def create_schema(db: Db, meta: dict[str, str], records: list[Any] | None = None, *,
                  action: str = "init", timeout: float = DEFAULT_LOCK_TIMEOUT) -> str:
    """Create the schema on an empty database, with its first audited write: the meta
    facts and ``records``. Returns the ledger id."""
    from cloudlease.model import Meta

    clash = table_names(db) & ({s.name for s in schema.SPECS} | {"audit", "audit_rows"})
    if clash:
        raise Conflict(f"{db.where} already has a table named {sorted(clash)[0]!r} but no "
                       "cloudlease ledger; use an empty database")
    import uuid

    ledger_id = meta.setdefault("ledger_id", uuid.uuid4().hex)
    meta.setdefault("schema_version", str(schema.SCHEMA_VERSION))
    with db.write(timeout):
        for stmt in schema.ddl(db.dialect):
            db.execute(stmt)
        rows = [Meta(key=k, value=v) for k, v in sorted(meta.items())] + list(records or [])
        insert_records(db, rows, action)
        audit.clear_touched(db)
        db.commit()
    return ledger_id


def insert_records(db: Db, records: list[Any], action: str = "init") -> None:
    """Insert new records and audit them as one write (inside the caller's transaction)."""
    by_table: dict[str, list] = {}
    for rec in records:
        by_table.setdefault(schema.BY_CLASS[type(rec)].name, []).append(rec)
    changes: dict[tuple[str, str], str | None] = {}
    deltas: dict[str, int] = {}
    counters = {c.kind: c.value for c in by_table.get("counters", [])}
    for table, recs in by_table.items():
        c = schema.BY_NAME[table].codec
        encoded = [c.encode(r) for r in recs]
        db.executemany(f"INSERT INTO {table} ({', '.join(c.names)}) VALUES "
                       f"({', '.join('?' * len(c.names))})", encoded)
        key_at = c.names.index(c.key)
        if table != "counters":
            for row in encoded:
                changes[(table, row[key_at])] = row_hash(table, row)
        deltas[table] = len(recs)
    audit.append(db, changes, deltas, action, counters)


# -- the write transaction ----------------------------------------------------------------
def preflight(db: Db, creating: frozenset[str] = frozenset()) -> None:
    """Refuse to write on a ledger changed behind the tool's back since its last write
    (``creating``: tables an upgrade is about to make, whose triggers cannot exist yet)."""
    touched = audit.touched(db)
    if touched:
        tbl, key, op = touched[0]
        more = f" (and {len(touched) - 1} more)" if len(touched) > 1 else ""
        raise LedgerError(
            f"{schema.noun(tbl)} {key} was changed outside cloudlease ({op}){more}; the "
            "ledger refuses to write until that is resolved ('cloudlease verify' lists every "
            "problem; 'cloudlease ledger resolve' after a revert or a decision)",
            code="tampered")
    missing = {t for t in schema.expected_triggers(db.dialect) - trigger_names(db)
               if not any(t.startswith(f"cl_touch_{new}") for new in creating)}
    if missing:
        raise LedgerError(f"the ledger's change-log trigger {sorted(missing)[0]} was removed "
                          "outside cloudlease; the ledger refuses to write", code="tampered")
    last = audit.head(db)
    if last is None:
        raise LedgerError(f"{db.where} has no audit trail; it was emptied outside cloudlease",
                          code="tampered")
    if last.hash != last.expected_hash():
        raise LedgerError(f"audit entry {last.seq} was edited outside cloudlease (its hash "
                          "differs); the ledger refuses to write", code="tampered")


@contextmanager
def transaction(db: Db, action: str | None = None, *,
                lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                creating: frozenset[str] = frozenset()) -> Iterator[Ledger]:
    with db.write(lock_timeout):
        preflight(db, creating)
        ledger = Ledger(db, writable=True)
        yield ledger
        changes = ledger.changes()
        ledger.check_loaded()
        if not changes:
            return  # nothing changed: rolled back, no audit entry
        deltas: dict[str, int] = {}
        for (table, key), digest in changes.items():
            before = ledger.was_present(table, key)
            delta = (digest is not None) - before
            if delta:
                deltas[table] = deltas.get(table, 0) + delta
        counters = {key: ledger.counter(key) for (table, key) in changes
                    if table == "counters"}
        rows = {k: v for k, v in changes.items() if k[0] != "counters"}
        audit.append(db, rows, deltas, action, counters)
        audit.clear_touched(db)
        db.commit()


def new_meta(network: str, currency: str, created_at: datetime, **extra: str) -> dict[str, str]:
    if not network or not currency:
        raise BadValue("network and currency are required")
    return {"network": network, "currency": currency,
            "created_at": created_at.isoformat(), **extra}


def now_iso() -> str:
    return clock.now().isoformat()
