"""One syntax for every number people type: ASCII digits and at most one decimal point.

``0,5 BTC`` was read as 5 BTC, ``1,5 USD`` as 15 USD, ``--rate 1,5`` as 15, ``1_000 sat``
and ``--hours 1_0`` were accepted, and so were other scripts' digits (``Decimal('١٢')`` is
12). Now all of them are exit 2 with the accepted forms in the message, and nothing in the
home changes.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlease.core import validate
from cloudlease.core.errors import BadValue
from cloudlease.core.money import Fiat, parse_amount, parse_rate
from tests.conftest import home_files

HOSTILE = [
    "0,5 BTC", "1,5 USD", "1,500 sat", "1_000 sat", "1_0", "١٢", "１２", "٣ BTC", "1e3",
    "1E3 sat", "0x10", "+5", "-5", "1 000", "1.5.2", "nan", "NaN", "inf", "Infinity", "",
    " ", ".", "5\x00", "5\n", "\u20075", "1\u202f000", "²", "⅕", "1" * 70,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_amounts_refuse_anything_but_ascii_digits_and_one_point(text):
    with pytest.raises(BadValue) as err:
        parse_amount(text, currency="USD")
    assert "ASCII digits" in err.value.message
    assert "\n" not in err.value.message


@pytest.mark.parametrize("text", [t for t in HOSTILE if t not in ("",)])
def test_hours_rates_and_numbers_share_the_syntax(text):
    for parse in (validate.hours, parse_rate,
                  lambda t: validate.number(t, "--investor-pct")):
        with pytest.raises(BadValue) as err:
            parse(text)
        assert "ASCII digits" in err.value.message or "at least" in err.value.message \
            or "more than" in err.value.message


@pytest.mark.parametrize("text,expected", [
    ("1500", 1500), ("1500 sat", 1500), ("1500sats", 1500), (" 0.00002 BTC ", 2000),
    (".5 BTC", 50_000_000), ("5. BTC", 500_000_000), ("0.40 USD", Fiat(Decimal("0.40"), "USD")),
])
def test_accepted_forms(text, expected):
    assert parse_amount(text, currency="USD") == expected


def test_hours_and_rate_accept_plain_numbers():
    assert validate.hours(" 12 ") == 12 and validate.hours(3) == 3
    assert parse_rate("65000.50") == Decimal("65000.50")
    with pytest.raises(BadValue, match="positive"):
        parse_rate("0")
    with pytest.raises(BadValue, match="whole number"):
        validate.hours("1.5")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_whatever_parses_is_plain_ascii(text):
    """Property: any text an amount parser accepts is ASCII digits, one point and a unit."""
    try:
        parse_amount(text, currency="USD")
    except BadValue:
        return
    body = text.strip(" \t")
    assert body.isascii() and body.count(".") <= 1
    assert all(ch.isdigit() or ch == "." or ch.isalpha() or ch in " \t" for ch in body)
    assert "_" not in body and "," not in body


@pytest.mark.parametrize("args,fragment", [
    (["rent", "--hours", "1_0"], "ASCII digits"),
    (["rent", "--hours", "١٠"], "ASCII digits"),
    (["rent", "--hours", "1,0"], "ASCII digits"),
    (["rent", "--hours", "1", "--rate", "1,5"], "ASCII digits"),
    (["rent", "--hours", "1", "--tenant", "alice", "--invest", "0,5 BTC"], "ASCII digits"),
    (["plan", "add", "p", "--price-per-hour", "1,5 USD"], "ASCII digits"),
    (["plan", "add", "p", "--price-per-hour", "1_000 sat"], "ASCII digits"),
    (["pool", "add", "p", "--slots", "1_0", "--cost-per-hour", "100 sat",
      "--consideration", "ownership", "--investor-pct", "10"], "ASCII digits"),
    (["pool", "add", "p", "--slots", "２", "--cost-per-hour", "100 sat",
      "--consideration", "ownership", "--investor-pct", "10"], "ASCII digits"),
    (["pool", "add", "p", "--slots", "2", "--cost-per-hour", "100 sat",
      "--consideration", "ownership", "--investor-pct", "1_0"], "ASCII digits"),
    (["pool", "add", "p", "--slots", "2", "--cost-per-hour", "100 sat",
      "--consideration", "ownership", "--investor-pct", "1e1"], "ASCII digits"),
    (["pool", "add", "p", "--slots", "2", "--cost-per-hour", "100 sat",
      "--consideration", "fixed_return", "--investor-pct", "10",
      "--return-multiple", "1,5"], "ASCII digits"),
    (["pool", "add", "p", "--slots", "2", "--cost-per-hour", "100 sat",
      "--consideration", "ownership", "--investor-pct", "10",
      "--min-runway-hours", "2_4"], "ASCII digits"),
    (["devchain", "pay", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", "--sats",
      "1_000"], "ASCII digits"),
    (["wallet", "sweep", "--to", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
      "--fee-rate", "1,5"], "ASCII digits"),
    (["watch", "--interval", "1_0"], "ASCII digits"),
    (["tick", "--lock-timeout", "1_0"], "ASCII digits"),
    (["devchain", "mine", "1_0"], "ASCII digits"),
])
def test_cli_refuses_other_number_forms(cli, home, args, fragment):
    cli("tenant", "add", "alice")
    before = home_files(home)
    err = cli.json(*args, code=2)
    assert fragment in err["message"] and "\n" not in err["message"]
    assert home_files(home) == before
    human = cli(*args, code=2)
    assert human.stderr.startswith("error: ") and human.stderr.count("\n") == 1
    assert "Traceback" not in human.stderr and "╭" not in human.stderr


def test_plain_is_exact_at_any_length():
    from cloudlease.core.money import plain

    long = Decimal("999999999999999999999999999999.159")
    assert plain(long) == long and str(plain(long)) == "999999999999999999999999999999.159"
    assert str(plain(Decimal("20.0"))) == "20" and str(plain(Decimal("1.50"))) == "1.5"
    assert str(plain(Decimal("1E+3"))) == "1000"


def test_an_absurd_return_multiple_is_refused_before_it_is_stored(cli, home):
    """Found by the fuzz test: a 33-digit multiple was stored, then every pool command
    crashed rendering it."""
    before = home_files(home)
    err = cli.json("pool", "add", "p", "--slots", "2", "--cost-per-hour", "100 sat",
                   "--consideration", "fixed_return", "--investor-pct", "10",
                   "--return-multiple", "999999999999999999999999999999.159", code=2)
    assert "at most 1000" in err["message"]
    assert home_files(home) == before
