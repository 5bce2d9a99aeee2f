"""Money: integer satoshis and Decimal fiat. No float ever touches an amount.

Amounts typed by people look like ``1500 sat``, ``0.00002 BTC`` or ``0.40 USD``; a bare
number is read as sats. The number is ASCII digits with at most one ``.`` (see
``validate``): ``0,5 BTC``, ``1_000 sat`` and other scripts' digits are refused, never read
as something else. Fiat converts to sats at a locked rate, rounding up to the whole
sat. Splits use the largest-remainder method so the parts always add up to the whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, localcontext
from fractions import Fraction

from cloudlease.core.errors import BadValue
from cloudlease.core.validate import number

SATS_PER_BTC = 100_000_000
MAX_SATS = 21_000_000 * SATS_PER_BTC
DUST_SATS = 546  # the largest standard dust threshold (P2PKH): on-chain only, see below

_AMOUNT = re.compile(r"[ \t]*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)[ \t]*([A-Za-z]{0,5})[ \t]*")
_MAX_AMOUNT_CHARS = 60
MAX_RATE = Decimal(10) ** 15  # fiat per BTC; far above any currency's real rate
_FIAT_CODE = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class Fiat:
    """A fiat amount.

    Attributes:
        amount: the value as a Decimal (never a float).
        currency: ISO 4217 code, e.g. ``USD``.
    """

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError("Fiat amount must be a Decimal")
        if not _FIAT_CODE.match(self.currency):
            raise BadValue(f"not a currency code: {self.currency!r}")

    def __str__(self) -> str:
        return f"{format_decimal(self.amount)} {self.currency}"


Amount = int | Fiat
"""An amount is either integer sats or a Fiat value."""


def format_decimal(value: Decimal, places: int | None = None) -> str:
    """Plain decimal text, never scientific notation."""
    if places is not None:
        value = value.quantize(Decimal(1).scaleb(-places))
    return format(value, "f")


def plain(value: Decimal) -> Decimal:
    """Without a trailing zero or exponent: 20.0 → 20, 1.50 → 1.5 (TOML adds ``.0``).

    Exact at any size: ``normalize``/``quantize`` work within the context's 28 digits and
    raised InvalidOperation (or rounded) on a longer number someone typed."""
    if not value.is_finite():
        return value
    if value == value.to_integral_value():
        return Decimal(int(value))
    return Decimal(format(value, "f").rstrip("0"))


def btc_text(sats: int) -> str:
    """Sats as BTC in plain decimal, trailing zeros dropped: 20000 → ``0.0002``."""
    text = format(Decimal(sats).scaleb(-8), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def parse_amount(text: str, *, currency: str | None = None, what: str = "amount") -> Amount:
    """Parse ``1500 sat`` / ``1500`` / ``0.00002 BTC`` / ``0.40 USD`` into sats or Fiat.

    ``currency`` is the ledger's fiat currency: a fiat amount in any other currency is
    refused, so a typo never prices a lease in the wrong money.
    """
    forms = f"'1500 sat', '0.0002 BTC' or '0.40 {currency or 'USD'}'"
    if not isinstance(text, str):
        raise BadValue(f"{what}: expected an amount like {forms}")
    m = _AMOUNT.fullmatch(text) if len(text) <= _MAX_AMOUNT_CHARS else None
    if not m:
        shown = repr(text[:_MAX_AMOUNT_CHARS]) + ("…" if len(text) > _MAX_AMOUNT_CHARS else "")
        raise BadValue(f"{what}: {shown} is not an amount; use {forms} (ASCII digits with at "
                       "most one '.' as the decimal point; no sign, separators or exponent)")
    number, unit = m.group(1), m.group(2)
    value = Decimal(number)  # the regex admits ASCII digits and one point only
    unit_up = unit.upper()
    if unit_up in ("", "SAT", "SATS"):
        if value != value.to_integral_value():
            raise BadValue(f"{what}: sats are whole numbers, got {text.strip()!r}")
        sats = int(value)
    elif unit_up == "BTC":
        scaled = value.scaleb(8)
        if scaled != scaled.to_integral_value():
            raise BadValue(f"{what}: {text.strip()!r} has more than 8 decimal places")
        sats = int(scaled)
    elif _FIAT_CODE.match(unit_up):
        if currency is not None and unit_up != currency:
            raise BadValue(f"{what}: this ledger prices in {currency}, not {unit_up}")
        if value <= 0:
            raise BadValue(f"{what} must be more than zero, got {text.strip()!r}")
        return Fiat(value, unit_up)
    else:
        raise BadValue(f"{what}: unknown unit {unit!r} (use sat, BTC or a currency code)")
    if sats <= 0:
        raise BadValue(f"{what} must be more than zero, got {text.strip()!r}")
    if sats > MAX_SATS:
        raise BadValue(f"{what}: {text.strip()!r} is more than 21 million BTC")
    return sats


def parse_rate(text: str, what: str = "rate") -> Decimal:
    """An exchange rate typed by a person: fiat per 1 BTC, positive, in the one number
    syntax (``1,5`` is refused, never read as 15)."""
    return number(text, what, low=0, low_open=True, high=MAX_RATE,
                  expect=f"a positive number of fiat units per BTC, at most {MAX_RATE:,}")


def fiat_to_sats(amount: Decimal, rate: Decimal) -> int:
    """Sats for a fiat amount at ``rate`` (fiat per BTC), rounded up to the whole sat."""
    if rate <= 0:
        raise BadValue(f"exchange rate must be positive, got {format_decimal(rate)}")
    with localcontext() as ctx:
        ctx.prec = 50  # exact enough that a whole number of sats is never pushed up by one
        ctx.rounding = ROUND_CEILING
        sats = (amount * SATS_PER_BTC / rate).to_integral_value(rounding=ROUND_CEILING)
    return int(sats)


def sats_to_fiat(sats: int, rate: Decimal, places: int = 2) -> Decimal:
    """Fiat value of sats at ``rate`` (fiat per BTC), rounded half-even to ``places``."""
    return (Decimal(sats) * rate / SATS_PER_BTC).quantize(Decimal(1).scaleb(-places))


def split(total: int, weights: Mapping[str, int | Fraction | Decimal]) -> dict[str, int]:
    """Split ``total`` sats in proportion to ``weights`` by the largest-remainder method.

    Every part is ``floor(total * w / sum(w))``; the sats left over go one each to the
    largest remainders, ties broken by name. The parts always sum to ``total``.
    Zero weights get zero; with no positive weight the result is all zeros (and a
    non-zero total cannot be split, so that raises).
    """
    if total < 0:
        raise BadValue("cannot split a negative amount")
    exact = {name: Fraction(w) for name, w in weights.items()}
    if any(w < 0 for w in exact.values()):
        raise BadValue("split weights must not be negative")
    whole = sum(exact.values(), Fraction(0))
    if whole == 0:
        if total:
            raise BadValue("cannot split an amount with no positive weight")
        return {name: 0 for name in exact}
    parts: dict[str, int] = {}
    remainders: list[tuple[Fraction, str]] = []
    for name, w in exact.items():
        share = total * w / whole
        parts[name] = share.numerator // share.denominator
        remainders.append((share - parts[name], name))
    left = total - sum(parts.values())
    remainders.sort(key=lambda item: (-item[0], item[1]))
    for _, name in remainders[:left]:
        parts[name] += 1
    return parts


def total(amounts: Iterable[int]) -> int:
    """Sum of sat amounts, refusing anything that is not an int (a float sneaking in)."""
    result = 0
    for value in amounts:
        if type(value) is not int:
            raise TypeError(f"sat amounts must be int, got {type(value).__name__}")
        result += value
    return result


def methods_for_amount(amount_sats: int, methods: tuple[str, ...], *,
                       lightning_available: bool = False) -> tuple[str, ...]:
    """How a request of ``amount_sats`` can be paid. Dust is an on-chain rule (an output
    under ``DUST_SATS`` could not be spent): Lightning takes any amount of at least 1 sat.
    Under the limit, ``both`` becomes Lightning only; on-chain alone is refused (exit 2)."""
    if amount_sats < 1:
        raise BadValue("an amount must be at least 1 sat")
    if "onchain" not in methods or amount_sats >= DUST_SATS:
        return methods
    if "lightning" in methods:
        return ("lightning",)
    how = ("pay it over Lightning (--method lightning), " if lightning_available else
           "configure a Lightning node ([lightning] in config.toml) to take it, ")
    raise BadValue(f"{amount_sats:,} sat is below the on-chain dust limit ({DUST_SATS} sat): "
                   f"an output that small could not be spent; {how}or ask for more",
                   code="below_dust")
