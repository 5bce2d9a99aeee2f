"""``cloudlease ledger dump|backup|resolve|migrate|schema``: looking after the ledger itself."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudlease.core import clock
from cloudlease.core.errors import BadValue, Conflict, LedgerError
from cloudlease.files.fsio import fsync_dir
from cloudlease.ledger import audit, schema, tools
from cloudlease.ledger.codec import row_hash
from cloudlease.ledger.db import Db
from cloudlease.ops.context import Context

DUMP_FORMATS = ("toml", "json")


# -- dump -------------------------------------------------------------------------------
def dump(ctx: Context, fmt: str = "toml") -> str:
    """Every record, one table per record in a stable order, with the audit chain's head:
    a human-readable snapshot to keep beside backups and to diff."""
    if fmt not in DUMP_FORMATS:
        raise BadValue(f"unknown format {fmt!r} (one of {', '.join(DUMP_FORMATS)})")
    db = ctx.db()
    head = audit.head(db)
    doc: dict[str, Any] = {
        "format": "cloudlease-ledger-dump", "schema_version": schema.SCHEMA_VERSION,
        "audit": {"entries": head.seq if head else 0, "head_hash": head.hash if head else ""},
    }
    for spec in schema.SPECS:
        c = spec.codec
        table: dict[str, Any] = {}
        rows = tools.ordered_rows(db, spec)
        if len(c.names) == 2:  # meta, counters: plain key = value
            if rows:
                doc[spec.name] = {str(k): v for k, v in rows}
            continue
        for row in rows:
            rec = {n: v for n, v in zip(c.names, row, strict=True) if v is not None}
            for name in ("lines", "body", "shares", "cost_months", "revenue_months",
                         "flags", "txids", "requests", "methods", "details", "ssh_keys"):
                if isinstance(rec.get(name), str):
                    rec[name] = json.loads(rec[name])
            table[str(rec.pop(c.key))] = rec
        if table:
            doc[spec.name] = table
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    import tomli_w

    return tomli_w.dumps(_no_nulls(doc))  # TOML has no null: an event body's nulls go


def _no_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value if v is not None]
    return value


# -- backup -----------------------------------------------------------------------------
def backup(ctx: Context, target: Path, *, force: bool = False) -> dict[str, Any]:
    """A consistent copy of the ledger in a SQLite file (taken online: writers carry on).
    From SQLite, SQLite's backup API copies the pages; from PostgreSQL, every row is copied
    into a fresh SQLite ledger with the same schema and chain, so the copy verifies on its
    own (``cloudlease verify --home`` on a home holding it as ledger.db)."""
    import sqlite3

    if target.is_dir():
        raise BadValue(f"{target} is a directory; give a file name")
    if (target.exists() or target.is_symlink()) and not force:
        raise BadValue(f"{target} exists; pass --force to overwrite it")
    db = ctx.db()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        dest = sqlite3.connect(tmp, isolation_level=None)
    except sqlite3.Error as exc:
        raise BadValue(f"cannot write {target}: {exc}") from None
    try:
        if db.dialect == "sqlite":
            tools.backup_sqlite(db, dest)
        else:
            tools.copy_rows(db, Db(dest, "sqlite", str(tmp)))
        dest.close()
        os.replace(tmp, target)
        fsync_dir(target.parent.resolve())
    except sqlite3.Error as exc:
        raise BadValue(f"cannot write {target}: {exc}") from None
    except OSError as exc:
        raise BadValue(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        dest.close()
        tmp.unlink(missing_ok=True)
    head = audit.head(db)
    return {"file": str(target), "engine": db.dialect, "bytes": target.stat().st_size,
            "audit_entries": head.seq if head else 0, "head_hash": head.hash if head else ""}


# -- resolve ----------------------------------------------------------------------------
@dataclass
class Resolution:
    """What ``ledger resolve`` did with each edit the change log holds.

    Attributes:
        reverted / accepted / refused: ``"<noun> <key>"`` labels (refused: with why).
        changes, deltas, counters: what the audit entry records for the accepted edits
            (row hashes, live-row count changes, counter values).
    """

    reverted: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    changes: dict[tuple[str, str], str | None] = field(default_factory=dict, repr=False)
    deltas: dict[str, int] = field(default_factory=dict, repr=False)
    counters: dict[str, int] = field(default_factory=dict, repr=False)


def resolve(ctx: Context, *, accept: bool = False, reason: str | None = None) -> Resolution:
    """After an edit behind the tool's back: clear the change log of edits that were
    reverted (each row hashes to its audit record again); with ``accept`` and a reason,
    record the edited rows as they are now, in the audit chain, as the operator's
    decision. A damaged audit chain is never accepted: restore a backup."""
    from cloudlease.ledger.store import preflight

    if accept and not (reason or "").strip():
        raise BadValue("say why with --reason: the decision is recorded in the audit chain")
    db = ctx.db()
    out = Resolution()
    with db.write(ctx.lock_timeout):
        touched = tools.all_touched(db)
        if not touched:
            preflight(db)  # nothing logged: say what else is wrong, if anything
            return out
        chained = audit.counter_values(audit.head(db))
        for tbl, key, _op in touched:
            _judge(db, out, tbl, key, chained, accept)
        _refuse_unresolved(out, accept)
        audit.append(db, out.changes, out.deltas, _note(out, accept, reason), out.counters)
        audit.clear_touched(db)
        db.commit()
    return out


def _judge(db: Db, out: Resolution, tbl: str, key: str, chained: dict[str, int],
           accept: bool) -> None:
    """One logged edit: reverted (it matches the chain again), accepted, or refused."""
    label = f"{schema.noun(tbl)} {key}"
    if tbl not in schema.BY_NAME:
        out.refused.append(f"{label}: the audit chain itself was changed; restore a backup")
        return
    row = tools.raw_row(db, schema.BY_NAME[tbl], key)
    if tbl == "counters":  # recorded by value in the chain's entries
        value = row[1] if row else None
        if value == chained.get(key):
            out.reverted.append(label)
        elif accept and value is not None:
            out.accepted.append(label)
            out.counters[key] = value
        else:
            out.refused.append(f"{label}: differs from the audit chain")
        return
    now_hash = row_hash(tbl, row) if row else None
    recorded = {k: v for (_, k), v in audit.latest_hashes(db, [(tbl, key)]).items()}
    if recorded.get(key) == now_hash or (row is None and key not in recorded):
        out.reverted.append(label)
    elif accept:
        out.accepted.append(label)
        out.changes[(tbl, key)] = now_hash
        was = key in recorded and recorded[key] is not None
        delta = (row is not None) - was
        if delta:
            out.deltas[tbl] = out.deltas.get(tbl, 0) + delta
    else:
        out.refused.append(f"{label}: differs from its audit record")


def _refuse_unresolved(out: Resolution, accept: bool) -> None:
    """Conflict (nothing written) when an edit is neither reverted nor accepted, or the
    chain itself was changed."""
    if out.refused and (not accept or any("audit chain" in r for r in out.refused)):
        raise Conflict("not resolved: " + "; ".join(out.refused[:3])
                       + ("" if accept else "; revert the edits, or run 'cloudlease "
                          "ledger resolve --accept --reason ...' to record the rows as "
                          "they are now"))


def _note(out: Resolution, accept: bool, reason: str | None) -> str:
    """The audit entry's command line: what was resolved, and why."""
    what = "edits accepted: " + ", ".join(out.accepted) if out.accepted else \
        "edits reverted: " + ", ".join(out.reverted)
    note = f"ledger resolve: {what}" + (f" (reason: {reason.strip()})" if accept and
                                         reason else "")
    return note[:200]


