"""Named queries: every look-up the rest of cloudlease makes, by name, on the session's
tables. Nothing outside ``ledger/`` writes SQL; ``ops/`` asks here instead::

    ledger = ctx.read()
    ledger.leases.due_to_end(now)              # active leases whose time is up
    ledger.requests.by_idempotency_key(key)    # the request a key made, or None
    ledger.deliveries.due(now, limit=50)       # hook and webhook deliveries to make

Each table of a session (``session.Table``: ``get``, ``[]``, ``many``, ``all`` by key) has
its table's mixin below mixed in, so a named query loads records like any other look-up:
cached in the session, checked against the audit chain in a write. Each one runs on an
index of ``schema.py`` (named in the mixin's docstring), so its cost follows what it
returns, not the size of the ledger.

- ``leasing``: ``Leases`` (``by_idempotency_key``, ``due_to_end``, ``of_tenant``,
  ``listing``, ``count_in_pool``, ``holding_slots``, ``in_pool``,
  ``active_without_machine``, ``count_of_tenant``), ``Machines`` (``in_states``),
  ``Plans`` (``in_pool``), ``Tenants`` (``current``).
- ``money``: ``Requests`` (``watched``, ``by_idempotency_key``, ``address_taken``,
  ``with_address``, ``latest_indexed``, ``last_paid_index``, ``count_indexed_after``,
  ``of_keys_wallet``, ``paid_to_keys_wallet``, ``open_of_tenant``,
  ``unsettled_with_money``, ``settled``, ``count_of_tenant``), ``Payments``
  (``onchain_of``), ``Transfers`` (``pending``, ``recorded``, ``not_failed``,
  ``change_addresses``).
- ``funding``: ``Contributions`` (``of_pool``, ``count_in_pool``, ``stake_of``,
  ``settled``, ``count_of_tenant``), ``Payouts`` (``of_pool``, ``of_period``),
  ``Invoices`` (``by_number``, ``number_taken``, ``not_void``, ``listing``,
  ``issued_to``, ``taxed``, ``count_of_tenant``).
- ``delivery``: ``Deliveries`` (``of_event``, ``due``, ``failing``, ``undelivered``,
  ``latest_delivered``).

Queries over the ledger as a whole rather than records (a dump, a backup, the
invariants ``verify`` checks) are functions of ``ledger/tools.py``.
"""

from __future__ import annotations

from cloudlease.ledger.queries._base import Named
from cloudlease.ledger.queries.delivery import Deliveries
from cloudlease.ledger.queries.funding import Contributions, Invoices, Payouts
from cloudlease.ledger.queries.leasing import Leases, Machines, Plans, Tenants
from cloudlease.ledger.queries.money import Payments, Requests, Transfers

# table name → the named queries mixed into its session table
NAMED: dict[str, type[Named]] = {
    "tenants": Tenants, "plans": Plans, "leases": Leases, "payment_requests": Requests,
    "payments": Payments, "contributions": Contributions, "payouts": Payouts,
    "invoices": Invoices, "deliveries": Deliveries, "machines": Machines,
    "transfers": Transfers,
}

__all__ = ["NAMED", "Contributions", "Deliveries", "Invoices", "Leases", "Machines", "Named",
           "Payments", "Payouts", "Plans", "Requests", "Tenants", "Transfers"]
