"""The value checks of config.toml's keys: what each kind of value may be.

Each check takes the TOML value (floats arrive as ``Decimal``: ``config.load`` parses with
``parse_float=Decimal``) and returns the value the settings object holds, or raises
``Bad`` saying what was given and what is allowed ("got 0; expected a whole number from 1
to 10080"); the schema adds the file and the key (``config.toml:payment.expiry_minutes``).
A check is pure: it reads no file and asks no network.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from cloudlease.core.tax import COUNTRIES

MAX_SECONDS = 3600


class Bad(Exception):
    """A value that does not fit its key; the message says what is allowed."""


Check = Callable[[Any], Any]


def shown(value: Any) -> str:
    """A TOML value as a person would write it, for a message (short, escaped)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, Decimal):
        text = str(value)
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "an array"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def has_control(text: str, allow_newline: bool = False) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
               and not (allow_newline and ch in "\n\t") for ch in text)


def whole(low: int, high: int) -> Check:
    """A TOML integer (not a float, not a bool) from ``low`` to ``high``."""
    def check(value: Any) -> int:
        if type(value) is not int or not low <= value <= high:
            raise Bad(f"got {shown(value)}; expected a whole number from {low} to {high} "
                      "(a TOML integer, no decimal point or exponent)")
        return value
    return check


def seconds(high: int = MAX_SECONDS, *, as_float: bool = False) -> Check:
    """A duration in seconds, more than 0 and at most ``high`` (integer or decimal): a
    ``Decimal``, or with ``as_float`` the float a subprocess call wants (never money)."""
    def check(value: Any) -> Decimal | float:
        if isinstance(value, float):
            value = Decimal(str(value))
        if type(value) not in (int, Decimal) or (isinstance(value, Decimal)
                                                 and not value.is_finite()) \
                or not 0 < value <= high:
            raise Bad(f"got {shown(value)}; expected seconds, more than 0 and at most {high}")
        return float(value) if as_float else Decimal(value)
    return check


def boolean() -> Check:
    def check(value: Any) -> bool:
        if type(value) is not bool:
            raise Bad(f"got {shown(value)}; expected true or false")
        return value
    return check


def choice(*options: str) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise Bad(f"got {shown(value)}; expected one of {', '.join(options)}")
        return value
    return check


def text(max_len: int = 200, *, multiline: bool = False, blank: bool = True) -> Check:
    """A string without control characters (newlines only when ``multiline``)."""
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise Bad(f"got {shown(value)}; expected a string")
        if has_control(value, allow_newline=multiline):
            raise Bad("contains control characters"
                      + ("" if multiline else " (one line expected)"))
        if len(value) > max_len:
            raise Bad(f"is longer than {max_len} characters")
        if not blank and not value.strip():
            raise Bad("must not be blank")
        return value
    return check


def pattern(regex: str, what: str, *, empty: bool = True) -> Check:
    compiled = re.compile(regex)

    def check(value: Any) -> str:
        if not isinstance(value, str) or not (compiled.fullmatch(value)
                                              or (empty and value == "")):
            raise Bad(f"got {shown(value)}; expected {what}" + (' or ""' if empty else ""))
        return value
    return check


def currency() -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value):
            raise Bad(f"got {shown(value)}; expected a 3-letter currency code such as USD")
        return value.upper()
    return check


def country(*, empty: bool = True) -> Check:
    def check(value: Any) -> str:
        if value == "" and empty:
            return value
        if value == "":
            raise Bad("expected a country code")
        if not isinstance(value, str) or value not in COUNTRIES:
            hint = " (upper case)" if isinstance(value, str) and value.upper() in COUNTRIES \
                else ""
            raise Bad(f"got {shown(value)}; expected an ISO 3166 alpha-2 country code such "
                      f"as DE or US{hint}" + (', or ""' if empty else ""))
        return value
    return check


def email() -> Check:
    def check(value: Any) -> str:
        if value == "":
            return value
        if not isinstance(value, str) or len(value) > 254 or has_control(value) or \
                not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise Bad(f"got {shown(value)}; expected an e-mail address or \"\"")
        return value
    return check


def timezone() -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value or has_control(value):
            raise Bad(f"got {shown(value)}; expected a time zone such as UTC or Europe/Berlin")
        if value == "UTC":  # the default: no need to load the zone database to know it
            return value
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise Bad(f"{value!r} is not a known time zone (e.g. UTC, Europe/Berlin)") from None
        return value
    return check


def positive_decimal(high: Decimal, *, empty: bool = True) -> Check:
    """A number more than 0 (a TOML number or a string of ASCII digits and one point);
    with ``empty``, "" gives None."""
    def check(value: Any) -> Decimal | None:
        if empty and value == "":
            return None
        number = _decimal(value)
        if number is None or not 0 < number <= high:
            raise Bad(f"got {shown(value)}; expected a number more than 0 and at most {high}"
                      + (' or ""' if empty else ""))
        return number
    return check


