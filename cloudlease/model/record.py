"""The record mixin: typed conversion of ledger records from and to plain dicts.

``from_dict`` checks every field against its annotation and names the record and field
at fault, so a hand-edited ledger fails with ``leases.L-3.hours: expected an integer``
rather than a traceback later. ``to_dict`` drops unset (None) fields: TOML has no null.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any, Self

from cloudlease.core.errors import LedgerError


class Record:
    """Mixin: typed conversion from and to plain TOML-ready dicts."""

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Self:
        if not isinstance(data, dict):
            raise LedgerError(f"{where}: expected a table, got {_kind(data)}")
        fields, names, _ = _schema(cls)
        values: dict[str, Any] = {}
        for name, convert, required in fields:
            if name in data:
                values[name] = convert(data[name], where, name)
            elif required:
                raise LedgerError(f"{where}: missing field {name!r}")
        if len(values) != len(data):
            unknown = set(data) - names
            raise LedgerError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        return cls(**values)

    @classmethod
    def from_json(cls, data: Any, where: str) -> Self:
        """Like ``from_dict`` for JSON data, where date-times and decimals are strings."""
        if isinstance(data, dict):
            _, _, text_fields = _schema(cls)
            data = dict(data)
            for name, parse in text_fields.items():
                value = data.get(name)
                if isinstance(value, str):
                    try:
                        data[name] = parse(value)
                    except (ValueError, ArithmeticError):
                        pass  # from_dict names the field and what is wrong with it
        return cls.from_dict(data, where)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None or value == () and f.default == () or \
                    value == {} and f.default_factory is dict:  # type: ignore[misc]
                continue
            if isinstance(value, StrEnum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (``dataclasses.replace``), or this record itself when
        they change nothing: a tick evaluates every open request several times a pass and
        most evaluations change nothing, so the no-op costs a comparison, not a copy."""
        for name, value in changes.items():
            if getattr(self, name) != value:
                break
        else:
            return self
        values = {name: getattr(self, name) for name in _init_names(type(self))}
        values.update(changes)
        return type(self)(**values)


@cache
def _init_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@cache
def _schema(cls: type) -> tuple[tuple, frozenset[str], dict[str, Any]]:
    """Per record class, once: (name, converter, required) per field, the field names, and
    the fields that JSON carries as text (date-times and decimals) with their parsers.
    Building records is the hot path of loading a ledger or an archive segment."""
    hints = _hints(cls)
    fields = []
    text: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint = hints[f.name]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        fields.append((f.name, _converter(hint), required))
        base = _base(hint)
        if base is datetime:
            text[f.name] = datetime.fromisoformat
        elif base is Decimal:
            text[f.name] = Decimal
    return tuple(fields), frozenset(hints), text


def _converter(hint: Any) -> Any:
    """A converter for one field: fast checks for the shapes records use (scalars,
    optional scalars, enums, string tuples), falling back to the general ``_coerce`` —
    which also writes the error message — for anything unexpected."""
    base, optional = hint, False
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            base, optional = args[0], True
    fast: Any = None
    if base in (int, str, bool):
        def fast(value: Any) -> bool:
            return type(value) is base
    elif base is datetime:
        def fast(value: Any) -> bool:
            return isinstance(value, datetime) and value.tzinfo is not None
    elif base is Decimal:
        def fast(value: Any) -> bool:
            return type(value) is Decimal and value.is_finite()
    elif isinstance(base, type) and issubclass(base, StrEnum):
        members = {m.value: m for m in base}

        def convert_enum(value: Any, where: str, name: str) -> Any:
            if optional and value is None:
                return None
            member = members.get(value) if isinstance(value, str) else None
            return member if member is not None else _coerce(value, hint, f"{where}.{name}")
        return convert_enum
    elif typing.get_origin(base) is tuple and typing.get_args(base) == (str, ...):
        def convert_strings(value: Any, where: str, name: str) -> Any:
            if type(value) in (list, tuple) and all(type(v) is str for v in value):
                return tuple(value)
            return _coerce(value, hint, f"{where}.{name}")
        return convert_strings

    def convert(value: Any, where: str, name: str) -> Any:
        if fast is not None and (fast(value) or optional and value is None):
            return value
        return _coerce(value, hint, f"{where}.{name}")
    return convert


def _base(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _kind(value: Any) -> str:
    return {
        bool: "a boolean", int: "an integer", str: "a string", Decimal: "a decimal number",
        list: "an array", dict: "a table", datetime: "a date-time",
    }.get(type(value), type(value).__name__)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` as a field of type ``hint``, or LedgerError naming ``where`` and what it
    should have been: optional fields, arrays and tables item by item, enums by value,
    scalars by their exact type."""
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], where)
    if origin is tuple:
        return _coerce_array(value, hint, where)
    if origin is dict or hint is dict:
        return _coerce_table(value, hint, where)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(m.value for m in hint)
            raise LedgerError(f"{where}: {value!r} is not one of {allowed}") from None
    return _coerce_scalar(value, hint, where)


def _coerce_array(value: Any, hint: Any, where: str) -> tuple:
    (item,) = typing.get_args(hint)[:1]
    if not isinstance(value, list | tuple):
        raise LedgerError(f"{where}: expected an array, got {_kind(value)}")
    return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))


def _coerce_table(value: Any, hint: Any, where: str) -> dict:
    """A ``dict[str, X]`` field item by item; a plain ``dict`` field as it is."""
    if not isinstance(value, dict):
        raise LedgerError(f"{where}: expected a table, got {_kind(value)}")
    if hint is dict:
        return value
    _, item = typing.get_args(hint)
    return {str(k): _coerce(v, item, f"{where}.{k}") for k, v in value.items()}


#: scalar field types: the test a value must pass, and what the error says it should be
_SCALARS: dict[Any, tuple[Callable[[Any], bool], str]] = {
    bool: (lambda v: type(v) is bool, "a boolean"),
    int: (lambda v: type(v) is int, "an integer"),
    Decimal: (lambda v: isinstance(v, Decimal) and v.is_finite(), "a decimal number"),
    datetime: (lambda v: isinstance(v, datetime) and v.tzinfo is not None, "a UTC date-time"),
    str: (lambda v: isinstance(v, str), "a string"),
}


def _coerce_scalar(value: Any, hint: Any, where: str) -> Any:
    if hint is Decimal and type(value) is int:
        return Decimal(value)  # a whole decimal, given as an integer
    scalar = _SCALARS.get(hint)
    if scalar is None:  # pragma: no cover - a record declared a type this does not know
        raise TypeError(f"unsupported field type {hint!r}")
    test, expected = scalar
    if not test(value):
        raise LedgerError(f"{where}: expected {expected}, got {_kind(value)}")
    return value
