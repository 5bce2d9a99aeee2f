"""The facade: every cloudlease operation as a Python API. The CLI (``cli/``) and the web
app (``web/``) use this package and nothing else; so can your own scripts.

Open a home
-----------
``open(path)`` returns a ``Context``: the home's directory, its settings (``config.toml``)
and its ledger, opened on first use (``ledger.db``, or the PostgreSQL ledger config.toml
names). Use it in a ``with`` block, or ``close()`` it::

    from cloudlease import ops

    with ops.open("/var/lib/cloudlease") as ctx:
        rental = ops.leases.rent(ctx, 2, tenant="alice")

``ops.home.init(path, ...)`` makes a new home first (what ``cloudlease init`` does).
Submodules load when first named (``ops.leases``), so a script pays only for what it uses.

Operations
----------
Every operation takes the Context first and returns records (frozen dataclasses of
``cloudlease.model``) or small result objects; ``cloudlease.core.views`` turns any of them
into the JSON shapes ``--json`` prints. By concern:

- ``leases``: ``rent`` (a lease and its payment request), ``listing``, ``show``,
  ``details`` (with its machine), ``cancel``; ``payments``: ``show`` a request, ``extend``
  a lease, ``accept`` a late payment; ``refunds.refund``.
- ``check``: ``check(ctx, ["P-3"])`` asks the chain and the Lightning node about requests
  and applies what they say (``pay check``); ``tick(ctx)`` is cron's whole pass.
- ``tenants``, ``plans``, ``pools`` (``show``, ``listing``, ``fund``, ``payout``,
  ``risk_table``; ``poolrun``: ``start``/``stop`` a pool's running cost), ``invoicing``
  (``create``, ``issue``, ``void``, ``document``), ``books.export``.
- ``wallet`` (``show``, ``sweep``), ``verify.verify``, ``ledgertools`` (``dump``,
  ``backup``, ``resolve``, ``migrate``, ``schema_ddl``), ``deliver`` (``listing``,
  ``redeliver``, ``run_pending``), ``qr`` (terminal, PNG, SVG of a payment URI),
  ``devchain`` (the simulated regtest chain and Lightning node), ``completion`` (values
  for shell completion, read without the lock).
- For ``cloudlease serve``: ``storefront`` (plans on offer, rent and extend by capability
  token), ``leasepage`` (what a lease's page shows: checkout, access, receipts),
  ``tokens`` (capability tokens, stored hashed), ``serving`` (the tick loop's passes).
- Pay as you go: ``prorating`` (what money that does not fit a request buys), ``topups``
  (LNURL-pay), ``l402`` (pay-per-request for scripts and agents), ``renewals`` (NWC
  auto-renewal), ``secrets`` (the serve key their secrets derive from).

Reads and writes
----------------
Each operation that changes something is one write transaction: it takes the ledger's
writer lock (waiting at most ``ctx.lock_timeout`` seconds), checks the rows it loads
against the audit chain, writes only what changed with one audit entry, and commits; an
exception inside writes nothing. Anything slow (the chain, the Lightning node, a
provisioning driver, a hook) is asked before the lock is taken or after it is released.

For your own reports, ``ctx.read()`` is a read session (no lock): its tables look up
records by key (``ledger.leases["L-7"]``, ``ledger.requests.many(ids)``) and by the
ledger's named queries (``ledger.leases.due_to_end(now)``,
``ledger.requests.by_idempotency_key(key)``; ``cloudlease.ledger.queries`` lists them).
``ctx.transaction(action)`` is the write transaction itself, for new operations in
``ops/``; a script changes the ledger through the operations above.

Errors
------
Refusals raise ``cloudlease.core.errors.CloudleaseError`` subclasses, each with a
one-line ``message``, a machine-readable ``code`` and the CLI's ``exit_code``:
``BadValue`` 2, ``NotFound`` 3, ``Conflict`` 4, ``LedgerError`` 5 (missing, invalid,
locked, tampered), ``BackendError`` 6 (chain, rate or Lightning backend unavailable: nothing
was changed). A refused operation leaves the ledger as it was. Anything else is a bug.

Example::

    from cloudlease import ops
    from cloudlease.core.errors import CloudleaseError

    with ops.open(home) as ctx:
        try:
            rental = ops.leases.rent(ctx, 2, plan="standard")
        except CloudleaseError as exc:
            raise SystemExit(f"error: {exc.message}") from None  # exit_code: exc.exit_code
        print(rental.request.id, rental.request.amount_sats)
        report = ops.check.check(ctx, [rental.request.id])
        print(report.statuses[rental.request.id])              # new, processing, settled...
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloudlease.ops.context import Context

# the operations, one module per concern (imported when first named: ``ops.leases``)
MODULES = ("books", "check", "completion", "context", "deliver", "devchain", "home",
           "invoicing", "l402", "leasepage", "leases", "ledgertools", "lnrequests",
           "payment_requests", "payments", "plans", "poolrun", "pools", "poolstate",
           "prorating", "provisioning", "qr", "quote", "refunds", "renewals", "secrets",
           "serving", "sshkeys", "storefront", "tenants", "tokens", "topups", "transfers",
           "verify", "wallet")

__all__ = ["MODULES", "open", *MODULES]


def open(path: str | os.PathLike[str], *, lock_timeout: float | None = None) -> Context:
    """A ``Context`` on the home at ``path``: what every operation takes first.
    ``LedgerError`` (exit 5) when no ledger is there (``ops.home.init`` makes one).
    ``lock_timeout``: seconds a write waits for the ledger's writer lock (default 5)."""
    from cloudlease.core.errors import LedgerError
    from cloudlease.ops.context import Context

    ctx = Context.at(path, lock_timeout)
    if not ctx.exists():
        raise LedgerError(f"no cloudlease ledger at {ctx.home.path} (run 'cloudlease init "
                          f"--home {ctx.home.path}')", code="ledger_missing")
    return ctx


def __getattr__(name: str) -> Any:
    if name in MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
