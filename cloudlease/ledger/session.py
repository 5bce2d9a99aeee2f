"""A ledger session: the records a command needs, loaded on demand, and its changes.

A session is either a read (no lock; nothing can be changed) or one write transaction.
Tables behave like dicts keyed by name or id, but load rows only when asked: ``get``
and ``[]`` fetch one row by key; ``where`` runs an indexed query; nothing loads a whole
table unless a command asks for it with ``all()``. So a command's cost follows what it
touches, not the size of the ledger.

In a write session, every row loaded is checked against the audit chain (the hash the
chain last recorded for it) before the command sees it; a row edited behind the tool's
back is refused (exit 5) and never blessed by the write. Changes are tracked against
what was loaded; ``commit`` writes only rows that really changed, records them in one
audit entry (``audit.py``), and commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from cloudlease.core.errors import Conflict, LedgerError, NotFound
from cloudlease.ledger.codec import RecordCodec, Row, row_hash
from cloudlease.ledger.queries import NAMED
from cloudlease.ledger.schema import BY_NAME, Spec, noun

if TYPE_CHECKING:
    from cloudlease.ledger.db import Db
    from cloudlease.model import (
        Contribution,
        Counter,
        Delivery,
        Event,
        Invoice,
        Lease,
        MachineRecord,
        Meta,
        Payment,
        PaymentRequest,
        Payout,
        Plan,
        Pool,
        Renewal,
        Tenant,
        Transfer,
    )

R = TypeVar("R")
_CHUNK = 400  # keys per IN (...) list
_ID_PREFIX = {"lease": "L", "request": "P", "contribution": "C", "invoice": "D", "event": "E",
              "transfer": "T"}
_MISSING = object()


class Table(Generic[R]):
    """One table of a session: a dict-like view that loads rows on demand."""

    def __init__(self, session: Ledger, spec: Spec) -> None:
        self._s = session
        self.spec = spec
        self.name = spec.name
        self._cache: dict[str, R | None] = {}        # key → record (None: absent/deleted)
        self._orig: dict[str, tuple[Row, str | None] | None] = {}  # key → row, hash
        self._dirty: set[str] = set()

    # the codec and its SQL when a command first uses the table (most use a few of them)
    @cached_property
    def codec(self) -> RecordCodec:
        return self.spec.codec

    @cached_property
    def _key_index(self) -> int:
        return self.codec.key_index

    @cached_property
    def _select(self) -> str:
        return f"SELECT {', '.join(self.codec.names)} FROM {self.name}"

    # -- loading ------------------------------------------------------------------------
    def _load_rows(self, rows: Iterable[Row]) -> list[R]:
        out: list[R] = []
        fresh: list[tuple[str, str]] = []
        writable = self._s.writable
        for row in rows:
            key = row[self._key_index]
            if key in self._cache:
                rec = self._cache[key]
                if rec is not None:
                    out.append(rec)
                continue
            # a write checks the hash of every row it loaded; a read session hashes a row
            # only if a write later asks about it (``Ledger.check_loaded(other=...)``)
            digest = row_hash(self.name, row) if writable else None
            if digest is not None:
                fresh.append((key, digest))
            self._orig[key] = (row, digest)
            rec = self.codec.decode_row(row)
            self._cache[key] = rec
            out.append(rec)
        if fresh:
            self._s.loaded.extend((self.name, k, h) for k, h in fresh)
        return out

    def get(self, key: str, default: Any = None) -> R | Any:
        if key in self._cache:
            rec = self._cache[key]
            return default if rec is None else rec
        rows = self._s.db.query(f"{self._select} WHERE {self.codec.key} = ?", (key,))
        found = self._load_rows(rows)
        if not found:
            self._cache[key] = None
            self._orig[key] = None
            return default
        return found[0]

    def __getitem__(self, key: str) -> R:
        rec = self.get(key, _MISSING)
        if rec is _MISSING:
            raise KeyError(key)
        return rec  # type: ignore[return-value]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING

    def many(self, keys: Iterable[str]) -> dict[str, R]:
        """Several rows by key, in as few queries as it takes."""
        keys = list(dict.fromkeys(keys))
        want = [k for k in keys if k not in self._cache]
        for i in range(0, len(want), _CHUNK):
            chunk = want[i:i + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            self._load_rows(self._s.db.query(
                f"{self._select} WHERE {self.codec.key} IN ({marks})", chunk))
        out = {}
        for k in keys:
            if k not in self._cache:
                self._cache[k] = None
                self._orig[k] = None
            rec = self._cache[k]
            if rec is not None:
                out[k] = rec
        return out

    def where(self, clause: str = "", params: Iterable[Any] = (), *, order: str | None = None,
              limit: int | None = None) -> list[R]:
        """Records matching an SQL condition on this table's columns (changes made in this
        session are written first, so the query sees them)."""
        self._s.flush()
        sql = self._select + (f" WHERE {clause}" if clause else "")
        if order:
            sql += f" ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._load_rows(self._s.db.query(sql, tuple(params)))

    def all(self) -> list[R]:
        return self.where(order=self.codec.key if self.name in ("tenants", "plans", "pools",
                                                                "meta", "counters") else None)

    def count(self, clause: str = "", params: Iterable[Any] = ()) -> int:
        self._s.flush()
        row = self._s.db.one(f"SELECT count(*) FROM {self.name}"
                             + (f" WHERE {clause}" if clause else ""), tuple(params))
        return int(row[0]) if row else 0

    def keys_like(self, prefix: str, limit: int = 100) -> list[str]:
        """Keys (names, ids) that start with ``prefix``, in key order, at most ``limit``:
        one indexed query on the key, no record built (shell completion)."""
        esc = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        key = self.codec.key
        return [r[0] for r in self._s.db.query(
            f"SELECT {key} FROM {self.name} WHERE {key} LIKE ? ESCAPE '\\' "
            f"ORDER BY {key} LIMIT {int(limit)}", (esc + "%",))]

    def rows(self, clause: str = "", params: Iterable[Any] = (), *,
             order: str | None = None) -> Iterator[Row]:
        """Raw rows, not records and not cached: for reports over many rows (read sessions)."""
        sql = self._select + (f" WHERE {clause}" if clause else "")
        if order:
            sql += f" ORDER BY {order}"
        cur = self._s.db.execute(sql, tuple(params))
        while True:
            batch = cur.fetchmany(2000)
            if not batch:
                return
            yield from batch

    # -- changes ------------------------------------------------------------------------
    def __setitem__(self, key: str, record: R) -> None:
        self._s.require_writable()
        if getattr(record, self.codec.key) != key:
            raise ValueError(f"{self.name}: key {key!r} does not match the record")
        if key not in self._orig:
            self.get(key)  # learn what is there now (and check it)
        self._cache[key] = record
        self._dirty.add(key)

    def __delitem__(self, key: str) -> None:
        self._s.require_writable()
        if self.get(key) is None:
            raise KeyError(key)
        self._cache[key] = None
        self._dirty.add(key)

    def add(self, record: R) -> R:
        self[getattr(record, self.codec.key)] = record
        return record

    def _flush(self) -> None:
        if not self._dirty:
            return
        db = self._s.db
        names = self.codec.names
        upsert = (f"INSERT INTO {self.name} ({', '.join(names)}) VALUES "
                  f"({', '.join('?' * len(names))}) ON CONFLICT ({self.codec.key}) DO UPDATE "
                  f"SET " + ", ".join(f"{n} = excluded.{n}" for n in names
                                      if n != self.codec.key))
        writes: list[Row] = []
        deletes: list[tuple[str]] = []
        for key in sorted(self._dirty):
            rec = self._cache[key]
            if rec is None:
                deletes.append((key,))
            else:
                writes.append(self.codec.encode(rec))
        try:
            db.executemany(upsert, writes)
        except Exception as exc:  # a unique index (address, idempotency key, number...)
            raise _constraint(self.name, exc) from None
        db.executemany(f"DELETE FROM {self.name} WHERE {self.codec.key} = ?", deletes)
        self._s._written.update((self.name, k) for k in self._dirty)
        self._dirty.clear()

    def changes(self) -> dict[str, str | None]:
        """Keys whose row differs from what the session started with → new hash (None:
        deleted)."""
        out: dict[str, str | None] = {}
        for key in {k for (t, k) in self._s._written if t == self.name}:
            rec = self._cache.get(key)
            orig = self._orig.get(key)
            if rec is None:
                if orig is not None:
                    out[key] = None
                continue
            row = self.codec.encode(rec)
            if orig is not None and orig[0] == row:
                continue
            out[key] = row_hash(self.name, row)
        return out


# each table's class: Table with that table's named queries (queries/) mixed in
_CLASSES = {name: type(q.__name__, (q, Table), {"__doc__": q.__doc__})
            for name, q in NAMED.items()}


def _constraint(table: str, exc: Exception) -> Exception:
    text = " ".join(str(exc).split())
    if "unique" in text.lower() or "duplicate" in text.lower():
        return Conflict(f"{table}: that would duplicate a unique value ({text})")
    return exc


class Ledger:
    """A session on the ledger: tables, ids, and (for writes) the change set. Each table
    answers its named queries too (``ledger.leases.due_to_end(now)``: ``queries/``).

    Attributes:
        network, currency, created_at, ledger_id: fixed at init (from ``meta``).
        writable: True inside a write transaction.
    """

    def __init__(self, db: Db, *, writable: bool) -> None:
        self.db = db
        self.writable = writable
        self.loaded: list[tuple[str, str, str]] = []  # (table, key, hash) to check
        self._written: set[tuple[str, str]] = set()
        self._tables: dict[str, Table] = {}
        self.meta: Table[Meta] = self._table("meta")
        self.counters: Table[Counter] = self._table("counters")
        self.tenants: Table[Tenant] = self._table("tenants")
        self.plans: Table[Plan] = self._table("plans")
        self.pools: Table[Pool] = self._table("pools")
        self.leases: Table[Lease] = self._table("leases")
        self.requests: Table[PaymentRequest] = self._table("payment_requests")
        self.payments: Table[Payment] = self._table("payments")
        self.contributions: Table[Contribution] = self._table("contributions")
        self.payouts: Table[Payout] = self._table("payouts")
        self.invoices: Table[Invoice] = self._table("invoices")
        self.events: Table[Event] = self._table("events")
        self.deliveries: Table[Delivery] = self._table("deliveries")
        self.machines: Table[MachineRecord] = self._table("machines")
        self.transfers: Table[Transfer] = self._table("transfers")
        self.renewals: Table[Renewal] = self._table("renewals")
        facts = {m.key: m.value for m in self.meta.all()}
        missing = [k for k in ("network", "currency", "created_at", "ledger_id") if k not in facts]
        if missing:
            raise LedgerError(f"{db.where}: meta.{missing[0]} is missing; the ledger is "
                              "incomplete", code="ledger_invalid")
        self.network: str = facts["network"]
        self.currency: str = facts["currency"]
        self.created_at: datetime = datetime.fromisoformat(facts["created_at"])
        self.ledger_id: str = facts["ledger_id"]
        self.facts = facts

    def _table(self, name: str) -> Table:
        t: Table = _CLASSES.get(name, Table)(self, BY_NAME[name])
        self._tables[name] = t
        return t

    @property
    def tables(self) -> dict[str, Table]:
        return self._tables

    def require_writable(self) -> None:
        if not self.writable:
            raise RuntimeError("this ledger session is read-only")

    # -- integrity ----------------------------------------------------------------------
    def check_loaded(self, other: Ledger | None = None) -> None:
        """Refuse the write if any row this session loaded (or ``other``, a read session
        the write depends on, loaded) differs from what the audit chain last recorded for
        it. Checked in one query before the write commits: a row edited behind the
        tool's back is never blessed."""
        from cloudlease.ledger import audit

        source = self if other is None else other
        rows = self.loaded if other is None else [
            (name, k, orig[1] if orig[1] is not None else row_hash(name, orig[0]))
            for name, table in other.tables.items()
            for k, orig in table._orig.items() if orig is not None]
        if other is None:
            self.loaded = []
        counters = [(k, orig[0][1]) for k, orig in source.counters._orig.items()
                    if orig is not None]
        bad = audit.mismatched(self.db, [r for r in rows if r[0] != "counters"])
        if counters:
            recorded = audit.counter_values(audit.head(self.db))
            bad += [("counters", kind, "does not match the audit chain")
                    for kind, value in counters if recorded.get(kind) != value]
        if bad:
            table, key, why = bad[0]
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise LedgerError(
                f"{noun(table)} {key} {why}{more}: it was changed outside cloudlease, so the "
                "ledger refuses to write; revert the change or restore a backup "
                "('cloudlease verify' lists every problem)", code="tampered")

    # -- ids ----------------------------------------------------------------------------
    def counter(self, kind: str) -> int:
        c = self.counters.get(kind)
        return 0 if c is None else c.value

    def set_counter(self, kind: str, value: int) -> None:
        from cloudlease.model import Counter

        self.counters[kind] = Counter(kind=kind, value=value)

    def bump(self, kind: str) -> int:
        n = self.counter(kind) + 1
        self.set_counter(kind, n)
        return n

    def next_id(self, kind: str) -> str:
        """The next id of a kind (``L-7``); ids are never reused."""
        return f"{_ID_PREFIX[kind]}-{self.bump(kind)}"

    # -- look-ups that raise NotFound with a helpful message ------------------------------
    def tenant(self, name: str) -> Tenant:
        t = self.tenants.get(name)
        if t is None or t.removed_at is not None:
            raise NotFound(f"no tenant named {name!r} (see 'cloudlease tenant list')")
        return t

    def plan(self, name: str) -> Plan:
        p = self.plans.get(name)
        if p is None:
            raise NotFound(f"no plan named {name!r} (see 'cloudlease plan list')")
        return p

    def pool(self, name: str) -> Pool:
        p = self.pools.get(name)
        if p is None:
            raise NotFound(f"no pool named {name!r} (see 'cloudlease pool list')")
        return p

    def request(self, request_id: str) -> PaymentRequest:
        rid = normalize_id(request_id, "P")
        r = self.requests.get(rid)
        if r is None:
            raise NotFound(f"no payment request {rid!r} (see 'cloudlease pay list')")
        return r

    def lease(self, lease_id: str) -> Lease:
        lid = normalize_id(lease_id, "L")
        lease = self.leases.get(lid)
        if lease is None:
            raise NotFound(f"no lease {lid!r} (see 'cloudlease lease list')")
        return lease

    # -- writing ------------------------------------------------------------------------
    def flush(self) -> None:
        if not self.writable:
            return
        for t in self._tables.values():
            t._flush()

    def changes(self) -> dict[tuple[str, str], str | None]:
        self.flush()
        out: dict[tuple[str, str], str | None] = {}
        for name, t in self._tables.items():
            for key, digest in t.changes().items():
                out[(name, key)] = digest
        return out

    def was_present(self, table: str, key: str) -> bool:
        return self._tables[table]._orig.get(key) is not None


def normalize_id(text: str, prefix: str) -> str:
    """``L-7`` (or ``l-7``) for lease 7, and nothing else: ``L--1``, ``L7`` or ``7`` is exit
    2 naming the accepted form (``validate.record_id``)."""
    from cloudlease.core.validate import record_id

    return record_id(text, prefix)
