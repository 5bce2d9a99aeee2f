from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlease.core.errors import BadValue
from cloudlease.core.money import (
    MAX_SATS,
    Fiat,
    btc_text,
    fiat_to_sats,
    parse_amount,
    sats_to_fiat,
    split,
    total,
)


@pytest.mark.parametrize("text,expected", [
    ("1500 sat", 1500), ("1500", 1500), ("1500 sats", 1500), ("0.00002 BTC", 2000),
    ("0.00002btc", 2000), ("1 BTC", 100_000_000), ("21000000 BTC", MAX_SATS),
    (".5 BTC", 50_000_000),
])
def test_parse_sats(text, expected):
    assert parse_amount(text) == expected


def test_parse_fiat_keeps_decimal():
    assert parse_amount("0.40 USD", currency="USD") == Fiat(Decimal("0.40"), "USD")


@pytest.mark.parametrize("text", [
    "", "abc", "1.5 sat", "0.000000001 BTC", "-5 sat", "0 sat", "1e3 sat", "nan", "inf BTC",
    "21000001 BTC", "5 XYZW", "1.5.2 BTC", "0.40 EUR",
])
def test_parse_refuses(text):
    with pytest.raises(BadValue):
        parse_amount(text, currency="USD")


def test_btc_text_is_plain_decimal():
    assert btc_text(2000) == "0.00002"
    assert btc_text(1) == "0.00000001"
    assert btc_text(100_000_000) == "1"
    assert btc_text(123_456_789) == "1.23456789"
    assert "E" not in btc_text(10) and "e" not in btc_text(10)


def test_fiat_to_sats_rounds_up():
    # 0.40 USD at 100,000 USD/BTC = 400 sats exactly; a hair more rounds up
    assert fiat_to_sats(Decimal("0.40"), Decimal("100000")) == 400
    assert fiat_to_sats(Decimal("0.40"), Decimal("99999")) == 401
    assert fiat_to_sats(Decimal("1"), Decimal("30000")) == 3334
    with pytest.raises(BadValue):
        fiat_to_sats(Decimal("1"), Decimal("0"))


def test_sats_to_fiat():
    assert sats_to_fiat(400, Decimal("100000")) == Decimal("0.40")


def test_split_worked_example_ties_by_name():
    # 10 sats in three equal parts: one sat left over goes to the first name
    assert split(10, {"carol": 1, "alice": 1, "bob": 1}) == {"carol": 3, "alice": 4, "bob": 3}
    assert split(1000, {"a": 600_000, "b": 400_000}) == {"a": 600, "b": 400}
    assert split(0, {"a": 0}) == {"a": 0}
    with pytest.raises(BadValue):
        split(5, {"a": 0})
    with pytest.raises(BadValue):
        split(-1, {"a": 1})


def test_total_refuses_float():
    assert total([1, 2, 3]) == 6
    with pytest.raises(TypeError):
        total([1, 2.0])  # type: ignore[list-item]


names = st.text(alphabet="abcdefghij", min_size=1, max_size=4)


@given(st.integers(0, MAX_SATS),
       st.dictionaries(names, st.integers(0, 10**12), min_size=1, max_size=12))
def test_split_adds_up_to_the_sat(amount, weights):
    if sum(weights.values()) == 0:
        weights = {**weights, "z": 1}
    parts = split(amount, weights)
    assert sum(parts.values()) == amount
    whole = sum(weights.values())
    for name, part in parts.items():
        exact = Fraction(amount * weights[name], whole)
        assert exact - 1 < part < exact + 1  # never more than one sat from the exact share
        assert type(part) is int
        if weights[name] == 0:
            assert part == 0


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2),
       st.decimals(min_value=Decimal("1"), max_value=Decimal("1000000"), places=2))
def test_fiat_conversion_never_undercharges(amount, rate):
    sats = fiat_to_sats(amount, rate)
    assert Decimal(sats) * rate / 100_000_000 >= amount
    assert Decimal(sats - 1) * rate / 100_000_000 < amount
