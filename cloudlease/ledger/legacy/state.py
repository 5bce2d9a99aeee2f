"""The in-memory ledger and its TOML form.

``ledger.toml`` is written only by the tool: stable key order, one table per record,
UTC timestamps, integer sats, Decimal fiat. Reading validates every record and names
the one at fault; an older ``schema_version`` is upgraded, a newer one refused.
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from datetime import datetime
from decimal import Decimal
from typing import Any

from cloudlease.core.errors import LedgerError, NotFound
from cloudlease.model import (
    Contribution,
    Invoice,
    Lease,
    PaymentRequest,
    Payout,
    Plan,
    Pool,
    Record,
    Tenant,
    record_number,
)

SCHEMA_VERSION = 1

# table name → (record class, key field)
TABLES: dict[str, type[Record]] = {
    "tenants": Tenant,
    "plans": Plan,
    "pools": Pool,
    "leases": Lease,
    "requests": PaymentRequest,
    "contributions": Contribution,
    "payouts": Payout,
    "invoices": Invoice,
}
_KEY_FIELD = {"tenants": "name", "plans": "name", "pools": "name", "leases": "id",
              "requests": "id", "contributions": "id", "payouts": "id", "invoices": "id"}
_ID_PREFIX = {"lease": "L", "request": "P", "contribution": "C", "invoice": "D"}


@dataclasses.dataclass
class Ledger:
    """Everything in ``ledger.toml``: settings fixed at init, counters, records.

    Attributes:
        network: the Bitcoin network, fixed at ``init``.
        currency: the fiat currency for prices and reports.
        created_at: when the ledger was made.
        audit_seq: sequence number of the audit entry that wrote this version.
        counters: the last number handed out per id kind (``lease``, ``request``...).
        wallet: wallet state (``next_index`` for descriptor wallets).
        idempotency: keys of sealed leases → {lease, sealed_at}, kept 30 days after sealing
            (keys of leases still in the hot ledger live on the lease itself).
        archives: sealed archive segments: number → {file, sha256, leases, sealed_at}.
        tenants, plans, pools, leases, requests, contributions, payouts, invoices: the
            records, keyed by name or id (leases and their requests move to the archive
            when sealed; the others stay).
        hooks_pending: hook events that failed and are retried on the next tick.
    """

    network: str
    currency: str
    created_at: datetime
    schema_version: int = SCHEMA_VERSION
    audit_seq: int = 0
    counters: dict[str, int] = dataclasses.field(default_factory=dict)
    wallet: dict[str, Any] = dataclasses.field(default_factory=dict)
    idempotency: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    archives: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    tenants: dict[str, Tenant] = dataclasses.field(default_factory=dict)
    plans: dict[str, Plan] = dataclasses.field(default_factory=dict)
    pools: dict[str, Pool] = dataclasses.field(default_factory=dict)
    leases: dict[str, Lease] = dataclasses.field(default_factory=dict)
    requests: dict[str, PaymentRequest] = dataclasses.field(default_factory=dict)
    contributions: dict[str, Contribution] = dataclasses.field(default_factory=dict)
    payouts: dict[str, Payout] = dataclasses.field(default_factory=dict)
    invoices: dict[str, Invoice] = dataclasses.field(default_factory=dict)
    hooks_pending: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    # -- ids ---------------------------------------------------------------------------
    def next_id(self, kind: str) -> str:
        """Hand out the next id of a kind (``L-7``); ids are never reused."""
        n = self.counters.get(kind, 0) + 1
        self.counters[kind] = n
        return f"{_ID_PREFIX[kind]}-{n}"

    # -- look-ups that raise NotFound with a helpful message ------------------------------
    def tenant(self, name: str) -> Tenant:
        t = self.tenants.get(name)
        if t is None or t.removed_at is not None:
            raise NotFound(f"no tenant named {name!r} (see 'cloudlease tenant list')")
        return t

    def plan(self, name: str) -> Plan:
        try:
            return self.plans[name]
        except KeyError:
            raise NotFound(f"no plan named {name!r} (see 'cloudlease plan list')") from None

    def pool(self, name: str) -> Pool:
        try:
            return self.pools[name]
        except KeyError:
            raise NotFound(f"no pool named {name!r} (see 'cloudlease pool list')") from None

    def request(self, request_id: str) -> PaymentRequest:
        rid = normalize_id(request_id, "P")
        try:
            return self.requests[rid]
        except KeyError:
            raise NotFound(f"no payment request {request_id!r} in the open ledger") from None


def normalize_id(text: str, prefix: str) -> str:
    """Accept ``L-7``, ``l-7``, ``L7`` or ``7`` for lease 7."""
    t = text.strip().upper()
    if t.startswith(prefix):
        t = t[len(prefix):].lstrip("-")
    return f"{prefix}-{t}" if t.isdigit() else text.strip()


# -- TOML form -------------------------------------------------------------------------
def parse_toml(data: bytes, source: str = "ledger.toml") -> dict[str, Any]:
    """The ledger file as plain TOML data (no validation yet)."""
    try:
        return tomllib.loads(data.decode("utf-8"), parse_float=Decimal)
    except UnicodeDecodeError:
        raise LedgerError(f"{source} is not UTF-8 text; restore it from a backup") from None
    except tomllib.TOMLDecodeError as exc:
        raise LedgerError(f"{source} is not valid TOML ({exc}); "
                          "it may be truncated or hand-edited") from None


def loads(data: bytes, source: str = "ledger.toml") -> Ledger:
    """Parse and validate a ledger, upgrading an older schema in memory."""
    return from_toml_dict(parse_toml(data, source), source)


def from_toml_dict(raw: dict[str, Any], source: str = "ledger.toml") -> Ledger:
    version = raw.get("schema_version")
    if type(version) is not int:
        raise LedgerError(f"{source}: schema_version is missing or not an integer")
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"{source} has schema_version {version}, newer than this cloudlease understands "
            f"({SCHEMA_VERSION}); upgrade cloudlease", code="schema_too_new")
    while version < SCHEMA_VERSION:
        upgrade = UPGRADES.get(version)
        if upgrade is None:
            raise LedgerError(f"{source}: no upgrade path from schema_version {version}")
        raw = upgrade(raw)
        version = raw["schema_version"]
    for key in ("network", "currency"):
        if not isinstance(raw.get(key), str):
            raise LedgerError(f"{source}: {key} is missing or not a string")
    created = raw.get("created_at")
    if not isinstance(created, datetime):
        raise LedgerError(f"{source}: created_at is missing or not a date-time")
    audit_seq = raw.get("audit_seq", 0)
    if type(audit_seq) is not int:
        raise LedgerError(f"{source}: audit_seq must be an integer")
    ledger = Ledger(network=raw["network"], currency=raw["currency"], created_at=created,
                    audit_seq=audit_seq)
    ledger.counters = _int_table(raw.get("counters", {}), f"{source}: counters")
    ledger.wallet = _table(raw.get("wallet", {}), f"{source}: wallet")
    ledger.idempotency = _table(raw.get("idempotency", {}), f"{source}: idempotency")
    for key, value in ledger.idempotency.items():
        if not isinstance(value, dict) or not isinstance(value.get("lease"), str):
            raise LedgerError(f"{source}: idempotency.{key} must be a table with a lease id")
    ledger.archives = _table(raw.get("archives", {}), f"{source}: archives")
    for table, cls in TABLES.items():
        records = _table(raw.get(table, {}), f"{source}: {table}", copied=False)
        key_field = _KEY_FIELD[table]
        parsed = {}
        for key, data in records.items():
            rec = cls.from_dict(data, f"{table}.{key}")
            if getattr(rec, key_field) != key:
                raise LedgerError(f"{table}.{key}: {key_field} is {getattr(rec, key_field)!r}, "
                                  "which does not match the table key")
            parsed[key] = rec
        setattr(ledger, table, parsed)
    pending = raw.get("hooks_pending", [])
    if not isinstance(pending, list) or not all(isinstance(p, dict) for p in pending):
        raise LedgerError(f"{source}: hooks_pending must be an array of tables")
    ledger.hooks_pending = copy.deepcopy(pending)
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise LedgerError(f"{source}: unknown top-level key {sorted(unknown)[0]!r}")
    return ledger


_TOP_KEYS = {"schema_version", "network", "currency", "created_at", "audit_seq", "counters",
             "wallet", "idempotency", "archives", "hooks_pending", *TABLES}


def _table(value: Any, where: str, *, copied: bool = True) -> dict[str, Any]:
    """The table, copied: the ledger is changed in place, and the parsed file it came from
    is what a transaction compares it with to see whether anything changed. (Record
    tables need no copy: every record becomes a new object.)"""
    if not isinstance(value, dict):
        raise LedgerError(f"{where} must be a table")
    return copy.deepcopy(value) if copied else value


def _int_table(value: Any, where: str) -> dict[str, int]:
    table = _table(value, where)
    for k, v in table.items():
        if type(v) is not int or v < 0:
            raise LedgerError(f"{where}.{k} must be a non-negative integer")
    return dict(table)


# -- schema upgrades: one function per old version, each returning the next version ------
def _upgrade_0_to_1(raw: dict[str, Any]) -> dict[str, Any]:
    """Version 0 (pre-release) kept no counters: derive them from the ids present."""
    raw = dict(raw)
    counters: dict[str, int] = {}
    for kind, table in (("lease", "leases"), ("request", "requests")):
        numbers = [record_number(k) for k in raw.get(table, {})]
        counters[kind] = max(numbers, default=0)
    raw["counters"] = counters
    raw["schema_version"] = 1
    return raw


UPGRADES = {0: _upgrade_0_to_1}
