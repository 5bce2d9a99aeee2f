"""Checking the ledger against its audit chain (``cloudlease verify``).

Incremental (the default) starts from the last verified checkpoint: the touch log is
empty and its triggers are all there; the audit table has no gap; every entry after the
checkpoint links to the one before and hashes right, and its ``audit_rows`` match its
digest; every row those entries changed still hashes to what they recorded; each table
holds as many rows as the chain says. ``full`` walks the whole chain and hashes every
row of every table: it also finds an old row edited by a tool that removed the triggers
first.

Problems are collected as values (as bean-check does), so one run names everything.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cloudlease.core.errors import LedgerError
from cloudlease.ledger import audit, schema
from cloudlease.ledger.codec import row_hash

if TYPE_CHECKING:
    from cloudlease.ledger.db import Db

_MAX_LISTED = 20


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    audit_entries: int = 0
    checked_from: int = 0      # entries after this seq were walked
    rows_checked: int = 0
    head_hash: str = ""
    full: bool = False

    def add(self, text: str) -> None:
        if len(self.problems) < _MAX_LISTED:
            self.problems.append(text)
        elif len(self.problems) == _MAX_LISTED:
            self.problems.append("… (more problems not listed)")


def check(db: Db, *, full: bool = False) -> Findings:
    from cloudlease.ledger.store import trigger_names

    out = Findings(full=full)
    for tbl, key, op in audit.touched(db, limit=_MAX_LISTED):
        out.add(f"{schema.noun(tbl)} {key} was changed outside cloudlease ({op})")
    missing = schema.expected_triggers(db.dialect) - trigger_names(db)
    for name in sorted(missing):
        out.add(f"trigger {name} was removed outside cloudlease (changes are no longer "
                "logged)")
    head = audit.head(db)
    if head is None:
        out.add("the audit table is empty: the ledger has no history")
        return out
    out.audit_entries = head.seq
    out.head_hash = head.hash
    row = db.one("SELECT count(*), min(seq) FROM audit")
    count, first = (row or (0, None))
    if count != head.seq or first != 1:
        out.add(f"the audit table holds {count} entries but its last is entry {head.seq}: "
                "entries were deleted")
    start = 0 if full else _checkpoint(db, out)
    out.checked_from = start
    if start == 0:  # no checkpoint yet: every row changed since the start
        _walk_beside(db, head.seq - start, lambda: _all_rows(db, out), out)
    else:
        _walk(db, start, out)
        _changed_rows(db, start, out)
    _counts(db, head, out)
    return out


PARALLEL_FROM = 20_000  # entries: below this a second process costs more than it saves


def _walk_beside(db: Db, entries: int, rows: Callable[[], None], out: Findings) -> None:
    """Walk the whole chain and check every row. The two are independent and each takes
    seconds on a long history, so on a machine with more than one core the chain is walked
    in a forked process with its own connection while this one hashes the rows."""
    reopen = getattr(db, "reopen", None)
    if entries < PARALLEL_FROM or (os.cpu_count() or 1) < 2 or reopen is None or \
            "fork" not in multiprocessing.get_all_start_methods():
        _walk(db, 0, out)
        rows()
        return
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)

    def child() -> None:
        code = 0
        try:
            mine = Findings()
            other = reopen()  # never the parent's connection
            _walk(other, 0, mine)
            send.send(mine.problems)
        except BaseException as exc:  # noqa: BLE001 - reported, then the walk runs here
            send.send(exc if isinstance(exc, LedgerError) else None)
            code = 1
        finally:
            os._exit(code)  # no cleanup of the parent's handles in the child

    proc = ctx.Process(target=child, daemon=True)
    proc.start()
    send.close()
    try:
        rows()
        answer = receive.recv()
    except EOFError:
        answer = None
    finally:
        proc.join()
        receive.close()
    if isinstance(answer, LedgerError):
        raise answer
    if answer is None:  # the child could not report: walk here
        _walk(db, 0, out)
        return
    for problem in answer:
        out.add(problem)


def _checkpoint(db: Db, out: Findings) -> int:
    row = db.one("SELECT seq, hash FROM verify_checkpoint WHERE id = 1")
    if not row:
        return 0
    seq, digest = int(row[0]), row[1]
    at = db.one("SELECT hash FROM audit WHERE seq = ?", (seq,))
    if not at or at[0] != digest:
        out.notes.append(f"the verified checkpoint (entry {seq}) no longer matches the chain; "
                         "checked from the start")
        return 0
    return seq


def save_checkpoint(db: Db, seq: int, digest: str, at: str) -> None:
    """Remember the last entry verified (not audited: a hint that makes the next run start
    there; ``--full`` ignores it)."""
    db.execute("INSERT INTO verify_checkpoint (id, seq, hash, at) VALUES (1, ?, ?, ?) "
               "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, "
               "at = excluded.at", (seq, digest, at))


def _sep(db: Db) -> str:
    return "chr(31)" if db.dialect == "postgresql" else "char(31)"


def _walk(db: Db, start: int, out: Findings) -> None:
    """Chain links, entry hashes and row digests of every entry after ``start``."""
    prev_row = db.one("SELECT hash FROM audit WHERE seq = ?", (start,)) if start else None
    prev = prev_row[0] if prev_row else audit.GENESIS
    expected = start + 1
    digests = _digests(db, start)
    entry_hash = audit.entry_hash
    cur = db.execute(f"SELECT {', '.join(audit.COLUMNS)} FROM audit WHERE seq > ? "
                     "ORDER BY seq", (start,))
    while True:
        batch = cur.fetchmany(5000)
        if not batch:
            break
        for seq, prev_hash, at, host, pid, command, counts, rows_digest, digest in batch:
            if seq != expected:
                out.add(f"audit entry {expected} is missing (next is {seq})")
                expected = seq
            if prev_hash != prev:
                out.add(f"audit entry {seq} does not follow entry {seq - 1} (chain "
                        "broken: an entry was edited, removed or reordered)")
            if entry_hash(seq, prev_hash, at, host, pid, command, counts,
                          rows_digest) != digest:
                out.add(f"audit entry {seq} was edited (its hash differs)")
            if digests.get(seq, _EMPTY) != rows_digest:
                out.add(f"the rows recorded for audit entry {seq} were edited")
            prev = digest
            expected = seq + 1


_EMPTY = audit.rows_digest([])


def _digests(db: Db, start: int) -> dict[int, str]:
    """seq → digest of its audit_rows as they are now (the lines joined by the database,
    in the order ``audit.rows_digest`` sorts them)."""
    sep = _sep(db)
    line = f"tbl || {sep} || key || {sep} || COALESCE(hash, '') || {sep.replace('31', '10')}"
    if db.dialect == "postgresql":
        sql = (f"SELECT seq, string_agg({line}, '' ORDER BY tbl COLLATE \"C\", key COLLATE "
               "\"C\") FROM audit_rows WHERE seq > ? GROUP BY seq")
    else:  # group_concat keeps the order of the ordered subquery
        sql = (f"SELECT seq, group_concat(line, '') FROM (SELECT seq, {line} AS line FROM "
               "audit_rows WHERE seq > ? ORDER BY seq, tbl, key) GROUP BY seq")
    sha256 = hashlib.sha256
    out: dict[int, str] = {}
    cur = db.execute(sql, (start,))
    while True:
        batch = cur.fetchmany(20000)
        if not batch:
            return out
        for seq, text in batch:
            out[seq] = sha256(text.encode()).hexdigest()


def _latest(db: Db, table: str, start: int | None = None) -> dict[str, str | None]:
    """key → the hash the chain last recorded (only keys changed after ``start``)."""
    since = "" if start is None else " AND key IN (SELECT key FROM audit_rows WHERE " \
        "tbl = ? AND seq > ?)"
    params: tuple = (table,) if start is None else (table, table, start)
    if db.dialect == "postgresql":
        sql = (f"SELECT DISTINCT ON (key) key, hash FROM audit_rows WHERE tbl = ?{since} "
               "ORDER BY key, seq DESC")
    else:  # SQLite takes the bare column from the row holding the max
        sql = f"SELECT key, hash, max(seq) FROM audit_rows WHERE tbl = ?{since} GROUP BY key"
    return {r[0]: r[1] for r in db.query(sql, params)}


def _compare(spec: schema.Spec, recorded: dict[str, str | None], rows: Iterable[tuple],
             out: Findings) -> None:
    c = spec.codec
    what = schema.noun(spec.name)
    key_at, table = c.key_index, spec.name
    seen = set()
    for row in rows:
        key = row[key_at]
        seen.add(key)
        want = recorded.get(key, "absent")
        if want == "absent":
            out.add(f"{what} {key} has no audit record (added outside cloudlease)")
        elif want is None:
            out.add(f"{what} {key} was deleted by an audited write but is present")
        elif row_hash(table, row) != want:
            out.add(f"{what} {key} does not match its audit record (edited outside "
                    "cloudlease)")
        out.rows_checked += 1
    for key, want in recorded.items():
        if want is not None and key not in seen:
            out.add(f"{what} {key} is missing (deleted outside cloudlease)")


def _all_rows(db: Db, out: Findings) -> None:
    for spec in schema.SPECS:
        if spec.name == "counters":
            continue  # their values are in every audit entry (see _counts)
        _compare(spec, _latest(db, spec.name),
                 _stream(db, f"SELECT {', '.join(spec.codec.names)} FROM {spec.name}"), out)


def _stream(db: Db, sql: str) -> Iterator[tuple]:
    """Rows a batch at a time: a table of history never sits in memory whole."""
    cur = db.execute(sql)
    while True:
        batch = cur.fetchmany(5000)
        if not batch:
            return
        yield from batch


def _changed_rows(db: Db, start: int, out: Findings) -> None:
    for spec in schema.SPECS:
        if spec.name == "counters":
            continue
        recorded = _latest(db, spec.name, start)
        if not recorded:
            continue
        c = spec.codec
        keys = list(recorded)
        rows = []
        for i in range(0, len(keys), 400):
            chunk = keys[i:i + 400]
            rows += db.query(f"SELECT {', '.join(c.names)} FROM {spec.name} WHERE {c.key} IN "
                             f"({', '.join('?' * len(chunk))})", chunk)
        _compare(spec, recorded, rows, out)


def _counts(db: Db, head: audit.Entry, out: Findings) -> None:
    try:
        counts = json.loads(head.counts)
    except ValueError:
        out.add(f"audit entry {head.seq} has unreadable row counts")
        return
    for spec in schema.SPECS:
        row = db.one(f"SELECT count(*) FROM {spec.name}")
        have = int(row[0]) if row else 0
        want = int(counts.get(spec.name, 0))
        if have != want:
            verb = "added" if have > want else "deleted"
            out.add(f"table {spec.name} holds {have} rows but the audit chain accounts for "
                    f"{want}: rows were {verb} outside cloudlease")
    recorded = audit.counter_values(head)
    actual = dict(db.query("SELECT kind, value FROM counters"))
    for kind in sorted(set(recorded) | set(actual)):
        if recorded.get(kind) != actual.get(kind):
            out.add(f"counter {kind} is {actual.get(kind)} but the audit chain recorded "
                    f"{recorded.get(kind)} (edited outside cloudlease)")
