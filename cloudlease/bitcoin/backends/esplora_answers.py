"""Parsing Esplora answers into what the backend observes: transactions (outputs, RBF,
block), address totals, block status, the tip, unspent outputs.

Every parser takes the body as bytes and returns plain values, or raises ``Malformed``
for anything that is not what the API promises (not JSON, NaN, a wrong shape, a number out
of range): the client then stops trusting that base for the call.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

RBF_BELOW = 0xFFFFFFFE
HEX64 = re.compile(r"[0-9a-fA-F]{64}")  # a txid or a block hash
_HEIGHT = re.compile(r"[0-9]{1,10}")


class Malformed(Exception):
    """An answer that is not what the API promises."""


@dataclass(frozen=True, slots=True)
class Tx:
    txid: str
    confirmed: bool
    height: int | None
    rbf: bool
    outputs: tuple[tuple[int, str | None, int], ...]  # (vout, address, sats)
    block_hash: str | None = None
    block_time: int | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    """``/address/:a``: per part (chain, mempool) tx count, funded output count and sum."""

    chain: tuple[int, int, int]
    mempool: tuple[int, int, int]


def _int(value: Any, what: str, low: int = 0, high: int = 2**63) -> int:
    if type(value) is not int or not low <= value <= high:
        raise Malformed(f"{what} is not a whole number in range: {value!r}")
    return value


def parse_tx(raw: Any) -> Tx:
    if not isinstance(raw, dict):
        raise Malformed("a transaction is not an object")
    txid = raw.get("txid")
    if not isinstance(txid, str) or not HEX64.fullmatch(txid):
        raise Malformed(f"bad txid {txid!r}")
    vin, vout, status = raw.get("vin"), raw.get("vout"), raw.get("status")
    if not isinstance(vin, list) or not isinstance(vout, list) or not isinstance(status, dict):
        raise Malformed(f"transaction {txid} lacks vin, vout or status")
    sequences = _sequences(txid, vin)
    outputs = _outputs(txid, vout)
    confirmed, height, block_hash, block_time = _block(txid, status)
    rbf = any(s < RBF_BELOW for s in sequences)
    return Tx(txid.lower(), confirmed, height, rbf, tuple(outputs),
              block_hash.lower() if block_hash else None, block_time)


def _sequences(txid: str, vin: list) -> list[int]:
    """Each input's nSequence (below ``RBF_BELOW`` signals replaceability)."""
    sequences = []
    for item in vin:
        if not isinstance(item, dict):
            raise Malformed(f"transaction {txid}: an input is not an object")
        sequences.append(_int(item.get("sequence"), "sequence", 0, 0xFFFFFFFF))
    return sequences


def _outputs(txid: str, vout: list) -> list[tuple[int, str | None, int]]:
    """(vout, address, sats) per output; no address for OP_RETURN and bare scripts."""
    outputs = []
    for n, item in enumerate(vout):
        if not isinstance(item, dict):
            raise Malformed(f"transaction {txid}: an output is not an object")
        address = item.get("scriptpubkey_address")  # absent for OP_RETURN and bare scripts
        if address is not None and not isinstance(address, str):
            raise Malformed(f"transaction {txid}: bad output address")
        outputs.append((n, address, _int(item.get("value"), "value", 0, 21 * 10**14)))
    return outputs


def _block(txid: str, status: dict) -> tuple[bool, int | None, str | None, int | None]:
    """Confirmed or not, and the block's height, hash and time (where given)."""
    confirmed = status.get("confirmed")
    if type(confirmed) is not bool:
        raise Malformed(f"transaction {txid}: status.confirmed is not true or false")
    if not confirmed:
        return False, None, None, None
    height = _int(status.get("block_height"), "block_height")
    block_hash = status.get("block_hash")
    if block_hash is not None and (not isinstance(block_hash, str)
                                   or not HEX64.fullmatch(block_hash)):
        raise Malformed(f"transaction {txid}: bad block_hash")
    block_time = None
    if status.get("block_time") is not None:
        block_time = _int(status["block_time"], "block_time", 0, 2**40)
    return True, height, block_hash, block_time


def parse_json(content: bytes) -> Any:
    if not content.strip():
        raise Malformed("empty body")

    def refuse(name: str) -> Any:
        raise ValueError(name)

    try:
        return json.loads(content, parse_constant=refuse)
    except (ValueError, RecursionError) as exc:  # ValueError covers UnicodeDecodeError
        raise Malformed(f"not JSON ({exc.__class__.__name__})") from None


def parse_page(content: bytes) -> list[Tx]:
    value = parse_json(content)
    if not isinstance(value, list):
        raise Malformed("a transaction list is not a list")
    return [parse_tx(item) for item in value]


def parse_stats(content: bytes) -> Stats:
    value = parse_json(content)
    try:
        parts = [(_int(part["tx_count"], "tx_count"),
                  _int(part["funded_txo_count"], "funded_txo_count"),
                  _int(part["funded_txo_sum"], "funded_txo_sum"))
                 for part in (value["chain_stats"], value["mempool_stats"])]
    except (KeyError, TypeError):
        raise Malformed("address stats lack chain_stats/mempool_stats counts and sums") from None
    return Stats(parts[0], parts[1])


def parse_block_status(content: bytes) -> tuple[bool, int | None]:
    """``/block/:hash/status``: (in the best chain, its height when it is)."""
    value = parse_json(content)
    if not isinstance(value, dict) or type(value.get("in_best_chain")) is not bool:
        raise Malformed("block status lacks in_best_chain")
    if not value["in_best_chain"]:
        return False, None
    return True, _int(value.get("height"), "block height")


def parse_hash(content: bytes) -> str:
    text = content.decode("ascii", errors="replace").strip()
    if not HEX64.fullmatch(text):
        raise Malformed(f"tip hash is not 64 hex digits: {text[:70]!r}")
    return text.lower()


def parse_height(content: bytes) -> int:
    text = content.decode("ascii", errors="replace").strip()
    if not _HEIGHT.fullmatch(text):
        raise Malformed(f"tip height is not a plain number: {text[:40]!r}")
    return int(text)


def parse_utxos(content: bytes) -> list[tuple[str, int, int, int | None]]:
    """``/address/:a/utxo``: (txid, vout, sats, height or None) per unspent output."""
    data = parse_json(content)
    if not isinstance(data, list):
        raise Malformed("utxo list is not an array")
    rows = []
    for row in data:
        if not isinstance(row, dict) or not isinstance(row.get("status"), dict) or \
                not isinstance(row.get("txid"), str):
            raise Malformed("malformed utxo")
        status = row["status"]
        height = _int(status.get("block_height"), "block height") \
            if status.get("confirmed") else None
        rows.append((row["txid"], _int(row.get("vout"), "vout"),
                     _int(row.get("value"), "value"), height))
    return rows
