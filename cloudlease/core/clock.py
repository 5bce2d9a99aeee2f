"""The one source of "now". Tests and drills pin it with CLOUDLEASE_NOW (ISO 8601, UTC).

Every time read from outside (CLOUDLEASE_NOW, ``--as-of``, ``--period``) must fall between
the genesis block and the year 9000: far enough from ``datetime.max`` that adding a payment
window, a monitoring window or a year of rental can never overflow.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from typing import Any

from cloudlease.core.errors import BadValue

EARLIEST = datetime(2009, 1, 3, tzinfo=UTC)  # the genesis block's day
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_RANGE = f"{EARLIEST.date().isoformat()} .. {LATEST.date().isoformat()}"
_PERIOD = re.compile(r"([0-9]{4})-([0-9]{2})")
_MAX_CHARS = 64


def in_range(value: datetime, what: str = "time") -> datetime:
    """``value`` if it lies in the supported range, else ``BadValue``."""
    if not EARLIEST <= value < LATEST:
        raise BadValue(f"{what} {value.isoformat()} is outside the supported range {_RANGE}")
    return value


def parse_utc(text: str, what: str = "time") -> datetime:
    """Parse an ISO 8601 timestamp; naive values are taken as UTC. Result is whole seconds,
    within the supported range."""
    shown = repr(text[:_MAX_CHARS]) if isinstance(text, str) else repr(text)
    if not isinstance(text, str) or len(text) > _MAX_CHARS or not text.isascii() \
            or not text.strip().isprintable():
        raise BadValue(f"{what}: not an ISO 8601 time: {shown}")
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadValue(f"{what}: not an ISO 8601 time: {shown} (e.g. 2026-03-01T12:00:00Z)"
                       ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC).replace(microsecond=0)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is past datetime.max in UTC
        raise BadValue(f"{what} {shown} is outside the supported range {_RANGE}") from None
    return in_range(value, what)


def parse_period(text: str, what: str = "period") -> str:
    """A calendar month ``YYYY-MM`` within the supported range (exit 2 otherwise)."""
    raw = text.strip() if isinstance(text, str) else ""
    m = _PERIOD.fullmatch(raw)
    if not m or not 1 <= int(m.group(2)) <= 12:
        shown = repr(text[:_MAX_CHARS]) if isinstance(text, str) else repr(text)
        raise BadValue(f"{what} must be a month as YYYY-MM (e.g. 2026-03), got {shown}")
    if not EARLIEST.year <= int(m.group(1)) < LATEST.year:
        raise BadValue(f"{what} {raw} is outside the supported range "
                       f"{EARLIEST.year}-01 .. {LATEST.year - 1}-12")
    return raw


def now() -> datetime:
    """Current UTC time, whole seconds; CLOUDLEASE_NOW overrides it."""
    pinned = os.environ.get("CLOUDLEASE_NOW")
    if pinned:
        return parse_utc(pinned, "CLOUDLEASE_NOW")
    return datetime.now(UTC).replace(microsecond=0)


def seconds(value: Any) -> float:
    """A duration in seconds as the float that sockets, subprocesses and ``time.sleep``
    want: the one place a number becomes a float. Durations only; money never does."""
    return float(value)
