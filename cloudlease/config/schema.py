"""The schema of ``config.toml``: every table, every key, its type, range and default.

``config.parse`` walks this schema; nothing in the file escapes it. An unknown table or key
(with a "did you mean" for a misspelling), a wrong type (``hooks = 5``, a float where a
whole number belongs, ``1e20`` minutes), a value out of range or not among the choices is a
``LedgerError`` (exit 5) whose one-line message names ``config.toml:table.key`` and what is
allowed there.

Each check takes the TOML value (floats arrive as ``Decimal``: ``load`` parses with
``parse_float=Decimal``) and returns the value for ``Settings`` or raises ``Bad`` with the
reason; the caller adds the file and key.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cloudlease.core.money import MAX_RATE, MAX_SATS
from cloudlease.core.tax import COUNTRIES

NETWORKS = ("mainnet", "testnet", "testnet4", "signet", "regtest")
BACKENDS = ("devchain", "esplora", "bitcoind")
HOOK_EVENTS = ("lease_active", "lease_ended", "lease_expired", "payment_processing",
               "pool_low_funds", "pool_throttled", "pool_restored", "provision_ready",
               "provision_failed", "payment_refund_due", "renewal_failed")
RATE_SOURCES = ("fixed", "live")
WALLET_KINDS = ("keys", "descriptor")
LIGHTNING_BACKENDS = ("none", "devchain", "electrum", "lnd")
MAX_SECONDS = 3600

# ISO 3166-1 alpha-2 (tzdata's iso3166.tab, 249 codes).



class Bad(Exception):
    """A value that does not fit its key; the message says what is allowed."""


Check = Callable[[Any], Any]


@dataclass(frozen=True)
class Key:
    """One key of a table: its check and its default (used when the key is absent)."""

    check: Check
    default: Any


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


def _has_control(text: str, allow_newline: bool = False) -> bool:
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


def seconds(high: int = MAX_SECONDS) -> Check:
    """A duration in seconds, more than 0 and at most ``high`` (integer or decimal)."""
    def check(value: Any) -> Decimal:
        if isinstance(value, float):
            value = Decimal(str(value))
        if type(value) not in (int, Decimal) or (isinstance(value, Decimal)
                                                 and not value.is_finite()) \
                or not 0 < value <= high:
            raise Bad(f"got {shown(value)}; expected seconds, more than 0 and at most {high}")
        return Decimal(value)
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
        if _has_control(value, allow_newline=multiline):
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


def country() -> Check:
    def check(value: Any) -> str:
        if value == "":
            return value
        if not isinstance(value, str) or value not in COUNTRIES:
            hint = " (upper case)" if isinstance(value, str) and value.upper() in COUNTRIES \
                else ""
            raise Bad(f"got {shown(value)}; expected an ISO 3166 alpha-2 country code such "
                      f"as DE or US{hint}, or \"\"")
        return value
    return check


def email() -> Check:
    def check(value: Any) -> str:
        if value == "":
            return value
        if not isinstance(value, str) or len(value) > 254 or _has_control(value) or \
                not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise Bad(f"got {shown(value)}; expected an e-mail address or \"\"")
        return value
    return check


def timezone() -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not value or _has_control(value):
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
    """A number more than 0 (a TOML number or a string of ASCII digits and one point)."""
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


def command() -> Check:
    """A hook command: one line that splits into a program and its arguments."""
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise Bad(f"got {shown(value)}; expected a command line (a string)")
        if _has_control(value):
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


def events() -> Check:
    def check(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise Bad(f"got {shown(value)}; expected a non-empty array of event names "
                      f"({', '.join(HOOK_EVENTS)})")
        for item in value:
            if item not in HOOK_EVENTS:
                raise Bad(f"unknown event {shown(item)}; events: {', '.join(HOOK_EVENTS)}")
        return tuple(dict.fromkeys(value))
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
                and not _has_control(v) for v in value):
            raise Bad(f"got {shown(value)}; expected an array of names (e.g. [\"standard\"])")
        return tuple(dict.fromkeys(value))
    return check


def secret(least: int = 16) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str) or len(value) < least or _has_control(value) \
                or value != value.strip() or len(value) > 1024:
            raise Bad(f"expected a string of at least {least} characters (no spaces around, "
                      "no control characters); e.g. the output of 'openssl rand -hex 32'")
        return value
    return check


# table name ("" for the top level) → key → Key. ``config.parse`` maps them to Settings.
SCHEMA: dict[str, dict[str, Key]] = {
    "": {
        "network": Key(choice(*NETWORKS), "regtest"),
        "currency": Key(currency(), "USD"),
    },
    "operator": {
        "name": Key(text(200), ""),
        "address": Key(text(1000, multiline=True), ""),
        "vat_id": Key(pattern(r"[A-Za-z0-9][A-Za-z0-9 .+*-]{1,31}",
                              "a VAT id such as DE123456789"), ""),
        "country": Key(country(), ""),
        "email": Key(email(), ""),
        "payment_terms": Key(text(500, multiline=True), "Due on receipt."),
        "timezone": Key(timezone(), "UTC"),
    },
    "payment": {
        "expiry_minutes": Key(whole(1, 7 * 24 * 60), 15),
        "monitoring_hours": Key(whole(1, 90 * 24), 24),
        "confirmations": Key(whole(0, 100), 1),
        "zero_conf_max_sats": Key(whole(0, MAX_SATS), 0),
        # pay as you go (core/prorate.py): what money that does not fit the request buys
        "underpaid": Key(choice("wait", "prorate"), "wait"),
        "late": Key(choice("accept", "prorate"), "accept"),
        "overpaid": Key(choice("refund", "prorate"), "refund"),
    },
    "rates": {
        "source": Key(choice(*RATE_SOURCES), "fixed"),
        "fixed": Key(positive_decimal(MAX_RATE), ""),
        "timeout_seconds": Key(seconds(), Decimal(5)),
    },
    "wallet": {
        "kind": Key(choice(*WALLET_KINDS), "keys"),
        "descriptor": Key(text(4000), ""),
        "gap_limit": Key(whole(1, 10_000), 20),
    },
    "backend": {
        "kind": Key(choice(*BACKENDS), "devchain"),
        "esplora_urls": Key(url_list("http", "https"), ()),
        "rpc_url": Key(url("http", "https"), ""),
        "rpc_cookie_file": Key(path(), ""),
        "rpc_wallet": Key(text(200, blank=False), "cloudlease-watch"),
        "timeout_seconds": Key(seconds(), Decimal(10)),
    },
    "hooks": {
        "timeout_seconds": Key(seconds(), Decimal(10)),
        **{event: Key(command(), None) for event in HOOK_EVENTS},
    },
    "tax": {
        "rates": Key(lambda v: v, None),  # a table of its own, checked in config.parse
        "reverse_charge": Key(boolean(), True),
    },
    "ledger": {
        "url": Key(url("postgresql", "postgres", host_required=False), ""),
        "id": Key(pattern(r"^([0-9a-f]{32})?$", "the ledger id init wrote (32 hex digits)"),
                  ""),
    },
    "lightning": {
        "backend": Key(choice(*LIGHTNING_BACKENDS), "none"),
        "url": Key(url("http", "https"), ""),
        "macaroon": Key(path(), ""),
        "tls_cert": Key(path(), ""),
        "timeout_seconds": Key(seconds(), Decimal(10)),
    },
    # cloudlease serve: the tenants' storefront, checkout pages and JSON API (web/)
    "serve": {
        "host": Key(text(253, blank=False), "127.0.0.1"),
        "port": Key(whole(1, 65535), 8080),
        "public_url": Key(url("https", "http"), ""),
        "trusted_proxies": Key(networks(), ()),
        "plans": Key(names(), ()),
        "rate_limit_per_minute": Key(whole(1, 1_000_000), 120),
        "max_open_unpaid": Key(whole(1, 1_000_000), 200),
        "max_open_unpaid_per_client": Key(whole(1, 10_000), 5),
        "chain_poll_seconds": Key(seconds(), Decimal(10)),
    },
    # auto-renewal through the tenant's wallet (Nostr Wallet Connect, ops/renewals.py)
    "renewal": {
        "before_minutes": Key(whole(1, 7 * 24 * 60), 15),
        "timeout_seconds": Key(seconds(), Decimal(30)),
        "allow_loopback_relay": Key(boolean(), False),
    },
    # [provision] is checked by cloudlease/config/provision.py (parse_section): every key
    # its drivers read, with their defaults; config.parse hands the table over whole.
    "provision": {},
}

# [[webhooks]]: an array of tables, each with these keys.
WEBHOOK: dict[str, Key] = {
    "url": Key(url("https", "http", loopback_http=True, empty=False), None),
    "secret": Key(secret(16), None),
    "events": Key(events(), HOOK_EVENTS),
    "timeout_seconds": Key(seconds(), Decimal(10)),
}
ARRAYS = {"webhooks": WEBHOOK}
