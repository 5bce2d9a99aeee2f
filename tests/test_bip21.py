"""BIP21 URIs, checked by an independent parser written here from the BIP."""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlease.bitcoin.bip21 import btc_str, make_uri
from cloudlease.core.errors import BadValue
from cloudlease.core.money import MAX_SATS

BECH32 = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
BASE58 = "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA"
REGTEST = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


def parse_bip21(uri: str) -> dict[str, object]:
    """A BIP21 reader that shares no code with cloudlease.bitcoin.bip21.

    Refuses duplicate keys (BIP321) and unknown ``req-`` parameters; the amount must be a
    plain decimal (digits, at most one period, at most 8 decimals) and becomes sats.
    """
    parts = urlsplit(uri)
    assert parts.scheme.lower() == "bitcoin"
    assert parts.fragment == "" and parts.netloc == ""
    pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), "duplicate key"
    assert not [key for key in keys if key.startswith("req-")]
    # parse_qsl turns '+' into ' '; BIP21 values are percent-encoded, so '+' never appears.
    assert "+" not in parts.query
    values = dict(pairs)
    result: dict[str, object] = {"address": unquote(parts.path)}
    if "amount" in values:
        text = values["amount"]
        assert text and all(ch in "0123456789." for ch in text) and text.count(".") <= 1
        assert "e" not in text.lower()
        amount = Decimal(text)
        assert amount.as_tuple().exponent >= -8
        result["sats"] = int(amount * 100_000_000)
    for key in ("label", "message"):
        if key in values:
            result[key] = values[key]
    return result


def test_example_from_the_design() -> None:
    uri = make_uri(BECH32, 20_000, label="Lease 42", message="2 h of compute")
    assert uri == f"bitcoin:{BECH32}?amount=0.0002&label=Lease%2042&message=2%20h%20of%20compute"
    assert parse_bip21(uri) == {
        "address": BECH32,
        "sats": 20_000,
        "label": "Lease 42",
        "message": "2 h of compute",
    }


@pytest.mark.parametrize(
    ("sats", "text"),
    [
        (1, "0.00000001"),
        (10, "0.0000001"),
        (20_000, "0.0002"),
        (100_000_000, "1"),
        (150_000_000, "1.5"),
        (123_456_789, "1.23456789"),
        (MAX_SATS, "21000000"),
        (0, "0"),
    ],
)
def test_btc_str(sats: int, text: str) -> None:
    assert btc_str(sats) == text


def test_amount_and_text_are_optional() -> None:
    assert make_uri(BASE58, None) == f"bitcoin:{BASE58}"
    assert make_uri(REGTEST, 5, label="", message=None) == f"bitcoin:{REGTEST}?amount=0.00000005"
    assert make_uri(BECH32.upper(), 1) == f"bitcoin:{BECH32}?amount=0.00000001"


@pytest.mark.parametrize("amount", [0, -1, MAX_SATS + 1, True, 1.5, Decimal("1")])
def test_bad_amounts_are_refused(amount: object) -> None:
    with pytest.raises(BadValue):
        make_uri(BECH32, amount)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["line\nbreak", "tab\there", "nul\x00", "del\x7f", "c1\x85", "rtl\u202eevil", "\ud800"]
)
def test_control_characters_are_refused(text: str) -> None:
    with pytest.raises(BadValue, match="label"):
        make_uri(BECH32, 1, label=text)
    with pytest.raises(BadValue, match="message"):
        make_uri(BECH32, 1, message=text)


def test_bad_address_is_refused() -> None:
    with pytest.raises(BadValue, match="invalid address"):
        make_uri("bc1qnotanaddress", 1)


def _showable(ch: str) -> bool:
    return unicodedata.category(ch) not in ("Cc", "Cs") and ch not in (
        "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    )


TRICKY = st.sampled_from(
    [
        " ",
        "&",
        "=",
        "%",
        "#",
        "+",
        "?",
        "/",
        ":",
        "é",
        "ü",
        "ß",
        "€",
        "日本",
        "🚀",
        "👩‍💻",
        "%20",
        "&amount=1",
        "=?",
    ]
)
TEXT = (
    st.lists(
        st.one_of(TRICKY, st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=5)),
        max_size=12,
    )
    .map("".join)
    .filter(lambda s: all(_showable(ch) for ch in s))
)


@settings(max_examples=300, deadline=None)
@given(
    address=st.sampled_from([BECH32, BASE58, REGTEST]),
    sats=st.integers(min_value=1, max_value=MAX_SATS),
    label=st.one_of(st.none(), TEXT),
    message=st.one_of(st.none(), TEXT),
)
def test_round_trip_through_an_independent_parser(
    address: str, sats: int, label: str | None, message: str | None
) -> None:
    uri = make_uri(address, sats, label=label, message=message)
    expected: dict[str, object] = {"address": address, "sats": sats}
    if label:
        expected["label"] = label
    if message:
        expected["message"] = message
    assert parse_bip21(uri) == expected
    amount = uri.split("amount=")[1].split("&")[0]
    assert Decimal(amount) * 100_000_000 == sats
    assert not amount.endswith("0") or "." not in amount
    assert not amount.endswith(".")
    assert uri.isascii() and " " not in uri and "#" not in uri
