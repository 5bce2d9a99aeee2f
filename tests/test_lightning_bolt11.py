"""The local BOLT11 check every invoice passes before it is stored or shown."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlease.core.errors import BackendError, ExitCode
from cloudlease.lightning.bolt11check import PREFIX, check_invoice, decode, parse_hrp_amount
from cloudlease.lightning.bolt11sign import amount_text, encode_invoice
from cloudlease.lightning.devnode import DevNode

KEY = "11" * 32
NOW = 1_796_000_000
MAX_SATS = 21_000_000 * 100_000_000
HASH = hashlib.sha256(b"preimage").hexdigest()


def make(amount_msat: int = 21_000_000, description: str = "lease L-1 (2 h)",
         payment_hash: str = HASH, created: int = NOW, expiry: int = 900,
         currency: str = "bcrt", key: str = KEY) -> str:
    return encode_invoice(key, amount_msat, description, payment_hash,
                          secrets.token_hex(32), created, expiry, currency=currency)


def check(bolt11: object, **kw: object):
    args = {"network": "regtest", "amount_msat": 21_000_000, "description": "lease L-1 (2 h)",
            "source": "the node", "payment_hash": HASH,
            "min_expires_at": datetime.fromtimestamp(NOW + 900, UTC)}
    args.update(kw)
    return check_invoice(bolt11, **args)  # type: ignore[arg-type]


def refused(bolt11: object, code: str, **kw: object) -> BackendError:
    with pytest.raises(BackendError) as info:
        check(bolt11, **kw)
    err = info.value
    assert err.exit_code == ExitCode.BACKEND and err.code == code, (err.code, err.message)
    assert "\n" not in err.message and err.message.startswith("the node ")
    return err


@settings(max_examples=40, deadline=None)
@given(sats=st.integers(1, MAX_SATS), expiry=st.integers(60, 31 * 86400),
       description=st.text(st.characters(min_codepoint=32, blacklist_categories=("Cs",)),
                           max_size=40).filter(lambda d: len(d.encode()) <= 639
                                               and "\x7f" not in d))
def test_every_devnode_invoice_decodes_to_exactly_what_was_asked(
        tmp_path_factory: pytest.TempPathFactory, sats: int, expiry: int,
        description: str) -> None:
    node = DevNode(tmp_path_factory.mktemp("ln") / "devchain-ln.json")
    inv = node.create_invoice(sats * 1000, description, expiry)
    assert inv.amount_msat == sats * 1000 and inv.amount_sats == sats
    d = decode(inv.bolt11, source="test")
    assert d.amount_msat == sats * 1000
    assert d.payment_hash == inv.payment_hash
    assert d.description == description
    assert d.expires_at == inv.expires_at == inv.created_at + timedelta(seconds=expiry)
    assert d.payee == node.node_id
    # and the stored record matches what a second, independent check makes of it
    again = check_invoice(inv.bolt11, network="regtest", amount_msat=sats * 1000,
                          description=description, source="t", payment_hash=inv.payment_hash)
    assert again == inv


@settings(max_examples=500, deadline=None)
@given(msat=st.one_of(st.integers(1, MAX_SATS * 1000),
                      st.integers(1, 21_000).map(lambda k: k * 10**14)))  # 1,000s of BTC
def test_amount_in_the_prefix_is_exact(msat: int) -> None:
    assert parse_hrp_amount("lnbcrt" + amount_text(msat)) == ("bcrt", msat)


def test_the_bolt11_package_encoder_is_wrong_for_thousands_of_btc() -> None:
    # why the devnode signs with bolt11sign instead (see its docstring)
    from bolt11.utils import msat_to_amount

    assert msat_to_amount(2_625_000 * 10**11) == "2625"  # 2,625 BTC, not 2,625,000
    assert amount_text(2_625_000 * 10**11) == "2625000"


@settings(max_examples=60, deadline=None)
@given(msat=st.one_of(st.integers(1, MAX_SATS * 1000),
                      st.integers(1, 21_000).map(lambda k: k * 10**14)),
       created=st.integers(1, 2**35 - 1), expiry=st.integers(0, 10 * 365 * 86400),
       description=st.text(max_size=100).filter(lambda d: len(d.encode()) <= 639),
       currency=st.sampled_from(["bc", "tb", "tbs", "bcrt"]))
def test_encoder_and_the_package_decoder_agree(msat: int, created: int, expiry: int,
                                               description: str, currency: str) -> None:
    import bolt11

    payment_hash, secret = secrets.token_hex(32), secrets.token_hex(32)
    text = encode_invoice(KEY, msat, description, payment_hash, secret, created, expiry,
                          currency=currency)
    lib = bolt11.decode(text)
    assert (lib.currency, lib.date, lib.payment_hash, lib.payment_secret) == (
        currency, created, payment_hash, secret)
    assert lib.description == description and lib.expiry == expiry
    d = decode(text, source="t")
    assert (d.amount_msat, d.currency, d.description) == (msat, currency, description)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=31), max_size=700))
def test_the_fast_bit_string_is_the_packages_own(words: list[int]) -> None:
    """bolt11check replaces the package's slow u5_to_bitarray: the bits must be identical."""
    from bolt11.bit_utils import u5_to_bitarray

    from cloudlease.lightning.bolt11check import _u5_to_bits

    assert _u5_to_bits(words) == u5_to_bitarray(words)
    assert _u5_to_bits(words).len == 5 * len(words)


