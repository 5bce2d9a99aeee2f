"""Rates: the timeout wrapper, sources on a loopback HTTP server, exact fiat → sats."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlease.bitcoin import rates
from cloudlease.bitcoin.rates import (
    RateSource,
    call_with_timeout,
    check_currency,
    live_quote,
    live_rate,
    sats_for_fiat,
)
from cloudlease.core.errors import BackendError, BadValue, ExitCode

# path → (status, body, seconds to wait before answering)
ROUTES: dict[str, tuple[int, bytes, float]] = {
    "/bitpay/USD": (200, b'{"data": {"code": "USD", "rate": 97345.67}}', 0),
    "/bitpay/JPY": (200, b'{"data": {"code": "JPY", "rate": 15234567.8}}', 0),
    "/ticker": (200, b'{"USD": {"last": 97000.5, "symbol": "$"}, "EUR": {"last": 90001}}', 0),
    "/down": (503, b"busy", 0),
    "/zero": (200, b'{"data": {"rate": 0}}', 0),
    "/negative": (200, b'{"data": {"rate": -5}}', 0),
    "/nan": (200, b'{"data": {"rate": NaN}}', 0),
    "/string": (200, b'{"data": {"rate": "abc"}}', 0),
    "/html": (200, b"<html>rate limited</html>", 0),
    "/empty": (200, b'{"data": {}}', 0),
    "/slow": (200, b'{"data": {"rate": 1}}', 3.0),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        status, body, wait = ROUTES.get(self.path, (404, b"", 0))
        time.sleep(wait)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def bitpay_like(base: str, path: str, name: str = "local") -> RateSource:
    return RateSource(name, base + path, ("data", "rate"))


# -- the timeout wrapper --------------------------------------------------------------------


def test_call_with_timeout_returns_and_reraises() -> None:
    assert call_with_timeout(lambda: 42, 1.0) == 42
    with pytest.raises(ZeroDivisionError):
        call_with_timeout(lambda: 1 / 0, 1.0)


def test_call_with_timeout_gives_up_on_a_sleeper() -> None:
    started = time.monotonic()
    with pytest.raises(BackendError, match="rate timed out after 0.2 s") as info:
        call_with_timeout(lambda: time.sleep(5), 0.2, "rate")
    assert time.monotonic() - started < 1.0
    assert info.value.exit_code == ExitCode.BACKEND
    with pytest.raises(BackendError, match="no time left"):
        call_with_timeout(lambda: 1, 0)


# -- sources on loopback --------------------------------------------------------------------


def test_exact_rate_from_a_bitpay_shaped_source(base: str) -> None:
    quote = live_quote(
        "usd", 2.0, [RateSource("bp", base + "/bitpay/{currency}", ("data", "rate"))]
    )
    assert quote.rate == Decimal("97345.67") and isinstance(quote.rate, Decimal)
    assert (quote.currency, quote.source) == ("USD", "bp")
    # JPY keeps every digit (bit would have truncated to 6 sats per yen).
    jpy = live_quote("JPY", 2.0, [RateSource("bp", base + "/bitpay/{currency}", ("data", "rate"))])
    assert jpy.rate == Decimal("15234567.8")


def test_ticker_shaped_source(base: str) -> None:
    ticker = RateSource("ticker", base + "/ticker", ("{currency}", "last"))
    assert live_quote("EUR", 2.0, [ticker]).rate == Decimal(90001)
    with pytest.raises(BackendError, match="no GBP rate"):
        live_quote("GBP", 2.0, [ticker])


def test_falls_back_to_the_next_source(base: str) -> None:
    sources = [bitpay_like(base, "/down", "first"), bitpay_like(base, "/bitpay/USD", "second")]
    assert live_quote("USD", 2.0, sources).source == "second"


@pytest.mark.parametrize(
    ("path", "word"),
    [
        ("/down", "HTTP 503"),
        ("/zero", "rate of 0"),
        ("/negative", "rate of -5"),
        ("/nan", "no usable rate"),
        ("/string", "not a number"),
        ("/html", "not JSON"),
        ("/empty", "no USD rate"),
        ("/missing", "HTTP 404"),
    ],
)
def test_bad_answers_are_errors_never_zero(base: str, path: str, word: str) -> None:
    with pytest.raises(BackendError, match=word):
        live_quote("USD", 2.0, [bitpay_like(base, path)])


def test_a_slow_source_times_out_within_the_budget(base: str) -> None:
    sources = [bitpay_like(base, "/slow", "slow"), bitpay_like(base, "/bitpay/USD", "late")]
    started = time.monotonic()
    with pytest.raises(BackendError) as info:
        live_quote("USD", 0.5, sources)
    assert time.monotonic() - started < 1.5
    assert "slow" in str(info.value) and "late: no time left" in str(info.value)


def test_unreachable_source() -> None:
    with pytest.raises(BackendError, match="unreachable"):
        live_quote("USD", 2.0, [RateSource("gone", "http://127.0.0.1:9/x", ("rate",))])


def test_live_rate_uses_the_configured_sources(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rates, "SOURCES", (bitpay_like(base, "/bitpay/{currency}"),))
    assert live_rate("USD", 2.0) == Decimal("97345.67")
    monkeypatch.setattr(rates, "SOURCES", ())
    with pytest.raises(BackendError, match="no rate source"):
        live_rate("USD")


@pytest.mark.parametrize("bad", ["US", "usdt", "12$", "", None])
def test_currency_codes(bad: object) -> None:
    assert check_currency(" eur ") == "EUR"
    with pytest.raises(BadValue):
        check_currency(bad)  # type: ignore[arg-type]


# -- fiat → sats ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rate", "sats"),
    [
        ("0.40", "100000", 400),  # exact: not bumped
        ("1", "30000", 3334),  # 3333.33… rounds up
        ("0.40", "97345.67", 411),  # 410.906…
        ("0", "97345.67", 0),
        ("100", "15234567.8", 657),  # JPY: 656.40…
        ("21000000", "1", 2_100_000_000_000_000),
        ("0.000000000001", "100000", 1),  # a dust of fiat still costs one sat
    ],
)
def test_sats_for_fiat_rounds_up_exactly(amount: str, rate: str, sats: int) -> None:
    assert sats_for_fiat(Decimal(amount), Decimal(rate)) == sats


@given(
    amount=st.decimals(min_value=0, max_value=10**7, places=4),
    rate=st.decimals(min_value=Decimal("0.01"), max_value=10**9, places=8),
)
def test_sats_for_fiat_is_the_least_covering_sat(amount: Decimal, rate: Decimal) -> None:
    sats = sats_for_fiat(amount, rate)
    needed = Fraction(amount) * 100_000_000 / Fraction(rate)
    assert sats >= needed > sats - 1


@pytest.mark.parametrize(
    ("amount", "rate"),
    [
        (0.4, Decimal(1)),
        (Decimal(1), 1.5),
        (Decimal(-1), Decimal(1)),
        (Decimal(1), Decimal(0)),
        (Decimal("NaN"), Decimal(1)),
        (Decimal(1), Decimal("Infinity")),
        (True, Decimal(1)),
    ],
)
def test_sats_for_fiat_refuses(amount: object, rate: object) -> None:
    with pytest.raises(BadValue):
        sats_for_fiat(amount, rate)  # type: ignore[arg-type]


# -- the provider is stored with a locked rate ------------------------------------------------


def test_a_live_rate_is_stored_with_its_provider(cli, home, base: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace('source = "fixed"', 'source = "live"'))
    cli("plan", "add", "gpu", "--price-per-hour", "0.40 USD")
    monkeypatch.setattr(rates, "SOURCES", (bitpay_like(base, "/bitpay/{currency}", "bitpay"),
                                           RateSource("blockchain.info", base + "/ticker",
                                                      ("{currency}", "last"))))
    pay = cli.json("rent", "--hours", "2", "--plan", "gpu")["payment"]
    assert pay["rate_source"] == "live:bitpay" and pay["rate"] == "97345.67"
    monkeypatch.setattr(rates, "SOURCES", (bitpay_like(base, "/down", "bitpay"),
                                           RateSource("blockchain.info", base + "/ticker",
                                                      ("{currency}", "last"))))
    pay = cli.json("rent", "--hours", "2", "--plan", "gpu")["payment"]
    assert pay["rate_source"] == "live:blockchain.info" and pay["rate"] == "97000.5"
