"""Sweeping the keys wallet: one transaction moving every given UTXO to one address.

Every input is a P2WPKH output of one of the keys given (WIF), signed with embit (see
``signing``); the fee is ``ceil(vsize × rate)`` from an upper bound of the signed size, and
inputs signal RBF so a stuck sweep can be bumped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_CEILING, Decimal
from typing import Any

from cloudlease.bitcoin.address import p2wpkh_address, parse_address, validate_address
from cloudlease.bitcoin.networks import check_network, describe
from cloudlease.bitcoin.signing import (
    MAX_FEE_RATE,
    RBF_SEQUENCE,
    dust_limit,
    sign_p2wpkh_input,
    varint_len,
    wif_networks,
)
from cloudlease.core.errors import BadValue, Conflict


def sweep_vsize(n_inputs: int, output_script: bytes) -> int:
    """Upper bound of the virtual size of a sweep: P2WPKH inputs, one output.

    Signatures are counted at 72 bytes (embit grinds low-R ones of at most 71).
    """
    base = 4 + varint_len(n_inputs) + 41 * n_inputs + 1 + 8 + varint_len(len(output_script))
    base += len(output_script) + 4
    witness = 2 + n_inputs * (1 + 1 + 72 + 1 + 33)
    weight = base * 4 + witness
    return -(-weight // 4)



def sweep_transaction(
    keys: Sequence[str],
    to_address: str,
    fee_rate_sat_vb: int | Decimal,
    utxos: Iterable[Any],
    *,
    network: str,
) -> str:
    """Build and sign a transaction moving every UTXO to ``to_address``; return raw hex.

    ``utxos`` are objects with ``txid`` (hex), ``vout``, ``sats`` and ``address``
    (``backends.base.Received`` fits). Each must pay the P2WPKH address of one of ``keys``
    (WIF strings). The fee is ``ceil(vsize × fee_rate)``; inputs signal RBF (BIP125).
    Raises ``BadValue`` for a bad address or rate, an unknown UTXO address, a duplicated
    UTXO, or nothing left above the dust limit after the fee.
    """
    network = check_network(network)
    destination = validate_address(to_address, network)
    out_script = parse_address(destination).script_pubkey
    rate = _fee_rate(fee_rate_sat_vb)
    spends = _spends(utxos, _keys_by_address(keys, network))
    total = sum(utxo.sats for utxo, _ in spends)
    vsize = sweep_vsize(len(spends), out_script)
    fee = int((rate * vsize).to_integral_value(rounding=ROUND_CEILING))
    amount = total - fee
    if amount < dust_limit(out_script):
        raise Conflict(
            f"nothing to sweep: {total} sat minus a {fee} sat fee leaves less than the dust limit"
        )
    tx = _unsigned(spends, amount, out_script)
    for index, (utxo, key) in enumerate(spends):
        sign_p2wpkh_input(tx, index, key, utxo.sats)
    return tx.serialize().hex()


def _fee_rate(fee_rate_sat_vb: Any) -> Decimal:
    if isinstance(fee_rate_sat_vb, bool) or not isinstance(fee_rate_sat_vb, int | Decimal):
        raise BadValue("fee rate must be an int or Decimal number of sat/vB")
    rate = Decimal(fee_rate_sat_vb)
    if not rate.is_finite() or rate < 1 or rate > MAX_FEE_RATE:
        raise BadValue(f"fee rate {rate} sat/vB is out of range (1 to {MAX_FEE_RATE})")
    return rate


def _keys_by_address(keys: Sequence[str], network: str) -> dict[str, Any]:
    """Each key (WIF, for ``network``) by the P2WPKH address it spends from."""
    by_address: dict[str, Any] = {}
    for wif in keys:
        key, key_networks = wif_networks(wif)
        if network not in key_networks:
            raise BadValue(f"a private key given is for {describe(key_networks)}, not {network}")
        by_address[p2wpkh_address(key.sec(), network)] = key
    return by_address


def _spends(utxos: Iterable[Any], by_address: dict[str, Any]) -> list[tuple[Any, Any]]:
    """Each UTXO (once, with a positive amount) with the key that spends it."""
    spends: list[tuple[Any, Any]] = []
    seen: set[tuple[str, int]] = set()
    for utxo in utxos:
        outpoint = (str(utxo.txid).lower(), int(utxo.vout))
        if outpoint in seen:
            raise BadValue(f"UTXO {outpoint[0]}:{outpoint[1]} is listed twice")
        seen.add(outpoint)
        if isinstance(utxo.sats, bool) or not isinstance(utxo.sats, int) or utxo.sats <= 0:
            raise BadValue(f"UTXO {outpoint[0]}:{outpoint[1]} has a bad amount")
        key = by_address.get(str(utxo.address).lower())
        if key is None:
            raise BadValue(f"no private key given for UTXO address {utxo.address}")
        spends.append((utxo, key))
    if not spends:
        raise BadValue("nothing to sweep: no UTXOs given")
    return spends


def _unsigned(spends: list[tuple[Any, Any]], amount: int, out_script: bytes) -> Any:
    """The unsigned transaction: every UTXO in (signalling RBF), ``amount`` out."""
    from embit.script import Script
    from embit.transaction import Transaction, TransactionInput, TransactionOutput

    try:
        vin = [
            TransactionInput(bytes.fromhex(utxo.txid), int(utxo.vout), sequence=RBF_SEQUENCE)
            for utxo, _ in spends
        ]
    except ValueError:
        raise BadValue("a UTXO txid is not hex") from None
    if any(len(inp.txid) != 32 for inp in vin):
        raise BadValue("a UTXO txid is not 32 bytes")
    return Transaction(version=2, vin=vin, vout=[TransactionOutput(amount, Script(out_script))])
