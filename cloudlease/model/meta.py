"""Ledger-wide facts, the counters record ids are numbered from, and reading those ids."""

from __future__ import annotations

import dataclasses

from cloudlease.model.record import Record


@dataclasses.dataclass(frozen=True, slots=True)
class Meta(Record):
    """A ledger-wide fact fixed at init or by an upgrade (network, currency, ids).

    Attributes:
        key: the fact's name (``network``, ``currency``, ``created_at``, ``ledger_id``,
            ``schema_version``, ``wallet_descriptor``...).
        value: its value as text.
    """

    key: str
    value: str


@dataclasses.dataclass(frozen=True, slots=True)
class Counter(Record):
    """The last number handed out of a kind (``lease`` → L-n, ``address_index``...).

    Attributes:
        kind: what it counts.
        value: the last value handed out (0 before the first).
    """

    kind: str
    value: int


def record_number(record_id: str) -> int:
    """The counter part of an id such as ``L-12`` (12); -1 when it is not such an id."""
    prefix, _, digits = record_id.rpartition("-")
    return int(digits) if digits.isdigit() and prefix.isalpha() and len(prefix) <= 3 else -1
