"""Queries over the ledger as a whole, for the commands that look after it (``init``,
``ledger dump|backup|resolve``, ``verify``): rows in a stable order, an online copy, the
change log of edits made behind cloudlease's back, and the invariants checked in SQL.

Record look-ups by name live on the session's tables (``queries/``); these work on the
database itself (``Db``), below the session.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from cloudlease.ledger import audit, schema
from cloudlease.ledger.codec import Row
from cloudlease.ledger.db import Db

_NUMBERED = ("id", "lease")  # keys that are a prefix and a number (L-7)


# -- creating and opening -----------------------------------------------------------------
def use_wal(db: Db) -> None:
    """Write-ahead logging for a new SQLite ledger (readers never wait for the writer)."""
    db.execute("PRAGMA journal_mode = WAL")


def meta_facts(db: Db) -> dict[str, str]:
    """The ``meta`` table as a dict (network, currency, ledger_id, ...)."""
    return {k: v for k, v in db.query("SELECT key, value FROM meta")}


def row_count(db: Db, table: str) -> int:
    """How many rows ``table`` holds (one of the schema's tables)."""
    if table not in schema.BY_NAME:
        raise ValueError(f"not a ledger table: {table!r}")
    row = db.one(f"SELECT count(*) FROM {table}")
    return int(row[0]) if row else 0


# -- dump ---------------------------------------------------------------------------------
def _order(spec: schema.Spec) -> str:
    key = spec.codec.key
    if key in _NUMBERED and spec.name not in ("payments", "payouts", "deliveries"):
        return f"CAST(substr({key}, 3) AS INTEGER), {key}"
    return key


def ordered_rows(db: Db, spec: schema.Spec) -> list[Row]:
    """Every row of a table (columns in ``codec.names`` order), in a stable order: numbered
    ids by number (L-2 before L-10), other keys as text."""
    return db.query(f"SELECT {', '.join(spec.codec.names)} FROM {spec.name} "
                    f"ORDER BY {_order(spec)}")


# -- backup -------------------------------------------------------------------------------
def backup_sqlite(db: Db, dest: sqlite3.Connection) -> None:
    """Copy a SQLite ledger's pages into ``dest`` with SQLite's online backup (writers carry
    on), as a self-contained file (no write-ahead log beside it)."""
    db.conn.backup(dest)
    dest.execute("PRAGMA journal_mode = DELETE")


def copy_rows(src: Db, dest: Db) -> None:
    """Copy every row of ``src`` (any engine), in one consistent read, into ``dest``, an
    empty SQLite database: the same schema, records and audit chain, so the copy verifies
    on its own."""
    with src.snapshot():
        dest.execute("BEGIN")
        for stmt in schema.ddl("sqlite"):
            dest.execute(stmt)
        tables = [(s.name, s.codec.names) for s in schema.SPECS] + [
            ("audit", audit.COLUMNS), ("audit_rows", ("seq", "tbl", "key", "hash"))]
        for name, cols in tables:
            cur = src.execute(f"SELECT {', '.join(cols)} FROM {name}")
            insert = f"INSERT INTO {name} ({', '.join(cols)}) VALUES " \
                     f"({', '.join('?' * len(cols))})"
            while True:
                batch = cur.fetchmany(5000)
                if not batch:
                    break
                dest.executemany(insert, [tuple(r) for r in batch])
        audit.clear_touched(dest)
        dest.execute("COMMIT")


# -- resolve ------------------------------------------------------------------------------
def all_touched(db: Db) -> list[tuple[str, str, str]]:
    """Every (table, key, operation) the change-log triggers recorded since the last write:
    edits made outside cloudlease, by table and key."""
    return [tuple(r) for r in db.query(  # type: ignore[misc]
        "SELECT tbl, key, op FROM ledger_touch ORDER BY tbl, key")]


def raw_row(db: Db, spec: schema.Spec, key: str) -> Row | None:
    """One row as stored (not decoded: it may not even decode), or None."""
    c = spec.codec
    row = db.one(f"SELECT {', '.join(c.names)} FROM {spec.name} WHERE {c.key} = ?", (key,))
    return tuple(row) if row is not None else None


# -- invariants ---------------------------------------------------------------------------
_OPEN_LEASES = " AND l.status IN ('awaiting_payment', 'active', 'suspended')"
_OPEN_REQUESTS = " AND status IN ('new', 'processing')"


_MINUTES = "COALESCE(l.paid_minutes, l.paid_hours * 60)"  # leases before schema 4: hours


def invariant_problems(db: Db, *, full: bool = False) -> list[str]:
    """The ledger's rules, checked in the database (no record is built): over open leases
    and requests, or over all history with ``full``. At most 20 problems per rule."""
    leases = "" if full else _OPEN_LEASES
    reqs = "" if full else _OPEN_REQUESTS
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
    problems: list[str] = []
    for sql, text in checks:
        for row in db.query(sql + " LIMIT 20"):
            problems.append(text.format(*row))
    problems += _lease_times(db.query(
        f"SELECT l.id, l.status, l.starts_at, l.ends_at, {_MINUTES} FROM leases l "
        f"WHERE l.status IN ('active', 'suspended', 'ended'){leases}"))
    return problems


def _lease_times(rows: list[tuple]) -> list[str]:
    problems = []
    for lid, status, starts, ends, minutes in rows:
        if starts is None or ends is None:
            problems.append(f"lease {lid} is {status} without start/end")
        elif datetime.fromisoformat(ends) != datetime.fromisoformat(starts) + \
                timedelta(minutes=minutes):
            problems.append(f"lease {lid} ends_at does not match its paid minutes")
    return problems
