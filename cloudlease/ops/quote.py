"""Pricing: hours on a plan → sats, converting fiat at a rate locked now."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cloudlease.config import Settings
from cloudlease.core.errors import BackendError, BadValue
from cloudlease.core.money import MAX_SATS, fiat_to_sats, format_decimal
from cloudlease.core.money import parse_rate as parse_rate  # the one rate parser, re-exported
from cloudlease.model import Plan


@dataclass(frozen=True)
class Quote:
    """A price fixed for a payment request.

    Attributes:
        amount_sats: what to pay, rounded up to the whole sat.
        fiat_amount: the fiat price, when the plan is priced in fiat.
        currency: currency of ``fiat_amount``.
        rate: fiat per BTC used for the conversion.
        rate_source: ``fixed`` (config), ``override`` (--rate) or ``live:...``.
    """

    amount_sats: int
    fiat_amount: Decimal | None = None
    currency: str | None = None
    rate: Decimal | None = None
    rate_source: str | None = None


def lock_rate(settings: Settings, override: Decimal | None = None) -> tuple[Decimal, str]:
    """The rate to lock now: --rate, else config's fixed rate, else a live source."""
    if override is not None:
        return override, "override"
    if settings.rate_source == "fixed":
        if settings.fixed_rate is None:
            raise BadValue(f"no {settings.currency} rate available: set rates.fixed in "
                           "config.toml, pass --rate, or use rates.source = \"live\"")
        return settings.fixed_rate, "fixed"
    if settings.rate_source == "live":
        from cloudlease.bitcoin.rates import live_quote

        try:
            live = live_quote(settings.currency, timeout=settings.rate_timeout)
            return live.rate, f"live:{live.source}"  # the provider, e.g. live:bitpay
        except BackendError:
            raise
        except Exception as exc:  # a rate source failing in a way it does not describe
            raise BackendError(f"live {settings.currency} rate unavailable: {exc}") from None
    raise BadValue(f"rates.source must be fixed or live, got {settings.rate_source!r}")


def quote(settings: Settings, plan: Plan, hours: int, rate: Decimal | None = None,
          extra_sats: int = 0) -> Quote:
    if plan.price_sats is not None:
        q = Quote(plan.price_sats * hours + extra_sats)
    else:
        assert plan.price_fiat is not None
        fiat = plan.price_fiat * hours
        locked, source = lock_rate(settings, rate)
        q = Quote(fiat_to_sats(fiat, locked) + extra_sats, fiat, plan.currency, locked, source)
    # dust is checked against how the request is paid (money.methods_for_amount)
    if q.amount_sats > MAX_SATS:
        raise BadValue("that price is more than 21 million BTC")
    return q


def describe(q: Quote) -> str:
    if q.fiat_amount is None:
        return f"{q.amount_sats:,} sat"
    return (f"{q.amount_sats:,} sat ({format_decimal(q.fiat_amount)} {q.currency} at "
            f"{format_decimal(q.rate or Decimal(0))} {q.currency}/BTC, {q.rate_source})")