def percent() -> Check:
    def check(value: Any) -> Decimal:
        number = _decimal(value)
        if number is None or not 0 <= number <= 100:
            raise Bad(f"got {shown(value)}; expected a percentage from 0 to 100 (e.g. 19 or "
                      "\"7.7\")")
        return number
    return check


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, float):
        value = Decimal(str(value))
    if type(value) is int or (isinstance(value, Decimal) and value.is_finite()):
        return Decimal(value)
    if isinstance(value, str) and re.fullmatch(r"[ ]*([0-9]+(\.[0-9]*)?|\.[0-9]+)[ ]*",
                                              value) and len(value) <= 40:
        return Decimal(value.strip())
    return None


def command(*, empty: bool = False) -> Check:
    """A command line: one line that splits into a program and its arguments (with
    ``empty``, "" too: no command)."""
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise Bad(f"got {shown(value)}; expected a command line (a string)")
        if empty and value == "":
            return value
        if has_control(value):
            raise Bad("contains control characters; expected one command line")
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise Bad(f"cannot be split into words ({exc})") from None
        if not argv:
            raise Bad("is blank; give a command, or remove the key")
        return value
    return check


def path() -> Check:
    return text(1024)


def absolute_path(*, empty: bool = False) -> Check:
    """An absolute path (``/...``), one line."""
    one = text(1024)

    def check(value: Any) -> str:
        value = one(value)
        if empty and value == "":
            return value
        if not value.startswith("/"):
            raise Bad(f"got {shown(value)}; expected an absolute path (starting with /)"
                      + (' or ""' if empty else ""))
        return value
    return check


def ip_address() -> Check:
    def check(value: Any) -> str:
        import ipaddress

        try:
            ipaddress.ip_address(value if isinstance(value, str) else "")
        except ValueError:
            raise Bad(f"got {shown(value)}; expected an IP address such as 127.0.0.1 or "
                      "::1") from None
        return value
    return check


def url(*schemes: str, loopback_http: bool = False, empty: bool = True,
        host_required: bool = True) -> Check:
    """A URL that parses one way only (see ``net.parse_url``)."""
    def check(value: Any) -> str:
        from cloudlease.net import parse_url

        if empty and value == "":
            return value
        if not isinstance(value, str) or not value:
            raise Bad(f"got {shown(value)}; expected a URL ({'/'.join(schemes)})")
        try:
            parse_url(value, schemes=schemes, loopback_http=loopback_http,
                      host_required=host_required)
        except ValueError as exc:
            raise Bad(str(exc)) from None
        return value
    return check


def url_list(*schemes: str, most: int = 20) -> Check:
    one = url(*schemes, empty=False)

    def check(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise Bad(f"got {shown(value)}; expected an array of URLs")
        if len(value) > most:
            raise Bad(f"has {len(value)} URLs; at most {most}")
        out = []
        for i, item in enumerate(value, 1):
            try:
                out.append(one(item))
            except Bad as exc:
                raise Bad(f"URL {i}: {exc}") from None
        return tuple(out)
    return check


def members(options: tuple[str, ...], what: str) -> Check:
    """A non-empty array of names from ``options`` (duplicates counted once)."""
    def check(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise Bad(f"got {shown(value)}; expected a non-empty array of {what} "
                      f"({', '.join(options)})")
        for item in value:
            if item not in options:
                raise Bad(f"unknown {what[:-1]} {shown(item)}; {what}: {', '.join(options)}")
        return tuple(dict.fromkeys(value))
    return check


def secret(least: int = 16) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str) or len(value) < least or has_control(value) \
                or value != value.strip() or len(value) > 1024:
            raise Bad(f"expected a string of at least {least} characters (no spaces around, "
                      "no control characters); e.g. the output of 'openssl rand -hex 32'")
        return value
    return check


def networks(most: int = 100) -> Check:
    """An array of IP addresses or networks (``127.0.0.1``, ``10.0.0.0/8``, ``::1``)."""
    def check(value: Any) -> tuple[str, ...]:
        import ipaddress

        if not isinstance(value, list) or len(value) > most:
            raise Bad(f"got {shown(value)}; expected an array of at most {most} IP addresses "
                      "or networks (e.g. [\"127.0.0.1\", \"10.0.0.0/8\"])")
        out = []
        for item in value:
            try:
                out.append(str(ipaddress.ip_network(item, strict=False)))
            except (TypeError, ValueError):
                raise Bad(f"{shown(item)} is not an IP address or network") from None
        return tuple(out)
    return check


def names(most: int = 1000) -> Check:
    """An array of record names (plans, pools): printable, no surrounding spaces."""
    def check(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or len(value) > most or not all(
                isinstance(v, str) and v and v == v.strip() and len(v) <= 64
                and not has_control(v) for v in value):
            raise Bad(f"got {shown(value)}; expected an array of names (e.g. [\"standard\"])")
        return tuple(dict.fromkeys(value))
    return check
