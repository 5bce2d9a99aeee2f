"""Reading the watch wallet's answers into received outputs (pure: the node's JSON in,
values out), for ``bitcoind.py``: the txids ``listreceivedbyaddress`` lists, a
``gettransaction``'s confirmations, block height and outputs, and which of them count.

A malformed answer raises ``BackendError``; answers that contradict each other (or
changed between two calls of a batch) raise ``Inconsistent``, and the backend reads once
more before it gives up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from cloudlease.bitcoin.backends.base import Received, utc_from_unix
from cloudlease.bitcoin.backends.rpc import _int, btc_to_sats
from cloudlease.core.errors import BackendError

RECEIVE_CATEGORIES = frozenset({"receive", "generate", "immature"})


class Inconsistent(Exception):
    """The node's answers contradict each other (or changed between two calls)."""


def norm(address: Any) -> Any:
    """Bech32 addresses compare case-insensitively; base58 ones exactly."""
    if isinstance(address, str) and address.lower().startswith(("bc1", "tb1", "bcrt1")):
        return address.lower()
    return address


def first_seen(tx: dict[str, Any]) -> datetime | None:
    """When the node first saw a wallet transaction: the earliest of its receive time and
    its "smart" time (the block time for one found by a rescan, which dates
    ``timereceived`` by the rescan itself)."""
    times = [tx.get(k) for k in ("time", "timereceived")]
    known = [t for t in times if type(t) is int and t > 0]
    return utc_from_unix(min(known)) if known else None


def txids_paying(address: str, listed: Any) -> Iterator[str]:
    """The txids ``listreceivedbyaddress`` lists for ``address``."""
    if not isinstance(listed, list):
        raise BackendError("bitcoind sent a malformed listreceivedbyaddress answer")
    for entry in listed:
        if not isinstance(entry, dict) or not isinstance(entry.get("txids"), list):
            raise BackendError("bitcoind sent a malformed listreceivedbyaddress entry")
        if norm(entry.get("address")) == norm(address):
            yield from (str(txid) for txid in entry["txids"])


def counted_confirmations(txid: str, tx: Any) -> int | None:
    """A wallet transaction's confirmations, None when it never counts (conflicted by a
    confirmed transaction, or abandoned)."""
    if not isinstance(tx, dict):
        raise BackendError(f"bitcoind sent a malformed gettransaction for {txid}")
    if tx.get("txid", txid) != txid:
        raise Inconsistent(f"asked for transaction {txid}, got {tx.get('txid')}")
    confirmations = _int(tx.get("confirmations"), "confirmation count")
    details = tx.get("details")
    if not isinstance(details, list):
        raise BackendError(f"bitcoind sent no details for transaction {txid}")
    if confirmations < 0 or any(isinstance(d, dict) and d.get("abandoned") is True
                                for d in details):
        return None
    return confirmations


def block_height(tx: dict[str, Any], confirmations: int, tip: Callable[[], int],
                  implied: set[int]) -> int | None:
    """The height a confirmed transaction is in: its own (noting the tip that implies in
    ``implied``), or counted back from the tip."""
    if confirmations <= 0:
        return None
    if "blockheight" in tx:
        height = _int(tx["blockheight"], "block height")
        implied.add(height + confirmations - 1)
        return height
    return tip() - confirmations + 1


def receipts(txid: str, tx: dict[str, Any], wanted: dict[Any, str], height: int | None,
              rbf: bool, confirmations: int) -> Iterator[Received]:
    """The transaction's outputs to the ``wanted`` addresses (by normalised address), as
    received: one ``details`` entry per output paying a wallet address."""
    block_hash = tx.get("blockhash") if confirmations > 0 else None
    seen = first_seen(tx)
    for d in tx["details"]:
        if not isinstance(d, dict):
            raise BackendError(f"bitcoind sent a malformed detail for {txid}")
        asked = wanted.get(norm(d.get("address")))
        if d.get("category") not in RECEIVE_CATEGORIES or asked is None:
            continue
        sats = btc_to_sats(d.get("amount"))
        if sats <= 0:
            raise Inconsistent(f"transaction {txid} receives {sats} sat")
        yield Received(address=asked, txid=txid, vout=_int(d.get("vout"), "output index"),
                       sats=sats, height=height, rbf=rbf, first_seen=seen,
                       block_hash=block_hash if isinstance(block_hash, str) else None)


def counted(found: list[tuple[Received, int]], in_mempool: dict[str, Any]
             ) -> Iterator[Received]:
    """Each output once: an unconfirmed one only while its transaction is in the mempool
    (dated by the node's entry time when that is earlier), one listed twice only with the
    same value (Inconsistent otherwise)."""
    seen_outputs: dict[tuple[str, int, str], int] = {}
    for rec, confirmations in found:
        if confirmations == 0 and rec.txid not in in_mempool:
            continue  # replaced (RBF), double-spent or dropped from the mempool
        key = (rec.txid, rec.vout, rec.address)
        if key in seen_outputs:
            if seen_outputs[key] != rec.sats:
                raise Inconsistent(f"output {rec.txid}:{rec.vout} is listed with "
                                    f"{seen_outputs[key]} and {rec.sats} sat")
            continue
        seen_outputs[key] = rec.sats
        entered = in_mempool.get(rec.txid)
        if confirmations == 0 and type(entered) is int and (
                rec.first_seen is None or utc_from_unix(entered) < rec.first_seen):
            # the node's own mempool entry time (a rebuilt wallet dates what it finds
            # by its rescan)
            rec = dataclasses.replace(rec, first_seen=utc_from_unix(entered))
        yield rec
