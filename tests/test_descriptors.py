"""The light wallet-descriptor check every command runs on config.toml's
``wallet.descriptor`` (``core/descriptors.py``), held side by side with the wallet code
(``bitcoin.wallet.parse_wallet_source``, embit): it must never refuse what the wallet code
accepts, and it catches what is typed or pasted wrong; through the CLI, a malformed
descriptor is exit 5 naming ``config.toml:wallet.descriptor`` on every command."""

from __future__ import annotations

import pytest
from embit import bip32, bip39
from embit.descriptor.checksum import checksum as embit_checksum
from embit.networks import NETWORKS as EMBIT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudlease.bitcoin.wallet import parse_wallet_source
from cloudlease.core.descriptors import INPUT_CHARSET, b58check, checksum, problem
from cloudlease.core.errors import BadValue

MNEMONIC = "abandon " * 11 + "about"
ZPUB = ("zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUk"
        "gDKf31mGDtKsAYz2oz2AGutZYs")
ROOT = bip32.HDKey.from_seed(bip39.mnemonic_to_seed(MNEMONIC))
TROOT = bip32.HDKey(ROOT.key, ROOT.chain_code, version=EMBIT["test"]["xprv"])


def pub(path: str, version: bytes | None = None, *, test: bool = False) -> str:
    return (TROOT if test else ROOT).derive(path).to_public().to_base58(version=version)


XPUB = pub("m/84h/0h/0h")
XPUB2 = pub("m/48h/0h/0h/2h")
TPUB = pub("m/84h/1h/0h", test=True)
VPUB = pub("m/84h/1h/0h", EMBIT["test"]["zpub"], test=True)
HEXKEY = ROOT.derive("m/0h").key.get_public_key().sec().hex()

# what the wallet code accepts, on the network given
GOOD = [
    (ZPUB, "mainnet"),
    (XPUB, "mainnet"),
    (VPUB, "regtest"),
    (VPUB, "signet"),
    (f"wpkh({XPUB}/0/*)", "mainnet"),
    (f"wpkh([73c5da0a/84h/0h/0h]{XPUB}/0/*)", "mainnet"),
    (f"sh(wpkh({TPUB}/0/*))", "testnet"),
    (f"pkh({TPUB}/1/*)", "regtest"),
    (f"tr([73c5da0a/86'/0'/0']{XPUB}/<0;1>/*)", "mainnet"),
    (f"wsh(sortedmulti(2,{XPUB}/0/*,{XPUB2}/0/*))", "mainnet"),
    (f"wsh(multi(1,{XPUB}/0/*,{HEXKEY}))", "mainnet"),
    (f"wpkh({XPUB}/0/*)#" + embit_checksum(f"wpkh({XPUB}/0/*)"), "mainnet"),
    (f"  wpkh({XPUB}\n/0/*)  ", "mainnet"),
]


@pytest.mark.parametrize(("text", "network"), GOOD)
def test_what_the_wallet_code_accepts_passes(text: str, network: str) -> None:
    parse_wallet_source(text, network)  # the wallet code accepts it...
    assert problem(text, network) is None  # ...and so does the light check
    canonical = parse_wallet_source(text, network)
    assert problem(canonical, network) is None  # what init writes into config.toml


def test_checksum_is_bip380s() -> None:
    assert checksum("raw(deadbeef)") == "89f8spxm"  # BIP380's test vector
    for text, _network in GOOD[4:11]:
        assert checksum(text) == embit_checksum(text)
    assert checksum("wpkh(é)") is None


@given(st.text(alphabet=st.sampled_from(INPUT_CHARSET), max_size=200))
def test_checksum_agrees_with_embit(text: str) -> None:
    assert checksum(text) == embit_checksum(text)


def test_the_functions_are_the_wallet_codes() -> None:
    """The light check knows the functions embit reads; an embit that reads more must
    be taught here, or descriptors using them would be refused."""
    from embit.descriptor import miniscript

    from cloudlease.core.descriptors import FUNCTIONS, WRAPPERS

    assert FUNCTIONS == {"tr", "sh", "wsh", "wpkh", "pkh"} | {
        op.NAME for op in miniscript.OPERATORS}
    assert set(WRAPPERS) == set(miniscript.WRAPPER_NAMES)


def test_base58check() -> None:
    assert b58check(XPUB) is not None and len(b58check(XPUB) or b"") == 78
    assert b58check(XPUB[:-1] + ("A" if XPUB[-1] != "A" else "B")) is None
    assert b58check("0OIl") is None


