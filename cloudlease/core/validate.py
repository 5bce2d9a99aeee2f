"""Checks on values people type: names, numbers, hours, e-mail addresses, free text.

Numbers (amounts, counts, hours, rates, percents, fee rates, seconds) have one syntax:
ASCII digits with at most one ``.`` as the decimal point (``2``, ``0.5``, ``.5``). No
sign, no exponent, no thousands separator (``1,5`` is not 15 and ``1_000`` is not 1000),
no other script's digits (``Decimal('١٢')`` is 12), no NaN or infinity. Anything else is
``BadValue`` (exit 2) naming the accepted forms.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

from cloudlease.core.errors import BadValue

MAX_HOURS = 24 * 366  # a year: anything longer is a typo, not a rental
MAX_NUMBER_CHARS = 40  # more digits than any real amount, count or rate
NUMBER_FORMS = "ASCII digits with at most one '.' as the decimal point (e.g. 2, 0.5, 1500)"
WHOLE_FORMS = "ASCII digits only (e.g. 1, 24, 168)"  # hours, counts: never a fraction
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
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


TENANT_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
TENANT_FORMS = ("lower-case ASCII letters, digits and '-' (1 to 64 characters, starting "
                "and ending with a letter or digit)")


def tenant_name(text: str) -> str:
    """A new tenant's name: ``TENANT_FORMS``. The name is the tenant's account in the books
    (``liabilities:investors:<name>``) and may appear in a page's address, so only what
    hledger, beancount (which capitalises it) and a URL take as it is: nothing is ever
    rewritten. A person's or company's name goes in ``--billing-name``. Tenants made
    before this rule keep their names (the books then add a short hash, see
    ``journals.tenant_components``)."""
    name(text, "tenant name")
    if not TENANT_NAME.fullmatch(text):
        hint = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64].strip("-")
        like = hint if TENANT_NAME.fullmatch(hint) and hint != text else "alice"
        raise BadValue(f"tenant name {_show(text)} is not allowed: use {TENANT_FORMS}, e.g. "
                       f"{like!r}; a person's or company's name goes in --billing-name",
                       code="bad_name")
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


def number_syntax(text: str | int, what: str, expect: str = "a number",
                  forms: str = NUMBER_FORMS) -> str:
    """The number's text, stripped, if it has the one accepted syntax (see the module doc);
    else ``BadValue`` saying what was expected and the accepted ``forms`` (a whole number's
    examples are whole: ``WHOLE_FORMS``)."""
    if type(text) is int:
        text = str(text)
    prefix = f"{what}: " if what else ""
    if not isinstance(text, str):
        raise BadValue(f"{prefix}expected {expect}; use {forms}")
    raw = text.strip(" \t")
    if len(raw) > MAX_NUMBER_CHARS:
        raise BadValue(f"{prefix}{_show(raw)} is too long for {expect} ({forms})")
    if not _NUMBER.fullmatch(raw):
        sign = "; no sign" if raw.startswith(("-", "+")) else ""
        raise BadValue(f"{prefix}{_show(raw)} is not {expect}; use {forms}{sign}")
    return raw


def _range(low: Decimal | int | None, high: Decimal | int | None, low_open: bool) -> str:
    if low is not None and high is not None and not low_open:
        return f" from {low} to {high}"
    parts = []
    if low is not None:
        parts.append(f"more than {low}" if low_open else f"at least {low}")
    if high is not None:
        parts.append(f"at most {high}")
    return (", " + " and ".join(parts)) if parts else ""


def number(text: str | int, what: str, *, low: Decimal | int | None = None,
           high: Decimal | int | None = None, low_open: bool = False,
           expect: str | None = None) -> Decimal:
    """A Decimal in the accepted syntax, within ``low``..``high`` (``low_open``: above low)."""
    expect = expect or "a number" + _range(low, high, low_open)
    value = Decimal(number_syntax(text, what, expect))
    if (low is not None and (value < low or (low_open and value == low))) or \
            (high is not None and value > high):
        raise BadValue(f"{what} must be {expect}, got {_show(str(text).strip())}")
    return value


def whole(text: str | int, what: str, *, low: int | None = None,
          high: int | None = None, expect: str | None = None) -> int:
    """A whole number in the accepted syntax (no fraction), within ``low``..``high``."""
    expect = expect or "a whole number" + _range(low, high, False)
    value = Decimal(number_syntax(text, what, expect, WHOLE_FORMS))
    if value != value.to_integral_value() or (low is not None and value < low) or \
            (high is not None and value > high):
        raise BadValue(f"{what} must be {expect}, got {_show(str(text).strip())}")
    return int(value)


def hours(text: str | int) -> int:
    """Whole hours from 1 to a year; refuses 0, fractions, signs, separators and junk."""
    return whole(text, "hours", low=1, high=MAX_HOURS,
                 expect=f"a whole number of hours, at least 1 and at most {MAX_HOURS}")


def _show(text: str) -> str:
    """A value quoted for a one-line message: escapes, and cut short when long."""
    shown = repr(text[:MAX_NUMBER_CHARS])
    return shown + ("…" if len(text) > MAX_NUMBER_CHARS else "")


def idempotency_key(text: str) -> str:
    if not text or len(text) > 128 or has_control(text) or text != text.strip():
        raise BadValue("idempotency key must be 1..128 printable characters, no surrounding "
                       "spaces")
    return text


_RECORD_ID = {"L": "lease", "P": "payment request", "E": "event", "D": "invoice draft",
              "C": "contribution", "T": "transfer"}


def record_id(text: str, prefix: str) -> str:
    """A record id of the one form ``<prefix>-<n>`` (``L-7``; the prefix in either case,
    ``n`` ASCII digits without a leading zero); anything else (``L--1``, ``L7``, ``7``,
    ``L-07``, ``L-1x``) is exit 2 naming the accepted form. Returns the canonical id."""
    what = _RECORD_ID.get(prefix, "record")
    t = text.strip() if isinstance(text, str) else ""
    m = re.fullmatch(r"([A-Za-z])-([1-9][0-9]{0,17})", t)
    if m is None or m.group(1).upper() != prefix:
        shown = _show(text) if isinstance(text, str) else repr(text)
        article = "an" if what[0] in "aeiou" else "a"
        raise BadValue(f"{shown} is not {article} {what} id: use {prefix}-<n>, e.g. "
                       f"{prefix}-7", code="bad_id")
    return f"{prefix}-{m.group(2)}"
