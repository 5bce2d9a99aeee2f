"""Exchange rates (fiat per 1 BTC) with a hard deadline, and fiat → sats conversion.

Why not ``bit.network.rates`` as is: bit asks the same two providers (BitPay, then
blockchain.info) but sets **no timeout** on its requests, and it returns a *whole number
of sats per fiat unit* (``int(1 / rate * 1e8)``). That truncation costs up to 0.1 % on USD
and much more on small units: about 15 % on JPY, and a zero (then a division by zero) on
KRW or CLP. So this module asks those providers itself, keeps the rate as an exact
``Decimal`` (JSON numbers are parsed as ``Decimal``, never ``float``) and bounds each call
twice: ``net.Http`` gives it a total deadline (a server dripping bytes is cut off), a size
cap and no redirects, and the whole call runs in a daemon thread joined with the remaining
time, which also bounds what a socket deadline cannot (DNS resolution). A call that
overruns is abandoned, not waited for.

Any timeout, HTTP error, malformed answer, or a zero, negative or non-finite rate raises
``BackendError`` (exit 6). There is never a silent zero.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from cloudlease.core.errors import BackendError, BadValue
from cloudlease.core.money import fiat_to_sats

T = TypeVar("T")

_MAX_BODY = 1 << 20  # a rate answer is a few kB; refuse anything over 1 MiB
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class RateSource:
    """One HTTP provider of BTC rates.

    Attributes:
        name: shown in messages and stored with a locked rate.
        url: URL template; ``{currency}`` is replaced by the upper-case code.
        path: how to reach the rate in the JSON answer; ``{currency}`` is replaced too.
    """

    name: str
    url: str
    path: tuple[str, ...]


#: Tried in turn (the providers bit uses, asked for exact values).
SOURCES: tuple[RateSource, ...] = (
    RateSource("bitpay", "https://bitpay.com/rates/BTC/{currency}", ("data", "rate")),
    RateSource("blockchain.info", "https://blockchain.info/ticker", ("{currency}", "last")),
)


@dataclass(frozen=True, slots=True)
class RateQuote:
    """A live exchange rate, as one source gave it (a rental's price is ``ops.quote.Quote``).

    Attributes:
        currency: ISO 4217 code, upper case.
        rate: fiat units per 1 BTC (``Decimal``, > 0).
        source: the provider's name.
    """

    currency: str
    rate: Decimal
    source: str


def check_currency(currency: str) -> str:
    """An ISO 4217-shaped code in upper case (``usd`` → ``USD``), or ``BadValue``."""
    code = currency.strip().upper() if isinstance(currency, str) else ""
    if not _CURRENCY.match(code):
        raise BadValue(f"not a currency code: {currency!r} (want three letters, e.g. USD)")
    return code


def call_with_timeout(fn: Callable[[], T], timeout: float, what: str = "call") -> T:
    """Run ``fn()`` in a daemon thread; return its result or raise ``BackendError``.

    If ``fn`` has not finished after ``timeout`` seconds the thread is abandoned (it dies
    with the process) and ``BackendError("<what> timed out after N s")`` is raised. An
    exception from ``fn`` is re-raised as is.
    """
    if timeout <= 0:
        raise BackendError(f"{what} timed out (no time left)")
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    worker = threading.Thread(target=run, name=f"cloudlease-{what}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise BackendError(f"{what} timed out after {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _positive_rate(value: Any, source: str) -> Decimal:
    """A finite rate > 0 from a JSON value, or ``BackendError``."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise BackendError(f"{source} gave no usable rate")
    try:
        rate = Decimal(value)
    except InvalidOperation:
        raise BackendError(f"{source} gave a rate that is not a number") from None
    if not rate.is_finite() or rate <= 0:
        raise BackendError(f"{source} gave a rate of {rate}, which cannot be right")
    return rate


def _fetch(source: RateSource, currency: str, timeout: float) -> Decimal:
    """Ask one provider (blocking) through ``net.Http``: a deadline of ``timeout`` seconds
    for the whole call, at most 1 MiB, no redirect, credentials never shown."""
    from cloudlease.net import Http, HttpError

    url = source.url.format(currency=currency)
    try:
        with Http(timeout=timeout, max_bytes=_MAX_BODY, pool_size=1) as http:
            reply = http.get(url, headers={"Accept": "application/json"})
    except HttpError as exc:
        if exc.retryable:
            raise BackendError(f"{source.name} unreachable ({exc})") from None
        raise BackendError(f"{source.name}: {exc}") from None
    if reply.status != 200:
        raise BackendError(f"{source.name} answered HTTP {reply.status}")
    try:
        data: Any = json.loads(reply.body, parse_float=Decimal, parse_int=Decimal)
    except ValueError:
        raise BackendError(f"{source.name} answer is not JSON") from None
    for step in source.path:
        key = step.format(currency=currency)
        if not isinstance(data, dict) or key not in data:
            raise BackendError(f"{source.name} has no {currency} rate")
        data = data[key]
    return _positive_rate(data, source.name)


def live_quote(
    currency: str, timeout: float = 5.0, sources: Sequence[RateSource] | None = None
) -> RateQuote:
    """Ask each source in turn for fiat per 1 BTC, all within ``timeout`` seconds in total.

    Returns the first good :class:`RateQuote`; raises ``BackendError`` naming every failure.
    """
    code = check_currency(currency)
    deadline = time.monotonic() + timeout
    failures: list[str] = []
    for source in SOURCES if sources is None else sources:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            failures.append(f"{source.name}: no time left")
            continue
        try:
            rate = call_with_timeout(
                lambda s=source, r=remaining: _fetch(s, code, r), remaining, source.name
            )
        except BackendError as exc:
            failures.append(str(exc))
            continue
        return RateQuote(code, rate, source.name)
    detail = "; ".join(failures) or "no rate source configured"
    raise BackendError(f"no BTC/{code} rate: {detail}")


def live_rate(currency: str, timeout: float = 5.0) -> Decimal:
    """Fiat units per 1 BTC right now (``Decimal``); ``BackendError`` if none in time."""
    return live_quote(currency, timeout).rate


def sats_for_fiat(amount: Decimal, rate: Decimal) -> int:
    """Satoshis that pay ``amount`` fiat at ``rate`` fiat/BTC, rounded **up** to the sat.

    Exact ``Decimal`` arithmetic (50 digits, ceiling rounding), so a result that is a whole
    number of sats is never pushed up by one. ``float`` is refused.
    """
    for name, value in (("amount", amount), ("rate", rate)):
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise BadValue(f"{name} must be a Decimal, not {type(value).__name__}")
    amount, rate = Decimal(amount), Decimal(rate)
    if not amount.is_finite() or amount < 0:
        raise BadValue(f"amount {amount} must be zero or more")
    if not rate.is_finite() or rate <= 0:
        raise BadValue(f"rate {rate} must be more than zero")
    return fiat_to_sats(amount, rate)
