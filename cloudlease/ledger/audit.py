"""The audit chain: one ``audit`` row per write, hash-chained, and ``audit_rows``.

Entry ``n`` holds: ``seq``, ``prev_hash`` (entry ``n-1``'s hash, or 64 zeros), the time,
host, pid and command of the write, ``counts`` (live rows per table after it, JSON), and
``rows_digest``: the SHA-256 of the sorted lines ``table␟key␟row-hash`` of every row the
write changed (an empty row hash for a deletion). Its ``hash`` is the SHA-256 of those
fields, text length-prefixed (``entry_hash``). ``audit_rows`` repeats each changed row's hash so
that the latest hash recorded for any row is one indexed look-up away.

So an edited row no longer hashes to its latest ``audit_rows`` entry; an edited, deleted
or reordered audit row breaks the chain (and the triggers have logged it anyway); a row
inserted or deleted behind the tool's back changes a table's count.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cloudlease.core import clock
from cloudlease.ledger.db import command_line, host_name

if TYPE_CHECKING:
    from cloudlease.ledger.db import Db

GENESIS = "0" * 64
_CHUNK = 400
COLUMNS = ("seq", "prev_hash", "at", "host", "pid", "command", "counts", "rows_digest",
           "hash")


@dataclass(frozen=True)
class Entry:
    seq: int
    prev_hash: str
    at: str
    host: str
    pid: int
    command: str
    counts: str
    rows_digest: str
    hash: str

    def expected_hash(self) -> str:
        return entry_hash(self.seq, self.prev_hash, self.at, self.host, self.pid,
                          self.command, self.counts, self.rows_digest)


def entry_hash(seq: int, prev: str, at: str, host: str, pid: int, command: str, counts: str,
               rows_digest: str) -> str:
    """SHA-256 of an entry's fields, each length-prefixed (text) or tagged (integers)."""
    body = (f"{seq}#{prev}\x1f{len(at)}:{at}\x1f{len(host)}:{host}\x1f{pid}#"
            f"{len(command)}:{command}\x1f{len(counts)}:{counts}\x1f{rows_digest}")
    return hashlib.sha256(body.encode()).hexdigest()


def rows_digest(rows: Iterable[tuple[str, str, str | None]]) -> str:
    h = hashlib.sha256()
    for tbl, key, digest in sorted(rows):
        h.update(f"{tbl}\x1f{key}\x1f{digest or ''}\n".encode())
    return h.hexdigest()


def head(db: Db) -> Entry | None:
    row = db.one(f"SELECT {', '.join(COLUMNS)} FROM audit ORDER BY seq DESC LIMIT 1")
    return Entry(*row) if row else None


COUNTER = "counter."  # counts key prefix: the value of each id counter after the write


def append(db: Db, changes: Mapping[tuple[str, str], str | None],
           deltas: Mapping[str, int], action: str | None = None,
           counters: Mapping[str, int] | None = None) -> Entry:
    """Record one write (the caller holds the writer lock, inside its transaction).

    Id counters change on nearly every write; their values go into the entry's ``counts``
    (``counter.lease``...) rather than one ``audit_rows`` line each, so the chain stays
    short and still vouches for them."""
    last = head(db)
    counts: dict[str, int] = json.loads(last.counts) if last else {}
    for table, delta in deltas.items():
        counts[table] = counts.get(table, 0) + delta
    for kind, value in (counters or {}).items():
        counts[COUNTER + kind] = value
    counts_text = json.dumps(dict(sorted(counts.items())), separators=(",", ":"))
    seq = (last.seq if last else 0) + 1
    prev = last.hash if last else GENESIS
    at = clock.now().isoformat()
    host = host_name()[:64]
    command = (action or command_line())[:200]
    digest = rows_digest((t, k, h) for (t, k), h in changes.items())
    entry = Entry(seq, prev, at, host, os.getpid(), command, counts_text, digest,
                  entry_hash(seq, prev, at, host, os.getpid(), command, counts_text, digest))
    db.executemany("INSERT INTO audit_rows (seq, tbl, key, hash) VALUES (?, ?, ?, ?)",
                   [(seq, t, k, h) for (t, k), h in sorted(changes.items())])
    db.execute(f"INSERT INTO audit ({', '.join(COLUMNS)}) VALUES "
               f"({', '.join('?' * len(COLUMNS))})",
               (entry.seq, entry.prev_hash, entry.at, entry.host, entry.pid, entry.command,
                entry.counts, entry.rows_digest, entry.hash))
    return entry


def latest_hashes(db: Db, rows: list[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    """The hash the chain last recorded for each (table, key); absent: never recorded.
    The keys join ``audit_rows`` through its primary key (table, key, seq), so the cost
    follows the keys asked for, not the length of the chain."""
    out: dict[tuple[str, str], str | None] = {}
    for i in range(0, len(rows), _CHUNK):
        chunk = rows[i:i + _CHUNK]
        pairs = ", ".join(["(?, ?)"] * len(chunk))
        params = [x for pair in chunk for x in pair]
        for tbl, key, digest in db.query(
                f"WITH k(tbl, key) AS (VALUES {pairs}) SELECT a.tbl, a.key, a.hash FROM k "
                "JOIN audit_rows a ON a.tbl = k.tbl AND a.key = k.key AND a.seq = (SELECT "
                "max(b.seq) FROM audit_rows b WHERE b.tbl = k.tbl AND b.key = k.key)", params):
            out[(tbl, key)] = digest
    return out


def mismatched(db: Db, rows: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Rows (table, key, hash) that do not hash to what the chain last recorded, with why."""
    if not rows:
        return []
    recorded = latest_hashes(db, list(dict.fromkeys((t, k) for t, k, _ in rows)))
    bad = []
    for table, key, digest in rows:
        want = recorded.get((table, key), "absent")
        if want == "absent":
            bad.append((table, key, "has no audit record"))
        elif want is None:
            bad.append((table, key, "was deleted by an audited write but is present"))
        elif want != digest:
            bad.append((table, key, "does not match its audit record"))
    return bad


def counter_values(entry: Entry | None) -> dict[str, int]:
    """The id counters as the chain last recorded them."""
    counts = json.loads(entry.counts) if entry else {}
    return {k[len(COUNTER):]: v for k, v in counts.items() if k.startswith(COUNTER)}


def touched(db: Db, limit: int = 5) -> list[tuple[str, str, str]]:
    """Changes the triggers logged that no cloudlease write accounts for."""
    return [tuple(r) for r in db.query(  # type: ignore[misc]
        f"SELECT tbl, key, op FROM ledger_touch ORDER BY tbl, key LIMIT {int(limit)}")]


def clear_touched(db: Db) -> None:
    db.execute("DELETE FROM ledger_touch")
