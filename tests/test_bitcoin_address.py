"""Address checks against the BIP173 and BIP350 test vectors, plus network naming."""

from __future__ import annotations

import pytest

from cloudlease.bitcoin.address import (
    is_bech32,
    networks_of_address,
    p2wpkh_address,
    parse_address,
    validate_address,
)
from cloudlease.bitcoin.networks import NETWORKS, check_network, embit_net
from cloudlease.core.errors import BadValue, ExitCode

# BIP350 "valid segwit addresses" with their scriptPubKeys (BIP173's v0 ones are among them).
BIP350_VALID = [
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
    ),
    (
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
        "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6",
    ),
    ("BC1SW50QGDZ25J", "6002751e"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"),
    (
        "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
        "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
        "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    ),
]

# BIP173 "valid" v1+ addresses use bech32; BIP350 made them invalid (must be bech32m).
BIP173_V1PLUS_NOW_INVALID = [
    "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
    "BC1SW50QA3JX3S",
    "bc1zw508d6qejxtdg4y5r3zarvaryvg6kdaj",
]

# (address, a word the refusal must contain)
BIP173_INVALID = [
    ("tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty", "prefix"),  # invalid HRP
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "checksum"),
    ("BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2", "witness version"),
    ("bc1rw5uspcuh", "length"),
    ("bc10w508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kw5rljs90", "length"),
    ("BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "20 or 32"),
    ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sL5k7", "case"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du", "malformed"),  # padding > 4 bits
    ("tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3pjxtptv", "padding"),
    ("bc1gmk9yu", "empty"),
]

BIP350_INVALID = [
    ("tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut", "prefix"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "bech32m"),
    ("tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf", "bech32m"),
    ("BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL", "bech32m"),
    ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "v0 must use bech32"),
    ("tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47", "v0 must use bech32"),
    ("bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4", "character"),
    ("BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R", "witness version"),
    ("bc1pw5dgrnzv", "length"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav", "length"),
    ("BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "20 or 32"),
    ("tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq", "case"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf", "malformed"),
    ("tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j", "padding"),
    ("bc1gmk9yu", "empty"),
]

# Well-known base58 addresses: (address, kind, networks)
BASE58 = [
    ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "p2pkh", ["mainnet"]),
    ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "p2sh", ["mainnet"]),
    ("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", "p2pkh", ["testnet", "testnet4", "signet", "regtest"]),
    ("2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc", "p2sh", ["testnet", "testnet4", "signet", "regtest"]),
]

G = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")


def _network_for(addr: str) -> str:
    return "mainnet" if addr.lower().startswith("bc1") else "testnet"


@pytest.mark.parametrize(("addr", "spk"), BIP350_VALID)
def test_bip350_valid_addresses_are_accepted(addr: str, spk: str) -> None:
    net = _network_for(addr)
    assert validate_address(addr, net) == addr.lower()
    assert parse_address(addr).script_pubkey.hex() == spk
    assert is_bech32(addr)


@pytest.mark.parametrize("addr", BIP173_V1PLUS_NOW_INVALID)
def test_bip173_v1_plus_in_bech32_is_refused_per_bip350(addr: str) -> None:
    with pytest.raises(BadValue, match="must use bech32m"):
        validate_address(addr, "mainnet")
    assert not is_bech32(addr)


@pytest.mark.parametrize(("addr", "word"), BIP173_INVALID + BIP350_INVALID)
def test_bip173_and_bip350_invalid_addresses_are_refused(addr: str, word: str) -> None:
    with pytest.raises(BadValue) as info:
        validate_address(addr, _network_for(addr))
    message = str(info.value)
    assert word in message
    assert "\n" not in message
    assert info.value.exit_code == ExitCode.USAGE
    assert not is_bech32(addr)