def test_prefixes() -> None:
    assert PREFIX == {"mainnet": "bc", "testnet": "tb", "testnet4": "tb", "signet": "tbs",
                      "regtest": "bcrt"}
    assert parse_hrp_amount("lntbs10u") == ("tbs", 1_000_000)
    assert parse_hrp_amount("lntb") == ("tb", None)
    assert parse_hrp_amount("lnbc2500u") == ("bc", 250_000_000)
    assert parse_hrp_amount("lnbc10p") == ("bc", 1)
    for bad in ("lnbc1p", "lnbc0u", "lnxy10u", "lnbc10x", "lnbc01m", "lnbc0"):
        with pytest.raises(ValueError):
            parse_hrp_amount(bad)


def test_the_devnode_signature_is_valid_for_its_key(tmp_path: Path) -> None:
    import bolt11
    from bolt11.models.tags import TagChar

    node = DevNode(tmp_path / "devchain-ln.json")
    inv = node.create_invoice(5_000, "x", 600)
    decoded = bolt11.decode(inv.bolt11)
    assert decoded.payee == node.node_id  # recovered from the signature
    # with the node id given as the n field the library verifies the signature itself
    decoded.tags.add(TagChar.payee, node.node_id)
    decoded.signature.verify(node.node_id)
    with pytest.raises(ValueError):
        decoded.signature.verify("02" + "ab" * 32)


def test_a_good_invoice_is_what_we_store() -> None:
    inv = check(make())
    assert inv.payment_hash == HASH and inv.amount_msat == 21_000_000
    assert inv.created_at == datetime.fromtimestamp(NOW, UTC)
    assert inv.expires_at == datetime.fromtimestamp(NOW + 900, UTC)
    assert inv.bolt11.startswith("lnbcrt210u1")


def test_uppercase_invoice_from_a_qr_code_is_read() -> None:
    text = make()
    assert check(text.upper()).bolt11 == text
    assert check("lightning:" + text).bolt11 == text


@pytest.mark.parametrize(("network", "currency"), [
    ("regtest", "bc"), ("regtest", "tb"), ("mainnet", "bcrt"), ("signet", "tb"),
    ("testnet", "tbs"), ("testnet4", "bc"), ("mainnet", "tb"),
])
def test_another_network_is_refused(network: str, currency: str) -> None:
    err = refused(make(currency=currency), "ln_wrong_network", network=network)
    assert f"this home is on {network}" in err.message


@pytest.mark.parametrize("network", ["testnet", "testnet4"])
def test_testnet_and_testnet4_share_lntb(network: str) -> None:
    assert check(make(currency="tb"), network=network).bolt11.startswith("lntb")


@pytest.mark.parametrize("amount", [20_999_000, 21_001_000, 21_000_001, 42_000_000])
def test_another_amount_is_refused(amount: int) -> None:
    err = refused(make(amount_msat=amount), "ln_wrong_amount")
    assert str(amount) in err.message and "21000000" in err.message


