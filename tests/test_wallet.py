"""Descriptor wallets (BIP44/49/84/86 vectors), the keystore, and sweeping."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from embit import bip32, bip39, ec, script
from embit.descriptor import Descriptor
from embit.descriptor.checksum import checksum
from embit.networks import NETWORKS as EMBIT
from embit.transaction import Transaction, TransactionInput

from cloudlease.bitcoin.address import p2wpkh_address, parse_address
from cloudlease.bitcoin.keystore import KeyStore
from cloudlease.bitcoin.signing import dust_limit, sign_p2wpkh_input
from cloudlease.bitcoin.sweep import sweep_transaction, sweep_vsize
from cloudlease.bitcoin.wallet import DescriptorWallet, parse_wallet_source
from cloudlease.core.errors import BadValue, Conflict, ExitCode, LedgerError

MNEMONIC = "abandon " * 11 + "about"
# Published in REFERENCE.md (BIP84) and BIP49.
ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDK"
    "f31mGDtKsAYz2oz2AGutZYs"
)
UPUB = (
    "upub5EFU65HtV5TeiSHmZZm7FUffBGy8UKeqp7vw43jYbvZPpoVsgU93oac7Wk3u6moKegAEWtGNF8DehrnHtv21"
    "XXEMYRUocHqguyjknFHYfgY"
)


@pytest.fixture(scope="module")
def root() -> bip32.HDKey:
    return bip32.HDKey.from_seed(bip39.mnemonic_to_seed(MNEMONIC))


def account(root: bip32.HDKey, path: str, version: bytes | None = None) -> str:
    return root.derive(path).to_public().to_base58(version=version)


def tprv_root(root: bip32.HDKey) -> bip32.HDKey:
    return bip32.HDKey(root.key, root.chain_code, version=EMBIT["test"]["xprv"])


# -- published vectors ----------------------------------------------------------------------


def test_bip84_zpub_receive_addresses(root: bip32.HDKey) -> None:
    assert account(root, "m/84h/0h/0h", EMBIT["main"]["zpub"]) == ZPUB
    wallet = DescriptorWallet(parse_wallet_source(ZPUB, "mainnet"), "mainnet")
    assert wallet.descriptor.startswith("wpkh(xpub")
    assert wallet.descriptor.partition("#")[0].endswith("/0/*)")
    assert wallet.address_at(0) == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    assert wallet.address_at(1) == "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"


def test_bip49_testnet_upub(root: bip32.HDKey) -> None:
    assert account(tprv_root(root), "m/49h/1h/0h", EMBIT["test"]["ypub"]) == UPUB
    desc = parse_wallet_source(UPUB, "testnet")
    assert desc.startswith("sh(wpkh(tpub")
    assert DescriptorWallet(desc, "testnet").address_at(0) == "2Mww8dCYPUpKHofjgcXcBCEGmniw9CoaiD2"


def test_bip44_mainnet_xpub(root: bip32.HDKey) -> None:
    xpub = account(root, "m/44h/0h/0h")
    desc = parse_wallet_source(xpub, "mainnet")
    assert desc.startswith("pkh(xpub")
    assert DescriptorWallet(desc, "mainnet").address_at(0) == "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA"


def test_bip86_taproot_descriptor_with_origin_and_multipath(root: bip32.HDKey) -> None:
    xpub = account(root, "m/86h/0h/0h")
    desc = parse_wallet_source(f"tr([73c5da0a/86'/0'/0']{xpub}/<0;1>/*)", "mainnet")
    body, _, check = desc.partition("#")
    assert body == f"tr([73c5da0a/86h/0h/0h]{xpub}/0/*)"
    assert check == checksum(body)
    wallet = DescriptorWallet(desc, "mainnet")
    assert wallet.address_at(0) == "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"


def test_descriptor_forms_agree(root: bip32.HDKey) -> None:
    xpub = account(root, "m/84h/0h/0h")
    plain = f"wpkh([73c5da0a/84h/0h/0h]{xpub}/0/*)"
    with_checksum = f"{plain}#{checksum(plain)}"
    zpub_inside = f"wpkh({ZPUB}/0/*)"
    addresses = {
        DescriptorWallet(src, "mainnet").address_at(5)
        for src in (plain, with_checksum, zpub_inside, ZPUB, "  " + plain[:40] + "\n" + plain[40:])
    }
    assert len(addresses) == 1
    assert parse_wallet_source(with_checksum, "mainnet") == with_checksum


def test_regtest_and_signet_use_their_own_hrp(root: bip32.HDKey) -> None:
    vpub = account(tprv_root(root), "m/84h/1h/0h", EMBIT["test"]["zpub"])
    regtest = DescriptorWallet(parse_wallet_source(vpub, "regtest"), "regtest")
    signet = DescriptorWallet(parse_wallet_source(vpub, "signet"), "signet")
    assert regtest.address_at(0).startswith("bcrt1q")
    assert signet.address_at(0).startswith("tb1q")
    assert (
        parse_address(regtest.address_at(0)).script_pubkey
        == parse_address(signet.address_at(0)).script_pubkey
    )


def test_multisig_descriptor(root: bip32.HDKey) -> None:
    a = account(root, "m/48h/0h/0h/2h")
    b = account(root, "m/48h/0h/1h/2h")
    desc = parse_wallet_source(f"wsh(sortedmulti(1,{a}/<0;1>/*,{b}/<0;1>/*))", "mainnet")
    assert "/0/*" in desc and "<" not in desc
    wallet = DescriptorWallet(desc, "mainnet")
    assert parse_address(wallet.address_at(0)).kind == "p2wsh"
    # The cached (pre-derived) keys give what plain embit derivation gives.
    plain = Descriptor.from_string(desc.partition("#")[0])
    for index in (0, 1, 99):
        assert wallet.address_at(index) == plain.derive(index).address()


# -- refusals -------------------------------------------------------------------------------


def test_private_keys_are_refused(root: bip32.HDKey) -> None:
    xprv = root.derive("m/84h/0h/0h").to_base58()
    tprv = tprv_root(root).to_base58()
    wif = ec.PrivateKey(b"\x01" * 32).wif()
    for text in (
        xprv,
        f"wpkh({xprv}/0/*)",
        f"wpkh({tprv}/84h/1h/0h/0/*)",
        f"wpkh({wif})",
        f"tr({wif})",
        "wpkh(" + xprv[:-1] + "x/0/*)",
    ):
        with pytest.raises(BadValue) as info:
            parse_wallet_source(text, "mainnet")
        assert str(info.value) == "watch-only only: this descriptor holds a private key"
        assert xprv[4:20] not in repr(info.value)


def test_key_of_another_network_is_named(root: bip32.HDKey) -> None:
    with pytest.raises(BadValue, match=r"\(zpub\) is for mainnet, but this ledger is on testnet"):
        parse_wallet_source(ZPUB, "testnet")
    with pytest.raises(BadValue, match=r"\(upub\) is for testnet, .* regtest, but .* mainnet"):
        parse_wallet_source(UPUB, "mainnet")
    tpub = account(tprv_root(root), "m/84h/1h/0h")
    with pytest.raises(BadValue, match=r"\(tpub\) is for testnet.*this ledger is on mainnet"):
        parse_wallet_source(f"wpkh({tpub}/0/*)", "mainnet")


@pytest.mark.parametrize(
    ("template", "word"),
    [
        ("wpkh({x}/0/*h)", "hardened wildcard"),
        ("wpkh({x}/0h/*)", "hardened step"),
        ("wpkh({x})", "no wildcard"),
        ("wpkh({x}/0/*", "malformed"),
        ("wpkh({x}/0/*)#aaaaaaaa", "checksum"),
        ("wpkx({x}/0/*)", "malformed"),
        ("wpkh({x}/0/*)é", "character"),
        ("{x}x", "bad checksum"),
        ("hello", "not a descriptor"),
        ("", "empty"),
    ],
)
def test_malformed_sources_are_refused(root: bip32.HDKey, template: str, word: str) -> None:
    xpub = account(root, "m/84h/0h/0h")
    with pytest.raises(BadValue, match=word) as info:
        parse_wallet_source(template.format(x=xpub), "mainnet")
    assert info.value.exit_code == ExitCode.USAGE


def test_multisig_bare_key_and_bad_index(root: bip32.HDKey) -> None:
    zpub_multi = account(root, "m/48h/0h/0h/2h", EMBIT["main"]["Zpub"])
    with pytest.raises(BadValue, match="multisig"):
        parse_wallet_source(zpub_multi, "mainnet")
    wallet = DescriptorWallet(ZPUB, "mainnet")
    for bad in (-1, 2**31, True, "1"):
        with pytest.raises(BadValue):
            wallet.address_at(bad)  # type: ignore[arg-type]
    assert wallet.address_at(2**31 - 1).startswith("bc1q")
    assert wallet.addresses(0, 2) == [wallet.address_at(0), wallet.address_at(1)]


# -- keystore -------------------------------------------------------------------------------


def test_new_key_is_saved_private_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    store = KeyStore(path)
    address, wif = store.new_key("regtest")
    assert address.startswith("bcrt1q")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert wif not in repr(store)
    reread = KeyStore(path).load()
    assert reread.addresses() == [address]
    assert reread.wif_for(address) == wif
    assert reread.wif_for(address.upper()) == wif
    assert address in reread
    assert reread.addresses("regtest") == [address] and reread.addresses("mainnet") == []
    assert not [p for p in tmp_path.iterdir() if p.name != "keys.toml"]  # no temp left over


def test_new_key_networks(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.toml")
    main_addr, main_wif = store.new_key("mainnet")
    test_addr, test_wif = store.new_key("signet")
    assert main_addr.startswith("bc1q") and main_wif[0] in "KL"
    assert test_addr.startswith("tb1q") and test_wif[0] == "c"
    assert len(KeyStore(tmp_path / "keys.toml").load()) == 2


def test_add_checks_the_key_matches(tmp_path: Path) -> None:
    key = ec.PrivateKey(b"\x07" * 32)
    address = p2wpkh_address(key.sec(), "regtest")
    store = KeyStore(tmp_path / "keys.toml")
    store.add(address, key.wif(EMBIT["regtest"]))
    other = ec.PrivateKey(b"\x08" * 32).wif(EMBIT["regtest"])
    with pytest.raises(BadValue, match="does not pay to") as info:
        store.add(address, other)
    assert other not in str(info.value)
    with pytest.raises(BadValue, match="is for mainnet"):
        store.add(address, key.wif(EMBIT["main"]))
    with pytest.raises(BadValue, match="not a valid WIF"):
        store.add(address, "not-a-key")
    store.save()
    assert KeyStore(tmp_path / "keys.toml").wif_for(address) == key.wif(EMBIT["regtest"])


@pytest.mark.parametrize(("mode", "word"), [(0o644, "readable"), (0o620, "writable")])
def test_keystore_open_to_others_is_refused(tmp_path: Path, mode: int, word: str) -> None:
    path = tmp_path / "keys.toml"
    KeyStore(path).new_key("regtest")
    os.chmod(path, mode)
    with pytest.raises(LedgerError, match=f"keys.toml is {word} by others") as info:
        KeyStore(path).load()
    assert f"mode {mode:04o}" in str(info.value) and "chmod 600" in str(info.value)
    assert info.value.exit_code == ExitCode.LEDGER


def test_keystore_bad_content(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"schema_version = 99\n")
    os.close(fd)
    with pytest.raises(LedgerError, match="upgrade cloudlease"):
        KeyStore(path).load()
    path.write_bytes(b"wif = = 'cSecret'\n")
    with pytest.raises(LedgerError, match="not valid TOML") as info:
        KeyStore(path).load()
    assert "cSecret" not in str(info.value)
    with pytest.raises(LedgerError, match="no private key"):
        KeyStore(tmp_path / "missing.toml").wif_for("bcrt1qxyz")
    path.write_bytes(b"schema_version = 1\n[keys.nonsense]\nwif = 'x'\n")
    problems = KeyStore(path).load().verify()  # addresses are checked by verify, not load
    assert problems and "nonsense" in problems[0]


def test_verify_finds_a_key_that_does_not_match(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    store = KeyStore(path)
    good, _ = store.new_key("regtest")
    other, _ = store.new_key("regtest")
    assert store.verify() == []
    wrong = ec.PrivateKey(b"\x02" * 32).wif(EMBIT["regtest"])
    path.write_text(path.read_text().replace(store.wif_for(other), wrong))
    problems = KeyStore(path).verify()
    assert problems == [f"{other}: its key does not pay to it"]
    assert wrong not in problems[0]


# -- sweeping -------------------------------------------------------------------------------

# BIP143 "Native P2WPKH" example: input 1 (6 BTC) is signed by this key.
BIP143_UNSIGNED = (
    "0100000002fff7f7881a8099afa6940d42d1e7f6362bec38171ea3edf433541db4e4ad969f0000000000eeff"
    "ffffef51e1b804cc89d182d279655c3aa89e815b1b309fe287d9b2b55d57b90ec68a0100000000ffffffff02"
    "202cb206000000001976a9148280b37df378db99f66f85c95a783a76ac7a6d5988ac9093510d000000001976"
    "a9143bde42dbee7e4dbe6a21b2d50ce2f0167faa815988ac11000000"
)
BIP143_KEY = "619c335025c7f4012e556c2a58b2506e30b8511b53ade95ea316fd8c3286feb9"
BIP143_SIG = (
    "304402203609e17b84f6a7d30c80bfa610b5b4542f32a8a0d5447a12fb1366d7f01cc44a0220573a954c4518"
    "331561406f90300e8f3358f51928d43c212a8caed02de67eebee01"
)


def test_p2wpkh_signing_matches_bip143_vector() -> None:
    tx = Transaction.parse(bytes.fromhex(BIP143_UNSIGNED))
    key = ec.PrivateKey(bytes.fromhex(BIP143_KEY))
    sign_p2wpkh_input(tx, 1, key, 600_000_000)
    assert [item.hex() for item in tx.vin[1].witness.items] == [BIP143_SIG, key.sec().hex()]
    assert tx.vin[1].script_sig.data == b""


@dataclass
class Utxo:
    txid: str
    vout: int
    sats: int
    address: str


def test_sweep_builds_a_signed_native_segwit_transaction() -> None:
    import coincurve  # bit's secp256k1 binding: an independent signature check

    keys = [ec.PrivateKey(bytes([n]) * 32) for n in (3, 4)]
    wifs = [k.wif(EMBIT["regtest"]) for k in keys]
    addrs = [p2wpkh_address(k.sec(), "regtest") for k in keys]
    utxos = [Utxo("aa" * 32, 0, 50_000, addrs[0]), Utxo("bb" * 32, 1, 70_000, addrs[1].upper())]
    to = p2wpkh_address(ec.PrivateKey(b"\x09" * 32).sec(), "regtest")
    raw = sweep_transaction(wifs, to, 2, utxos, network="regtest")
    tx = Transaction.parse(bytes.fromhex(raw))
    out_script = parse_address(to).script_pubkey
    fee = 2 * sweep_vsize(2, out_script)
    assert [o.value for o in tx.vout] == [120_000 - fee]
    assert tx.vout[0].script_pubkey.data == out_script
    assert all(i.sequence == 0xFFFFFFFD and i.script_sig.data == b"" for i in tx.vin)
    weight = len(_strip_witness(tx)) * 3 + len(tx.serialize())
    assert -(-weight // 4) <= sweep_vsize(2, out_script)
    for index, (utxo, key) in enumerate(zip(utxos, keys, strict=True)):
        sig, pub = tx.vin[index].witness.items
        assert pub == key.sec() and sig[-1] == 1
        digest = tx.sighash_segwit(index, script.p2pkh(key.get_public_key()), utxo.sats)
        assert coincurve.PublicKey(pub).verify(sig[:-1], digest, hasher=None)


def _strip_witness(tx: Transaction) -> bytes:
    bare = Transaction(tx.version, [], tx.vout, tx.locktime)
    bare.vin = [TransactionInput(i.txid, i.vout, i.script_sig, i.sequence) for i in tx.vin]
    return bare.serialize()


def test_sweep_refusals() -> None:
    key = ec.PrivateKey(b"\x05" * 32)
    wif = key.wif(EMBIT["regtest"])
    addr = p2wpkh_address(key.sec(), "regtest")
    to = addr
    utxo = Utxo("cc" * 32, 0, 10_000, addr)
    with pytest.raises(Conflict, match="dust"):
        sweep_transaction([wif], to, 100, [Utxo("cc" * 32, 0, 11_200, addr)], network="regtest")
    with pytest.raises(BadValue, match="listed twice"):
        sweep_transaction([wif], to, 1, [utxo, utxo], network="regtest")
    with pytest.raises(BadValue, match="no private key given"):
        sweep_transaction([], to, 1, [utxo], network="regtest")
    with pytest.raises(BadValue, match="no UTXOs"):
        sweep_transaction([wif], to, 1, [], network="regtest")
    with pytest.raises(BadValue, match="fee rate"):
        sweep_transaction([wif], to, 1.5, [utxo], network="regtest")  # type: ignore[arg-type]
    with pytest.raises(BadValue, match="this ledger is on regtest"):
        sweep_transaction(
            [wif], "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", 1, [utxo], network="regtest"
        )
    main_to = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    with pytest.raises(BadValue, match="a private key given is for testnet"):
        sweep_transaction([wif], main_to, 1, [utxo], network="mainnet")


@pytest.mark.parametrize(
    ("address", "limit"),
    [
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", 294),
        ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", 546),
        ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", 540),
        ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", 330),
    ],
)
def test_dust_limits_match_bitcoin_core(address: str, limit: int) -> None:
    assert dust_limit(parse_address(address).script_pubkey) == limit


def test_new_key_appends_and_a_torn_append_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    store = KeyStore(path)
    first = [store.new_key("regtest")[0] for _ in range(3)]
    assert KeyStore(path).load().addresses() == first
    assert path.stat().st_mode & 0o777 == 0o600
    with path.open("ab") as fh:  # a crash in the middle of appending a fourth key
        fh.write(b'\n[keys.bcrt1qtornaddress]\nwif = "cVtorn')
    damaged = KeyStore(path).load()
    assert damaged.addresses() == first and damaged.torn
    fourth, _ = KeyStore(path).new_key("regtest")  # repairs, then appends
    healed = KeyStore(path).load()
    assert healed.addresses() == [*first, fourth] and not healed.torn
    assert healed.verify() == []
    with path.open("ab") as fh:  # a torn table that ends at a line break
        fh.write(b"\n[keys.bcrt1qtornagain]\n")
    assert KeyStore(path).load().addresses() == [*first, fourth]
    fifth, _ = KeyStore(path).new_key("regtest")
    assert KeyStore(path).load().addresses() == [*first, fourth, fifth]