@pytest.mark.parametrize(("addr", "kind", "networks"), BASE58)
def test_base58_addresses(addr: str, kind: str, networks: list[str]) -> None:
    parsed = parse_address(addr)
    assert parsed.kind == kind
    assert networks_of_address(addr) == networks
    for net in networks:
        assert validate_address(addr, net) == addr
    assert not is_bech32(addr)


def test_base58_bad_checksum_says_so() -> None:
    with pytest.raises(BadValue, match="bad checksum"):
        validate_address("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", "mainnet")


def test_base58_unknown_version_and_garbage() -> None:
    # A valid Base58Check string with a Litecoin P2PKH version byte (0x30).
    with pytest.raises(BadValue, match="not a Bitcoin address"):
        validate_address("LVg2kJoFNg45Nbpy53h7Fe1wKyeXVRhMH9", "mainnet")
    with pytest.raises(BadValue, match="not a Bitcoin address"):
        validate_address("hello world!", "mainnet")
    with pytest.raises(BadValue, match="empty"):
        validate_address("   ", "mainnet")


def test_bech32_checksum_error_is_named() -> None:
    good = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    bad = good[:-1] + "5"
    with pytest.raises(BadValue, match="bad checksum"):
        validate_address(bad, "mainnet")


def test_wrong_network_names_the_networks() -> None:
    with pytest.raises(BadValue) as info:
        validate_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "regtest")
    assert str(info.value) == (
        "address bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4 is for mainnet, "
        "but this ledger is on regtest"
    )
    with pytest.raises(BadValue, match="is for testnet, testnet4 or signet, but this ledger is on"):
        validate_address("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "mainnet")
    with pytest.raises(BadValue, match="testnet, testnet4, signet or regtest, but .* mainnet"):
        validate_address("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", "mainnet")


def test_shared_prefixes_belong_to_several_networks() -> None:
    tb = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
    assert networks_of_address(tb) == ["testnet", "testnet4", "signet"]
    for net in ("testnet", "testnet4", "signet"):
        assert validate_address(tb, net) == tb
    with pytest.raises(BadValue, match="this ledger is on regtest"):
        validate_address(tb, "regtest")


def test_uppercase_bech32_canonicalises_to_lowercase() -> None:
    upper = "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"
    assert validate_address("  " + upper + "\n", "mainnet") == upper.lower()


def test_p2wpkh_address_of_the_generator_point() -> None:
    # BIP173's example: the P2WPKH of pubkey G.
    assert p2wpkh_address(G, "mainnet") == "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    assert p2wpkh_address(G, "testnet") == "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
    assert p2wpkh_address(G, "signet") == p2wpkh_address(G, "testnet4")
    regtest = p2wpkh_address(G, "regtest")
    assert regtest.startswith("bcrt1q")
    assert networks_of_address(regtest) == ["regtest"]
    spk = parse_address(regtest).script_pubkey.hex()
    assert spk == "0014751e76e8199196d454941c45d1b3a323f1433bd6"


@pytest.mark.parametrize(
    "pub",
    [b"", G[1:], b"\x04" + G[1:], b"\x02" + b"\xff" * 32, "02" + G.hex()[2:]],
)
def test_p2wpkh_address_refuses_bad_public_keys(pub: object) -> None:
    with pytest.raises(BadValue):
        p2wpkh_address(pub, "mainnet")  # type: ignore[arg-type]


def test_networks() -> None:
    assert NETWORKS == ("mainnet", "testnet", "testnet4", "signet", "regtest")
    assert check_network(" Regtest ") == "regtest"
    with pytest.raises(BadValue, match="unknown network 'bitcoin'"):
        check_network("bitcoin")
    assert embit_net("mainnet")["bech32"] == "bc"
    assert embit_net("testnet4")["bech32"] == "tb"
    assert embit_net("signet")["bech32"] == "tb"
    assert embit_net("regtest")["bech32"] == "bcrt"
    assert embit_net("regtest")["p2pkh"] == b"\x6f"
