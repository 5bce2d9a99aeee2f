"""Records ↔ SQL rows, and the hash of a row.

One column per record field, typed from the record's annotations: ``int`` and ``bool``
become INTEGER (booleans as 0/1), ``str`` and enums TEXT, ``Decimal`` exact decimal TEXT
(never a float), ``datetime`` ISO 8601 UTC TEXT (``2026-12-01T10:00:00+00:00``, which
sorts as time does), tuples and tables JSON TEXT. A row is therefore a tuple of ``int``,
``str`` and ``None`` only, the same on SQLite and PostgreSQL.

A row's hash is the SHA-256 of the compact JSON array ``[table, [value, ...]]`` of its
columns in schema order, trailing NULLs left out (UTF-8, no ASCII escaping): exact
(integers and text stay apart), cheap (the C encoder), and unchanged for existing rows
when a later schema appends a nullable column.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any

from cloudlease.core.errors import LedgerError

Row = tuple[Any, ...]
TEXT, INT, OTHER = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class Column:
    """One column: its name, SQL type, and how its values convert.

    Attributes:
        kind: TEXT or INT when the stored value is the field's value (checked by type),
            OTHER when ``parse`` converts it (raising ValueError/TypeError when it cannot).
        expect: what a good value looks like, for error messages.
        empty_default: NULL stands for the field's empty default (``()`` or ``{}``).
    """

    name: str
    sql_type: str
    encode: Callable[[Any], Any]
    parse: Callable[[Any], Any] | None
    kind: int
    expect: str
    nullable: bool
    empty_default: bool = False
    required: bool = False  # a field without a default: NULL is passed on as None


def _base(hint: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0], True
    return hint, False


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def encode_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).isoformat()


def _parse_bool(v: Any) -> bool:
    if type(v) is int and v in (0, 1):
        return bool(v)
    raise ValueError(v)


def _parse_decimal(v: Any) -> Decimal:
    d = Decimal(v) if type(v) is str else None
    if d is None or not d.is_finite():
        raise ValueError(v)
    return d


def _parse_time(v: Any) -> datetime:
    t = datetime.fromisoformat(v)
    if t.tzinfo is None:
        raise ValueError(v)
    return t


_JSON_OBJECT = "a JSON object"  # what a dict column holds (its records are not shared)


def _column(name: str, hint: Any) -> Column:
    base, optional = _base(hint)
    origin = typing.get_origin(base)
    if base is bool:
        return Column(name, "INTEGER", int, _parse_bool, OTHER, "0 or 1", optional)
    if base is int:
        return Column(name, "INTEGER", lambda v: v, None, INT, "an integer", optional)
    if base is str:
        return Column(name, "TEXT", lambda v: v, None, TEXT, "text", optional)
    if isinstance(base, type) and issubclass(base, StrEnum):
        members = base._value2member_map_
        return Column(name, "TEXT", lambda v: v.value, members.__getitem__, OTHER,
                      "one of " + ", ".join(m.value for m in base), optional)
    if base is Decimal:
        return Column(name, "TEXT", lambda v: format(v, "f"), _parse_decimal, OTHER,
                      "a decimal number as text", optional)
    if base is datetime:
        return Column(name, "TEXT", encode_time, _parse_time, OTHER,
                      "an ISO 8601 UTC time", optional)
    if origin is tuple or base is dict or origin is dict:
        want = tuple if origin is tuple else dict
        empty: Any = () if want is tuple else {}

        def parse_json(v: Any) -> Any:
            data = json.loads(v)
            if want is tuple and type(data) is list:
                return tuple(data)
            if want is dict and type(data) is dict:
                return data
            raise ValueError(v)

        def enc_json(v: Any) -> Any:
            return None if v == empty else _json_text(list(v) if want is tuple else v)
        return Column(name, "TEXT", enc_json, parse_json, OTHER,
                      "a JSON array" if want is tuple else _JSON_OBJECT, True,
                      empty_default=True)
    raise TypeError(f"unsupported record field type {hint!r}")  # pragma: no cover


@dataclasses.dataclass(frozen=True)
class RecordCodec:
    """How one record class maps to one table."""

    cls: type
    table: str
    key: str
    columns: tuple[Column, ...]
    names: tuple[str, ...] = ()
    key_index: int = 0
    shareable: bool = False  # records hold no mutable field (no dict): one may serve twice
    _memo: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(c.name for c in self.columns))
        object.__setattr__(self, "key_index", self.names.index(self.key))

    def decode_row(self, row: Row) -> Any:
        """``decode``, remembering the record for an identical row: a command reads open
        rows before it asks the chain and again inside its write transaction, and a frozen
        record of the same row is the same record (rows whose records hold a dict are
        decoded afresh each time)."""
        if not self.shareable:
            return self.decode(row)
        try:
            rec = self._memo.get(row)
        except TypeError:  # a row that is not a tuple of plain values
            return self.decode(row)
        if rec is None:
            if len(self._memo) >= _MEMO_ROWS:
                self._memo.clear()
            rec = self._memo[row] = self.decode(row)
        return rec

    def encode(self, record: Any) -> Row:
        return tuple(None if (v := getattr(record, c.name)) is None else c.encode(v)
                     for c in self.columns)

    def decode(self, row: Row) -> Any:
        values: dict[str, Any] = {}
        for col, v in zip(self.columns, row, strict=True):
            if v is None:
                if col.empty_default:
                    continue
                if col.nullable:
                    if col.required:
                        values[col.name] = None
                    continue
                self._fail(row, col, v, "is empty but must be set")
            kind = col.kind
            if kind == TEXT:
                if type(v) is not str:
                    self._fail(row, col, v)
            elif kind == INT:
                if type(v) is not int:
                    self._fail(row, col, v)
            else:
                try:
                    v = col.parse(v)  # type: ignore[misc]
                except (ValueError, TypeError, KeyError, ArithmeticError):
                    self._fail(row, col, v)
            values[col.name] = v
        try:
            return self.cls(**values)
        except TypeError as exc:  # a required field missing
            raise LedgerError(f"{self.table} {row[self.key_index]}: {exc}") from None

    def _fail(self, row: Row, col: Column, v: Any, what: str | None = None) -> None:
        raise LedgerError(f"{self.table} {row[self.key_index]}: column {col.name} "
                          + (what or f"should be {col.expect}, got {v!r}"),
                          code="ledger_invalid")


@cache
def codec(cls: type, table: str, key: str) -> RecordCodec:
    hints = typing.get_type_hints(cls)
    cols = []
    for f in dataclasses.fields(cls):
        col = _column(f.name, hints[f.name])
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            col = dataclasses.replace(col, required=True)
        cols.append(col)
    shareable = not any(c.expect == _JSON_OBJECT for c in cols)  # no dict in the record
    return RecordCodec(cls, table, key, tuple(cols), shareable=shareable)


_MEMO_ROWS = 8192  # decoded rows remembered per table


_ROW_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False,
                             default=repr).encode


def row_hash(table: str, row: Row) -> str:
    """SHA-256 of a row's canonical form (see the module docstring)."""
    n = len(row)
    while n and row[n - 1] is None:
        n -= 1
    return hashlib.sha256(_ROW_JSON([table, row[:n]]).encode()).hexdigest()