BAD = [
    (f"wpkh({XPUB[:40]}{'Z' if XPUB[40] != 'Z' else 'Y'}{XPUB[41:]}/0/*)", "mainnet",
     "has a bad checksum"),
    (f"wpkh({XPUB[:-3]}/0/*)", "mainnet", "has a bad checksum"),
    (f"wpkh({XPUB}/0/*)#aaaaaaaa", "mainnet", "descriptor checksum #aaaaaaaa is wrong"),
    (f"wpkh({XPUB}/0/*)", "testnet", "is for mainnet, but this home is on testnet"),
    (VPUB, "mainnet", "is for testnet, testnet4, signet or regtest, but this home is on "
                      "mainnet"),
    (f"wpkh({XPUB}/0/*h)", "mainnet", "hardened wildcard"),
    (f"wpkh({XPUB}/0h/*)", "mainnet", "hardened step after the public key"),
    (f"wpkh({XPUB})", "mainnet", "no wildcard"),
    (f"wpkh({XPUB}/0/*", "mainnet", "unbalanced"),
    (f"wpkx({XPUB}/0/*)", "mainnet", "starts with wpkh("),
    (f"wpkh({XPUB}/0/*)é", "mainnet", "character descriptors do not allow"),
    (f"{XPUB}x", "mainnet", "bad checksum"),
    ("hello", "mainnet", "not a descriptor or an extended public key"),
    ("", "mainnet", "is empty"),
    (pub("m/48h/0h/0h/2h", EMBIT["main"]["Zpub"]), "mainnet", "is for multisig"),
    (f"wsh(sortedmuti(2,{XPUB}/0/*,{XPUB2}/0/*))", "mainnet", "unknown function"),
    (f"wsh(multi(1,{XPUB}/0/*,{HEXKEY[:-1]}))", "mainnet", "has 65 hex digits"),
    (f"wsh(multi(1,{XPUB}/0/*,{HEXKEY[:30]}x{HEXKEY[31:]}))", "mainnet", "malformed key"),
    (f"wpkh([73c5da0/84h]{XPUB}/0/*)", "mainnet", "malformed key origin"),
    (f"wpkh({XPUB}/0*)", "mainnet", "malformed path"),
]


@pytest.mark.parametrize(("text", "network", "words"), BAD)
def test_what_is_certainly_wrong_is_named(text: str, network: str, words: str) -> None:
    found = problem(text, network)
    assert found is not None and words in found, found
    with pytest.raises(BadValue):  # the wallet code refuses it too
        parse_wallet_source(text, network)


def test_a_point_off_the_curve_is_refused() -> None:
    """A key whose base58 checksum is right but whose bytes are not a public key (made,
    not mistyped) is refused by both."""
    import hashlib

    payload = bytearray(b58check(XPUB) or b"")
    payload[46:78] = b"\xff" * 32  # x beyond the field
    raw = bytes(payload) + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    number, out = int.from_bytes(raw, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        out = alphabet[digit] + out
    assert "valid public key" in (problem(f"wpkh({out}/0/*)", "mainnet") or "")
    with pytest.raises(BadValue):
        parse_wallet_source(f"wpkh({out}/0/*)", "mainnet")


def test_a_private_key_is_refused_and_never_echoed() -> None:
    xprv = ROOT.derive("m/84h/0h/0h").to_base58()
    wif = ROOT.derive("m/0").key.wif()
    for text in (xprv, f"wpkh({xprv}/0/*)", f"wsh(multi(1,{XPUB}/0/*,{wif}))"):
        found = problem(text, "mainnet") or ""
        assert "private key" in found and xprv[4:20] not in found and wif[4:20] not in found


# every small edit of a good source: if the wallet code accepts it, so must the light check
EDITS = st.sampled_from(["delete", "replace", "insert", "swap"])


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(GOOD), EDITS, st.integers(min_value=0, max_value=10_000),
       st.sampled_from("0123456789abcdefhkpwxyzABCDEFGHJKLMNPQRSTUVWXYZ/*()[],<;>'#h "))
def test_the_light_check_never_refuses_what_the_wallet_accepts(good, edit, where, char):
    text, network = good
    i = where % (len(text) + 1)
    if edit == "delete":
        text = text[:i] + text[i + 1:]
    elif edit == "replace":
        text = text[:i] + char + text[i + 1:]
    elif edit == "insert":
        text = text[:i] + char + text[i:]
    elif i + 1 < len(text):
        text = text[:i] + text[i + 1] + text[i] + text[i + 2:]
    try:
        parse_wallet_source(text, network)
    except BadValue:
        return  # refused by the wallet code: the light check may or may not see why
    assert problem(text, network) is None, text


def test_mistyped_keys_are_caught_without_embit() -> None:
    """Every one-character change inside a key is caught by the light check alone (the
    base58 checksum), as the wallet code would catch it at the first rent."""
    start = len("wpkh(")
    good = f"wpkh({XPUB}/0/*)"
    for i in range(start, start + len(XPUB), 7):
        for ch in "2Aa":
            if good[i] == ch:
                continue
            text = good[:i] + ch + good[i + 1:]
            assert problem(text, "mainnet") is not None, text


# -- through the CLI -----------------------------------------------------------------------
MISTYPED = VPUB[:30] + ("Q" if VPUB[30] != "Q" else "R") + VPUB[31:]


@pytest.mark.parametrize("argv", [("tick",), ("verify",), ("lease", "list"), ("tenant", "list"),
                                  ("rent", "--hours", "1", "--no-wait"), ("wallet", "show")])
def test_a_malformed_descriptor_is_exit_5_on_every_command(cli, argv) -> None:
    from tests.conftest import VPUB as HOME_VPUB

    cli("init", "--xpub", HOME_VPUB)
    cfg = cli.home / "config.toml"
    text = cfg.read_text()
    canonical = next(line for line in text.splitlines() if line.startswith("descriptor = "))
    before = cli.ledger_snapshot()
    cfg.write_text(text.replace(canonical, f'descriptor = "{MISTYPED}"'))
    err = cli.json(*argv, code=5)
    assert err["code"] == "config_invalid"
    assert "config.toml:wallet.descriptor: extended key" in err["message"]
    assert "bad checksum" in err["message"] and "\\x" not in err["message"]
    human = cli(*argv, code=5)
    assert human.stderr.startswith("error: ") and "config.toml:wallet.descriptor:" in \
        human.stderr and "Traceback" not in human.stderr
    cfg.write_text(text)
    assert cli.ledger_snapshot() == before  # nothing was written
