"""Paying an amount out of the keys wallet (a refund): coin selection, change, signing.

``sweep_transaction`` (sweep.py) moves everything to one address; a refund pays one
amount and keeps the rest, so it picks outputs (the refunded request's own first, then
the largest), adds a change output to a fresh wallet address unless the change would be
dust (it then goes to the fee), and signs every P2WPKH input with embit. The fee is
``ceil(vsize × rate)`` from an upper bound of the signed size; inputs signal RBF.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from cloudlease.bitcoin.address import p2wpkh_address, parse_address, validate_address
from cloudlease.bitcoin.networks import check_network
from cloudlease.bitcoin.signing import (
    MAX_FEE_RATE,
    RBF_SEQUENCE,
    dust_limit,
    sign_p2wpkh_input,
    varint_len,
    wif_networks,
)
from cloudlease.core.errors import BadValue, Conflict


@dataclass(frozen=True)
class Spend:
    """A signed transaction paying ``sats`` to ``to``.

    Attributes:
        raw_hex / txid: the transaction.
        inputs: the outputs spent (``txid:vout``); input_sats what they held.
        fee_sats: the mining fee; change_sats what went back to ``change_address``
            (0 and no change output when it would have been dust).
    """

    raw_hex: str
    txid: str
    to: str
    sats: int
    inputs: tuple[str, ...]
    input_sats: int
    fee_sats: int
    change_address: str | None
    change_sats: int


def vsize(n_inputs: int, output_scripts: Iterable[bytes]) -> int:
    """Upper bound of the virtual size: P2WPKH inputs (72-byte signatures), these outputs."""
    outs = list(output_scripts)
    base = 4 + varint_len(n_inputs) + 41 * n_inputs + varint_len(len(outs)) + 4
    base += sum(8 + varint_len(len(s)) + len(s) for s in outs)
    witness = 2 + n_inputs * (1 + 1 + 72 + 1 + 33)
    return -(-(base * 4 + witness) // 4)


def _fee(rate: Decimal, size: int) -> int:
    return int((rate * size).to_integral_value(rounding=ROUND_CEILING))


def pay_transaction(keys: Iterable[str], utxos: Iterable[Any], *, to: str, sats: int,
                    change_address: str, fee_rate: Decimal, network: str,
                    prefer: Iterable[str] = ()) -> Spend:
    """Sign a transaction paying ``sats`` to ``to`` from ``utxos`` (objects with ``txid``,
    ``vout``, ``sats``, ``address`` and ``height``), change to ``change_address``.

    Outputs of the ``prefer`` addresses go first, then confirmed ones by size, largest
    first. Raises ``BadValue`` for a bad address, rate or amount, a UTXO without a key,
    or a wallet that cannot pay the amount and its fee."""
    network = check_network(network)
    to = validate_address(to, network)
    pay_script = parse_address(to).script_pubkey
    change_script = parse_address(validate_address(change_address, network)).script_pubkey
    rate = Decimal(fee_rate)
    if not rate.is_finite() or rate < 1 or rate > MAX_FEE_RATE:
        raise BadValue(f"fee rate {rate} sat/vB is out of range (1 to {MAX_FEE_RATE})")
    if isinstance(sats, bool) or not isinstance(sats, int) or sats < dust_limit(pay_script):
        raise BadValue(f"{sats} sat is below the dust limit of {to} "
                       f"({dust_limit(pay_script)} sat): too little to send on-chain")
    by_address: dict[str, Any] = {}
    for wif in keys:
        key, key_networks = wif_networks(wif)
        if network not in key_networks:
            raise BadValue(f"a private key given is for another network than {network}")
        by_address[p2wpkh_address(key.sec(), network)] = key
    first = set(prefer)
    pool = sorted({(str(u.txid).lower(), int(u.vout)): u for u in utxos}.values(),
                  key=lambda u: (u.address not in first, u.height is None, -u.sats,
                                 str(u.txid), int(u.vout)))
    chosen: list[Any] = []
    total = 0
    for utxo in pool:
        if utxo.address not in by_address:
            raise BadValue(f"no private key for UTXO address {utxo.address}")
        chosen.append(utxo)
        total += utxo.sats
        with_change = _fee(rate, vsize(len(chosen), [pay_script, change_script]))
        without = _fee(rate, vsize(len(chosen), [pay_script]))
        if total >= sats + without:
            break
    else:
        without = _fee(rate, vsize(max(1, len(chosen)), [pay_script]))
        raise Conflict(f"the wallet holds {total:,} sat unspent, not enough for {sats:,} sat "
                       f"and a fee of about {without:,} sat")
    change = total - sats - with_change
    if change >= dust_limit(change_script):
        fee, outputs = with_change, [(pay_script, sats), (change_script, change)]
    else:
        fee, change, outputs = total - sats, 0, [(pay_script, sats)]
    return _sign(chosen, outputs, by_address, to, sats, fee, change_address if change else
                 None, change)


def _sign(chosen: list[Any], outputs: list[tuple[bytes, int]], keys: Mapping[str, Any],
          to: str, sats: int, fee: int, change_address: str | None, change: int) -> Spend:
    from embit.script import Script
    from embit.transaction import Transaction, TransactionInput, TransactionOutput

    vin = [TransactionInput(bytes.fromhex(u.txid), int(u.vout), sequence=RBF_SEQUENCE)
           for u in chosen]
    tx = Transaction(version=2, vin=vin,
                     vout=[TransactionOutput(value, Script(spk)) for spk, value in outputs])
    for index, utxo in enumerate(chosen):
        sign_p2wpkh_input(tx, index, keys[utxo.address], utxo.sats)
    return Spend(tx.serialize().hex(), tx.txid().hex(), to, sats,
                 tuple(f"{u.txid}:{u.vout}" for u in chosen), sum(u.sats for u in chosen),
                 fee, change_address, change)
