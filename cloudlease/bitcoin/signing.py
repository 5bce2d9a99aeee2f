"""Spending P2WPKH outputs with WIF keys: decoding a key with the networks it fits,
signing an input (BIP143), the dust limit, and the limits every spend shares.

Signing uses embit, not bit: bit 0.8.0 signs segwit inputs only as P2SH-P2WPKH (it always
writes a scriptSig) and skips native P2WPKH outputs. No message ever quotes a key.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cloudlease.bitcoin.networks import TEST_FAMILY
from cloudlease.core.errors import BadValue

RBF_SEQUENCE = 0xFFFFFFFD  # BIP125: lets the operator bump a stuck sweep
MAX_FEE_RATE = Decimal(10_000)  # sat/vB; anything above is surely a typo


def wif_networks(wif: str) -> tuple[Any, tuple[str, ...]]:
    """Decode a WIF into an embit private key and the networks its prefix belongs to.

    Raises ``BadValue`` without ever quoting the key.
    """
    from embit import ec
    from embit.base import EmbitError

    try:
        key = ec.PrivateKey.from_wif(wif.strip())
    except (EmbitError, ValueError, TypeError, AttributeError, IndexError):
        raise BadValue("the private key given is not a valid WIF key") from None
    if not key.compressed:
        raise BadValue("the private key given is uncompressed; P2WPKH needs a compressed key")
    prefix = key.network["wif"] if key.network else None
    if prefix == b"\x80":
        return key, ("mainnet",)
    if prefix == b"\xef":
        return key, TEST_FAMILY
    raise BadValue("the private key given has an unknown WIF prefix")


def sign_p2wpkh_input(tx: Any, index: int, key: Any, amount_sats: int) -> None:
    """Sign input ``index`` of an embit ``Transaction`` spending a P2WPKH output (BIP143).

    The scriptCode of a P2WPKH input is the P2PKH script of the key; the witness is
    ``[signature + SIGHASH_ALL, public key]`` and the scriptSig stays empty.
    """
    from embit import script
    from embit.transaction import SIGHASH

    pub = key.get_public_key()
    digest = tx.sighash_segwit(index, script.p2pkh(pub), amount_sats, SIGHASH.ALL)
    tx.vin[index].witness = script.witness_p2wpkh(key.sign(digest), pub, SIGHASH.ALL)


def dust_limit(output_script: bytes) -> int:
    """Bitcoin Core's dust threshold for an output (3 sat/vB to spend it)."""
    out_size = 8 + varint_len(len(output_script)) + len(output_script)
    segwit = len(output_script) >= 4 and output_script[0] in (0, *range(0x51, 0x61))
    spend_size = 67 if segwit and output_script[1] + 2 == len(output_script) else 148
    return (out_size + spend_size) * 3


def varint_len(n: int) -> int:
    return 1 if n < 0xFD else 3 if n <= 0xFFFF else 5

