"""Records ↔ SQL rows, and the hash of a row.

One column per record field, typed from the record's annotations: ``int`` and ``bool``
become INTEGER (booleans as 0/1), ``str`` and enums TEXT, ``Decimal`` exact decimal TEXT
(never a float), ``datetime`` ISO 8601 UTC TEXT (``2026-12-01T10:00:00+00:00``, which
sorts as time does), tuples and tables JSON TEXT. A row is therefore a tuple of ``int``,
``str`` and ``None`` only, the same on SQLite and PostgreSQL, and its hash is the SHA-256
of a canonical JSON form of its non-null columns: adding a nullable column in a later
schema leaves every existing row's hash unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from typing import Any

from cloudlease.errors import LedgerError

Row = tuple[Any, ...]


@dataclasses.dataclass(frozen=True)
class Column:
    """One column: its name, SQL type (``INTEGER`` or ``TEXT``) and converters."""

    name: str
    sql_type: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any, str], Any]
    nullable: bool
    empty_default: bool = False  # NULL stands for the field's empty default (() or {})


def _base(hint: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    return hint, False


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _where(table: str, key: Any, column: str) -> str:
    return f"{table} {key}: column {column}"


def _column(name: str, hint: Any) -> Column:
    base, optional = _base(hint)
    origin = typing.get_origin(base)
    if base is bool:
        def dec_bool(v: Any, where: str) -> bool:
            if v in (0, 1) and type(v) is int:
                return bool(v)
            raise LedgerError(f"{where}: expected 0 or 1, got {v!r}")
        return Column(name, "INTEGER", lambda v: int(v), dec_bool, optional)
    if base is int:
        def dec_int(v: Any, where: str) -> int:
            if type(v) is int:
                return v
            raise LedgerError(f"{where}: expected an integer, got {v!r}")
        return Column(name, "INTEGER", lambda v: v, dec_int, optional)
    if base is str:
        def dec_str(v: Any, where: str) -> str:
            if isinstance(v, str):
                return v
            raise LedgerError(f"{where}: expected text, got {v!r}")
        return Column(name, "TEXT", lambda v: v, dec_str, optional)
    if isinstance(base, type) and issubclass(base, StrEnum):
        members = {m.value: m for m in base}

        def dec_enum(v: Any, where: str) -> Any:
            m = members.get(v) if isinstance(v, str) else None
            if m is None:
                raise LedgerError(f"{where}: {v!r} is not one of {', '.join(members)}")
            return m
        return Column(name, "TEXT", lambda v: v.value, dec_enum, optional)
    if base is Decimal:
        def dec_decimal(v: Any, where: str) -> Decimal:
            try:
                d = Decimal(v) if isinstance(v, str) else None
            except InvalidOperation:
                d = None
            if d is None or not d.is_finite():
                raise LedgerError(f"{where}: expected a decimal number as text, got {v!r}")
            return d
        return Column(name, "TEXT", lambda v: format(v, "f"), dec_decimal, optional)
    if base is datetime:
        def dec_time(v: Any, where: str) -> datetime:
            try:
                t = datetime.fromisoformat(v) if isinstance(v, str) else None
            except ValueError:
                t = None
            if t is None or t.tzinfo is None:
                raise LedgerError(f"{where}: expected an ISO 8601 UTC time, got {v!r}")
            return t
        return Column(name, "TEXT", encode_time, dec_time, optional)
    if origin is tuple or base is dict or origin is dict:
        want = tuple if origin is tuple else dict

        def dec_json(v: Any, where: str) -> Any:
            try:
                data = json.loads(v) if isinstance(v, str) else None
            except ValueError:
                data = None
            if want is tuple and isinstance(data, list):
                return tuple(data)
            if want is dict and isinstance(data, dict):
                return data
            raise LedgerError(f"{where}: expected JSON {'array' if want is tuple else 'object'}"
                              f", got {v!r}")
        # empty tuples/dicts are stored as NULL: the field's default
        empty: Any = () if want is tuple else {}

        def enc_json(v: Any) -> Any:
            return None if v == empty else _json_text(list(v) if want is tuple else v)

        return Column(name, "TEXT", enc_json, dec_json, True, empty_default=True)
    raise TypeError(f"unsupported record field type {hint!r}")  # pragma: no cover


def encode_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).isoformat()


@dataclasses.dataclass(frozen=True)
class RecordCodec:
    """How one record class maps to one table."""

    cls: type
    table: str
    key: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def encode(self, record: Any) -> Row:
        out = []
        for col in self.columns:
            value = getattr(record, col.name)
            out.append(None if value is None else col.encode(value))
        return tuple(out)

    def decode(self, row: Row) -> Any:
        values: dict[str, Any] = {}
        key = row[self.names.index(self.key)]
        for col, value in zip(self.columns, row, strict=True):
            if value is None:
                if col.empty_default:
                    continue  # the field's empty default
                if not col.nullable:
                    raise LedgerError(f"{_where(self.table, key, col.name)}: is empty but "
                                      "must be set")
                continue
            values[col.name] = col.decode(value, _where(self.table, key, col.name))
        try:
            return self.cls(**values)
        except TypeError as exc:  # a required field missing
            raise LedgerError(f"{self.table} {key}: {exc}") from None


@cache
def codec(cls: type, table: str, key: str) -> RecordCodec:
    hints = typing.get_type_hints(cls)
    cols = []
    for f in dataclasses.fields(cls):
        cols.append(_column(f.name, hints[f.name]))
    return RecordCodec(cls, table, key, tuple(cols))


def row_hash(table: str, names: tuple[str, ...], row: Row) -> str:
    """SHA-256 of a row's canonical form: the table and its non-null (column, value) pairs."""
    body = [table, [[n, v] for n, v in zip(names, row, strict=True) if v is not None]]
    return hashlib.sha256(_json_text(body).encode()).hexdigest()
