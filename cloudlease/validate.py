"""Checks on values people type: names, hours, e-mail addresses, free text."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from cloudlease.errors import BadValue

MAX_HOURS = 24 * 366  # a year: anything longer is a typo, not a rental
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def name(text: str, what: str = "name", max_len: int = 64) -> str:
    """A record name: 1..64 printable characters, no surrounding spaces."""
    if has_control(text):
        raise BadValue(f"{what} must not contain control characters: {text!r}")
    if not text.strip():
        raise BadValue(f"{what} must not be empty")
    if text != text.strip():
        raise BadValue(f"{what} must not start or end with spaces: {text!r}")
    if len(text) > max_len:
        raise BadValue(f"{what} is longer than {max_len} characters")
    return text


def free_text(text: str, what: str, max_len: int = 200) -> str:
    if has_control(text):
        raise BadValue(f"{what} must not contain control characters: {text!r}")
    if len(text) > max_len:
        raise BadValue(f"{what} is longer than {max_len} characters")
    return text


def email(text: str) -> str:
    text = text.strip()
    if has_control(text) or not _EMAIL.match(text) or len(text) > 254:
        raise BadValue(f"not an e-mail address: {text!r}")
    return text


def hours(text: str | int) -> int:
    """Whole hours from 1 to a year; refuses 0, negatives, fractions, NaN, inf, junk."""
    raw = str(text).strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise BadValue(f"hours must be a whole number, got {raw!r}") from None
    if not value.is_finite():
        raise BadValue(f"hours must be a finite whole number, got {raw!r}")
    if value != value.to_integral_value():
        raise BadValue(f"hours must be a whole number, got {raw!r}")
    if value <= 0:
        raise BadValue(f"hours must be at least 1, got {raw!r}")
    if value > MAX_HOURS:
        raise BadValue(f"hours must be at most {MAX_HOURS} (a year), got {raw!r}")
    return int(value)


def idempotency_key(text: str) -> str:
    if not text or len(text) > 128 or has_control(text) or text != text.strip():
        raise BadValue("idempotency key must be 1..128 printable characters, no surrounding "
                       "spaces")
    return text