# -- schema -----------------------------------------------------------------------------
def schema_ddl(ctx: Context) -> dict[str, Any]:
    """The ledger's SQL schema for this home (PostgreSQL's when its ledger is shared, else
    SQLite's; a home without a ledger gets SQLite's): ``{dialect, version, ddl}``."""
    dialect = "postgresql" if ctx.exists() and ctx.ledger_url else "sqlite"
    return {"dialect": dialect, "version": schema.SCHEMA_VERSION,
            "ddl": ";\n\n".join(schema.ddl(dialect)) + ";\n"}


# -- migrate ----------------------------------------------------------------------------
def migrate(ctx: Context, *, check: bool = False, force: bool = False) -> dict[str, Any]:
    from cloudlease.ledger.migrate import migrate as run

    home = ctx.home
    if not home.legacy_ledger.exists():
        if home.db.exists() or ctx.ledger_url:
            return {"migrated": False, "message": "nothing to migrate: the ledger is already "
                    "in SQL"}
        raise LedgerError(f"no ledger.toml in {home.path} to migrate", code="ledger_missing")
    result = run(ctx, force=force, check_only=check, quiet=True)
    return {"migrated": result.done, "check": check, "leases": result.leases,
            "requests": result.requests, "records": result.records,
            "problems": result.problems, "notes": result.notes, "moved_to": result.moved_to,
            "at": clock.now()}
