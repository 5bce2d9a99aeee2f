"""Names and ids for shell completion, read from the ledger: fast, without the writer
lock, without creating or upgrading anything (a read-only open of a local ledger), and
nothing at all for a home that does not exist."""

from __future__ import annotations

import os

WHAT = {"plans": "plans", "tenants": "tenants", "pools": "pools", "leases": "leases",
        "requests": "requests", "events": "events", "invoices": "invoices"}
ID_PREFIX = {"leases": "L-", "requests": "P-", "events": "E-", "invoices": "D-"}
LIMIT = 100


def values(home: str | None, what: str, incomplete: str) -> list[str]:
    """What ``what`` (plans, tenants, pools, leases, requests, events, invoices) has that
    starts with ``incomplete``, at most ``LIMIT``."""
    from cloudlease.ops.context import Context, default_home

    path = home or os.environ.get("CLOUDLEASE_HOME") or str(default_home())
    ctx = Context.at(path)
    if not ctx.exists():
        return []
    db = _open(ctx)
    try:
        from cloudlease.ledger.session import Ledger

        ledger = Ledger(db, writable=False)
        prefix = incomplete
        if what in ID_PREFIX and prefix[:1].upper() == ID_PREFIX[what][0]:
            prefix = ID_PREFIX[what] + prefix[2:] if len(prefix) > 1 else ID_PREFIX[what]
        found = getattr(ledger, WHAT[what]).keys_like(prefix, LIMIT)
        if what == "invoices":  # issued numbers complete too
            found += ledger.invoices.numbers_like(incomplete.upper(), LIMIT)
        return found
    finally:
        db.close()


def _open(ctx):
    url = ctx.ledger_url
    if url:
        from cloudlease.ledger.db import open_postgres

        return open_postgres(url, lock_timeout=0, connect_timeout=2)
    from cloudlease.ledger.db import open_sqlite_read_only

    return open_sqlite_read_only(ctx.home.db)
