"""The SQL schema: one table per record kind, the audit chain, and the touch log.

The record tables are generated from the record classes in ``model/`` (one column per
field, see ``codec.py``), so the model is the one source of truth; ``cloudlease ledger
schema`` prints the DDL and the README documents it. The same DDL runs on SQLite and
PostgreSQL, with two differences: INTEGER is BIGINT on PostgreSQL, and the touch
triggers are written in each engine's own trigger language.

Integrity tables:
- ``audit``: the hash chain. One row per write: seq, the previous row's hash, time,
  host, pid, command, the live-row counts per table after the write, a digest of the
  rows it changed, and its own hash.
- ``audit_rows``: for each write, every row it changed (table, key) and the SHA-256 of
  the row as written (NULL: deleted). The latest entry for a row is what the chain says
  the row must hash to.
- ``ledger_touch``: filled by triggers on every table on any INSERT, UPDATE or DELETE.
  cloudlease empties it in the same transaction as its own writes, so whatever is there
  at the start of a write was done behind its back (sqlite3 shell, psql): the write is
  refused, naming the record.
- ``verify_checkpoint``: the last audit row ``verify`` checked, so the next run starts
  there (``verify --full`` ignores it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudlease import model
from cloudlease.ledger.codec import RecordCodec, codec

SCHEMA_VERSION = 4  # upgrades from older versions: UPGRADES at the end


@dataclass(frozen=True)
class Spec:
    """A record table: its record class, key, and the indexes operators and commands use.
    The codec (columns from the class's type hints) is built the first time a command
    touches the table, not for every table at start-up."""

    cls: type
    name: str
    key: str
    indexes: tuple[tuple[str, bool], ...] = ()  # (column list, unique)

    @property
    def codec(self) -> RecordCodec:
        return codec(self.cls, self.name, self.key)  # cached per class


def _spec(cls: type, table: str, key: str, *indexes: tuple[str, bool]) -> Spec:
    return Spec(cls, table, key, indexes)


SPECS: tuple[Spec, ...] = (
    _spec(model.Meta, "meta", "key"),
    _spec(model.Counter, "counters", "kind"),
    _spec(model.Tenant, "tenants", "name"),
    _spec(model.Plan, "plans", "name"),
    _spec(model.Pool, "pools", "name"),
    _spec(model.Lease, "leases", "id",
          ("status", False), ("tenant", False), ("pool, status", False),
          ("idempotency_key", True), ("closed_at", False)),
    _spec(model.PaymentRequest, "payment_requests", "id",
          ("status", False), ("lease", False), ("address", True), ("settled_at", False),
          ("tenant", False), ("contribution", False), ("idempotency_key", True),
          ("ln_payment_hash", True), ("address_index", False), ("seen_at", False)),
    _spec(model.Payment, "payments", "id", ("request", False)),
    _spec(model.Contribution, "contributions", "id",
          ("pool", False), ("tenant", False), ("request", False)),
    _spec(model.Payout, "payouts", "id", ("pool", False)),
    _spec(model.Invoice, "invoices", "id", ("tenant, period", False), ("number", True)),
    _spec(model.Event, "events", "id"),
    _spec(model.Delivery, "deliveries", "id", ("status, created_at", False), ("event", False)),
    _spec(model.MachineRecord, "machines", "lease", ("state", False)),
    _spec(model.Transfer, "transfers", "id",
          ("request", False), ("txid", False), ("status", False), ("created_at", False)),
    _spec(model.Renewal, "renewals", "lease", ("status", False)),
)
BY_NAME = {s.name: s for s in SPECS}
BY_CLASS = {s.cls: s for s in SPECS}
# tables whose rows the touch triggers watch, with their key column
WATCHED = tuple((s.name, s.key) for s in SPECS) + (("audit", "seq"),
                                                          ("audit_rows", "seq"))


NOUNS = {"meta": "ledger fact", "counters": "counter", "tenants": "tenant", "plans": "plan",
         "pools": "pool", "leases": "lease", "payment_requests": "payment request",
         "payments": "payment", "contributions": "contribution", "payouts": "payout",
         "invoices": "invoice", "events": "event", "deliveries": "delivery",
         "machines": "machine of lease",
         "transfers": "transfer", "renewals": "renewal of lease",
         "audit": "audit entry", "audit_rows": "audit entry"}


def noun(table: str) -> str:
    """What a row of ``table`` is called in messages (``payment request P-3``)."""
    return NOUNS.get(table, table)


def _type(sql_type: str, dialect: str) -> str:
    return "BIGINT" if sql_type == "INTEGER" and dialect == "postgresql" else sql_type


def table_ddl(spec: Spec, dialect: str) -> list[str]:
    c = spec.codec
    cols = [f"    {col.name} {_type(col.sql_type, dialect)}"
            + ("" if col.nullable else " NOT NULL") for col in c.columns]
    out = [f"CREATE TABLE {c.table} (\n" + ",\n".join(cols)
           + f",\n    PRIMARY KEY ({c.key})\n)"]
    for columns, unique in spec.indexes:
        name = f"{c.table}_{columns.replace(', ', '_')}"
        out.append(f"CREATE {'UNIQUE ' if unique else ''}INDEX {name} ON {c.table} "
                   f"({columns})")
    return out


def integrity_ddl(dialect: str) -> list[str]:
    big = _type("INTEGER", dialect)
    return [
        f"""CREATE TABLE audit (
    seq {big} NOT NULL PRIMARY KEY,
    prev_hash TEXT NOT NULL,
    at TEXT NOT NULL,
    host TEXT NOT NULL,
    pid {big} NOT NULL,
    command TEXT NOT NULL,
    counts TEXT NOT NULL,
    rows_digest TEXT NOT NULL,
    hash TEXT NOT NULL
)""",
        f"""CREATE TABLE audit_rows (
    seq {big} NOT NULL,
    tbl TEXT NOT NULL,
    key TEXT NOT NULL,
    hash TEXT,
    PRIMARY KEY (tbl, key, seq)
)""",
        "CREATE INDEX audit_rows_seq ON audit_rows (seq)",
        """CREATE TABLE ledger_touch (
    tbl TEXT NOT NULL,
    key TEXT NOT NULL,
    op TEXT NOT NULL,
    PRIMARY KEY (tbl, key)
)""",
        f"""CREATE TABLE verify_checkpoint (
    id {big} NOT NULL PRIMARY KEY,
    seq {big} NOT NULL,
    hash TEXT NOT NULL,
    at TEXT NOT NULL
)""",
    ]


def trigger_names() -> list[str]:
    return [f"cl_touch_{table}" for table, _ in WATCHED]


def sqlite_triggers() -> list[str]:
    out = []
    for table, key in WATCHED:
        new, old = f"CAST(NEW.{key} AS TEXT)", f"CAST(OLD.{key} AS TEXT)"
        ins = "INSERT INTO ledger_touch (tbl, key, op) VALUES ('{t}', {k}, '{op}') " \
              "ON CONFLICT DO NOTHING;"
        out.append(
            f"CREATE TRIGGER cl_touch_{table} AFTER INSERT ON {table} BEGIN "
            + ins.format(t=table, k=new, op="insert") + " END")
        out.append(
            f"CREATE TRIGGER cl_touch_{table}_u AFTER UPDATE ON {table} BEGIN "
            + ins.format(t=table, k=old, op="update") + " "
            + ins.format(t=table, k=new, op="update") + " END")
        out.append(
            f"CREATE TRIGGER cl_touch_{table}_d AFTER DELETE ON {table} BEGIN "
            + ins.format(t=table, k=old, op="delete") + " END")
    return out


PG_TOUCH_FUNCTION = """CREATE FUNCTION cl_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO ledger_touch (tbl, key, op) VALUES (TG_TABLE_NAME, '*', 'truncate')
            ON CONFLICT DO NOTHING;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO ledger_touch (tbl, key, op)
            VALUES (TG_TABLE_NAME, to_jsonb(OLD) ->> TG_ARGV[0], lower(TG_OP))
            ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO ledger_touch (tbl, key, op)
            VALUES (TG_TABLE_NAME, to_jsonb(NEW) ->> TG_ARGV[0], lower(TG_OP))
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$"""


def pg_triggers() -> list[str]:
    out = [PG_TOUCH_FUNCTION]
    for table, key in WATCHED:
        out.append(f"CREATE TRIGGER cl_touch_{table} AFTER INSERT OR UPDATE OR DELETE ON "
                   f"{table} FOR EACH ROW EXECUTE FUNCTION cl_touch('{key}')")
        out.append(f"CREATE TRIGGER cl_touch_{table}_t BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION cl_touch()")
    return out


def expected_triggers(dialect: str) -> set[str]:
    if dialect == "postgresql":
        return {f"cl_touch_{t}" for t, _ in WATCHED} | {f"cl_touch_{t}_t" for t, _ in WATCHED}
    return {f"cl_touch_{t}{s}" for t, _ in WATCHED for s in ("", "_u", "_d")}


def ddl(dialect: str) -> list[str]:
    """Every statement that creates the current schema on an empty database."""
    out: list[str] = []
    for spec in SPECS:
        out += table_ddl(spec, dialect)
    out += integrity_ddl(dialect)
    out += pg_triggers() if dialect == "postgresql" else sqlite_triggers()
    return out


# -- upgrades: one function per old version, each bringing the schema to the next -------
# (version 1 is the first SQL schema; the TOML ledger before it is migrated by
# ledger/migrate.py). An upgrade runs inside the write transaction that records it
# (store.upgrade). A column is only ever appended and nullable, so the hash of every row
# written before stays what the chain says (codec.row_hash leaves trailing NULLs out).
def _upgrade_1_to_2(dialect: str) -> list[str]:
    """Plans get ``target``: where a cluster driver places their machines."""
    return ["ALTER TABLE plans ADD COLUMN target TEXT"]


def _upgrade_2_to_3(dialect: str) -> list[str]:
    """Pools get ``run_seconds`` (the running-time meter: cost accrues only while a pool
    runs) and ``started_at`` (an explicit ``pool start``)."""
    big = "BIGINT" if dialect == "postgresql" else "INTEGER"
    return [f"ALTER TABLE pools ADD COLUMN run_seconds {big}",
            "ALTER TABLE pools ADD COLUMN started_at TEXT"]


def _repair_2_to_3(ledger: Any) -> None:
    """Pools from before the meter (``core/running.carried_over``): one that never had a
    lease or a contribution forgets the cost it was booked from its creation (and the
    throttle that caused); any other is marked started, so it costs as before."""
    from cloudlease.core import running

    for pool in ledger.pools.all():
        history = bool(ledger.leases.count("pool = ?", (pool.name,))
                       or ledger.contributions.count("pool = ?", (pool.name,)))
        after = running.carried_over(pool, history)
        if after != pool:
            ledger.pools[pool.name] = after


def _upgrade_3_to_4(dialect: str) -> list[str]:
    """Pay as you go (issue 18): minutes and credit on leases, tenants and requests, a
    plan's ``min_minutes`` and ``l402``, and the ``renewals`` table (NWC auto-renewal)
    with its change-log triggers."""
    added = {"leases": ("paid_minutes INTEGER", "credit_sats INTEGER"),
             "tenants": ("credit_sats INTEGER",),
             "plans": ("min_minutes INTEGER", "l402 INTEGER"),
             "payment_requests": ("minutes INTEGER", "credit_used_sats INTEGER",
                                  "credit_kept_sats INTEGER", "comment TEXT", "via TEXT")}
    out = [f"ALTER TABLE {t} ADD COLUMN {c}" for t, cols in added.items() for c in cols]
    spec = BY_NAME["renewals"]
    out += table_ddl(spec, dialect)
    out += [s for s in (pg_triggers()[1:] if dialect == "postgresql" else sqlite_triggers())
            if " ON renewals " in s]
    return out


# Numbered steps: version N upgrades to N + 1, each self-contained (it appends nullable
# columns or adds a table), so branches that each add one renumber the later one.
UPGRADES = {1: _upgrade_1_to_2, 2: _upgrade_2_to_3, 3: _upgrade_3_to_4}
REPAIRS = {2: _repair_2_to_3}  # records put right in the same write, after the DDL