def test_no_amount_is_refused() -> None:
    from bolt11 import Bolt11, encode
    from bolt11.models.tags import Tag, TagChar, Tags

    tags = Tags([Tag(TagChar.payment_hash, HASH), Tag(TagChar.payment_secret, "22" * 32),
                 Tag(TagChar.description, "lease L-1 (2 h)"), Tag(TagChar.expire_time, 900)])
    text = encode(Bolt11(currency="bcrt", date=NOW, tags=tags), KEY)
    assert "no amount" in refused(text, "ln_wrong_amount").message


def test_another_hash_is_refused() -> None:
    refused(make(payment_hash="ab" * 32), "ln_wrong_hash")


def test_hash_is_not_checked_when_the_node_reports_none() -> None:
    assert check(make(payment_hash="ab" * 32), payment_hash=None).payment_hash == "ab" * 32


@pytest.mark.parametrize("expiry", [1, 600, 899])
def test_expiry_shorter_than_the_window_is_refused(expiry: int) -> None:
    refused(make(expiry=expiry), "ln_short_expiry")


def test_expiry_longer_than_the_window_is_fine() -> None:
    assert check(make(expiry=3600)).expires_at == datetime.fromtimestamp(NOW + 3600, UTC)


def test_old_invoice_does_not_cover_the_window() -> None:
    refused(make(created=NOW - 60), "ln_short_expiry")


@pytest.mark.parametrize("description", ["lease L-2 (2 h)", "", "lease L-1 (2 h) ",
                                         "LEASE L-1 (2 H)"])
def test_another_description_is_refused(description: str) -> None:
    refused(make(description=description), "ln_wrong_description")


def test_another_signer_is_refused() -> None:
    from coincurve import PrivateKey

    ours = PrivateKey(bytes.fromhex("22" * 32)).public_key.format().hex()
    refused(make(), "ln_wrong_payee", payee=ours)
    assert check(make(key="22" * 32), payee=ours)


@pytest.mark.parametrize("garbage", [
    "", "   ", None, 42, b"lnbcrt1", "hello", "lnbcrt210u1qqqq",
    "<!DOCTYPE html><html><body>502 Bad Gateway</body></html>",
    "bcrt1qxpmfn6hv9caekqyk6f3g209wqfh4zl8s3205v4",  # an address, not an invoice
    "x" * 8000,
])
def test_garbage_is_refused(garbage: object) -> None:
    err = refused(garbage, "ln_bad_invoice")
    assert len(err.message) < 200


def test_corrupted_invoices_are_refused() -> None:
    text = make()
    flipped = text[:60] + ("q" if text[60] != "q" else "p") + text[61:]
    refused(flipped, "ln_bad_invoice")  # checksum
    refused(text[:-10], "ln_bad_invoice")
    mixed = text[:10].upper() + text[10:]
    refused(mixed, "ln_bad_invoice")  # BOLT11/bech32: never mixed case


def test_electrum_invoice_decodes() -> None:
    # made by the Electrum 4.8.3 merchant daemon of scripts/ln-regtest
    text = ("lnbcrt210u1p4sag7qpp5qycuf7kpvqx0a708rap8l9cda44n0294quz79rp6r8py66quul2ssp590g"
            "g9z0334yvshayvh40p4pwtzzdskpzq7dpgtz4p7338mt2p2wsdq5d3jkzum9ypxz6vfqxf5qcqzynxqz"
            "jc9qlzqqqqqqqqqqqqqqqqqqqqqqqqqqysgqrzjq0lshh0lruk4gg7z3uamglwt08hzh5esy7yq3jm29"
            "zj4d82lrvjy48j3twk2ncvc9yqqqqqqqqqqqqqqqypp55xh4pwtgm53nmpa3pa0v950hqvqtnwzhzdsz"
            "vsqgn9659j5gsck5tk5erm7cutmhdnsvyjm52ej42wnf538tdckntaedsevj2xwgpn73pkh")
    d = decode(text, source="t")
    assert d.amount_msat == 21_000_000 and d.description == "lease L-1 2h"
    assert d.expiry_seconds == 600
    assert d.payment_hash == "0131c4fac1600cfef9e71f427f970ded6b37a8b50705e28c3a19c24d681ce7d5"
    assert d.payee == "029c70ad322267dc02f97a07289d858c594f298c8ccc8e8adedac2fa98686107cb"
