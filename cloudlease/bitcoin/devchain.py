"""A simulated regtest chain kept in ``devchain.json``, for demos, CI and fault drills.

Nothing here touches a network. Transactions are fakes with deterministic ids (sha256 of a
counter and their content); blocks likewise. This module is the simulation: paying,
mining, reorgs, replacing (RBF) and accepting a real signed sweep. The state file, its lock
and cached views are in ``devchain_store``; the answers, in the Esplora shape, come from
``devchain_view``, so the esplora client can be driven against ``devserver`` and the
devchain backend reads the same views.

Errors: a bad value from the user is ``BadValue``; an unknown txid ``NotFound``; replacing a
confirmed transaction ``Conflict``; a missing folder, a corrupt file or a lock held too long
``LedgerError`` (the backend turns those into ``BackendError``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from cloudlease.bitcoin.devchain_store import DevchainFile
from cloudlease.bitcoin.devchain_view import output_of
from cloudlease.core import clock
from cloudlease.core.errors import BadValue, Conflict, NotFound

MAX_SATS = 21_000_000 * 100_000_000
MAX_MINE = 10_000
FEE_SATS = 200  # a replacement pays this much more than the transaction it replaces
RBF_BELOW = 0xFFFFFFFE  # BIP125: an input sequence below this signals replaceability
_TXID = re.compile(r"[0-9a-f]{64}")
_ESPLORA_TYPES = {
    "p2pkh": "p2pkh",
    "p2sh": "p2sh",
    "p2wpkh": "v0_p2wpkh",
    "p2wsh": "v0_p2wsh",
    "p2tr": "v1_p2tr",
}


def _now_unix() -> int:
    """Now (CLOUDLEASE_NOW honoured) as unix seconds: the time the simulated chain records."""
    return int(clock.now().timestamp())


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@lru_cache(maxsize=4096)
def regtest_script(address: str) -> tuple[str, str, str]:
    """(canonical address, scriptpubkey hex, Esplora script type) of a regtest address.

    Raises BadValue for anything that is not a valid regtest (or testnet base58) address.
    """
    from embit.networks import NETWORKS
    from embit.script import address_to_scriptpubkey

    if not isinstance(address, str) or not address.strip():
        raise BadValue("an address is required")
    text = address.strip()
    if text.lower().startswith("bcrt1") and text.upper() == text:
        text = text.lower()  # bech32 may be written all uppercase (QR codes)
    try:
        script = address_to_scriptpubkey(text)
        canonical = script.address(NETWORKS["regtest"])
    except Exception:  # embit raises assorted errors for bad checksums, lengths, versions
        raise BadValue(f"not a valid regtest address: {address!r}") from None
    if canonical != text:
        raise BadValue(f"not a regtest address: {address!r} (the devchain is regtest only)")
    kind = _ESPLORA_TYPES.get(script.script_type() or "", "unknown")
    return canonical, script.data.hex(), kind


def _check_sats(sats: object) -> int:
    if type(sats) is not int or not 1 <= sats <= MAX_SATS:
        raise BadValue(f"amount must be a whole number of sats from 1 to {MAX_SATS}: {sats!r}")
    return sats


def _check_txid(txid: object) -> str:
    if not isinstance(txid, str) or not _TXID.fullmatch(txid.strip().lower()):
        raise BadValue(f"not a transaction id (64 hex digits): {txid!r}")
    return txid.strip().lower()


class Devchain(DevchainFile):
    """The simulated chain stored at ``path`` (normally ``<home>/devchain.json``)."""

    # -- reading ---------------------------------------------------------------------------

    def tip_height(self) -> int:
        return self.view().height

    def address_txs(self, address: str) -> list[dict[str, Any]]:
        """Esplora-shaped transactions touching ``address``: mempool first, newest first."""
        return self.view().address_txs(address)

    def tx(self, txid: str) -> dict[str, Any]:
        """One transaction in Esplora shape; NotFound when unknown or replaced."""
        txid = _check_txid(txid)
        found = self.view().tx(txid)
        if found is None:
            raise NotFound(self._unknown(self.load(), txid))
        return found

    # -- changing --------------------------------------------------------------------------

    def pay(self, address: str, sats: int, rbf: bool = False) -> str:
        """Put a transaction paying ``sats`` to ``address`` in the mempool; returns its txid."""
        return self.pay_many([(address, sats)], rbf=rbf)[0]

    def pay_many(self, payments: Iterable[tuple[str, int]], rbf: bool = False) -> list[str]:
        """Several payments in one locked write (one transaction each); returns their txids."""
        checked = [(*regtest_script(a), _check_sats(s)) for a, s in payments]
        with self._change() as state:
            txids = [self._new_tx(state, *c, fee=FEE_SATS, rbf=bool(rbf)) for c in checked]
            state["mempool"].extend(txids)
        return txids

    @staticmethod
    def _new_tx(
        state: dict[str, Any], address: str, spk: str, kind: str, sats: int, *, fee: int, rbf: bool
    ) -> str:
        state["counter"] += 1
        n = state["counter"]
        prev = _sha256(f"funding:{n}")
        txid = _sha256(f"tx:{n}:{prev}:{address}:{sats}:{fee}:{int(rbf)}")
        state["txs"][txid] = {
            "address": address,
            "spk": spk,
            "type": kind,
            "sats": sats,
            "fee": fee,
            "rbf": rbf,
            "prev": prev,
            "n": n,
            "time": _now_unix(),  # when the simulated mempool first saw it
        }
        return txid

    def mine(self, n: int = 1) -> list[str]:
        """Mine ``n`` blocks (the first takes the whole mempool); returns their hashes."""
        if type(n) is not int or not 1 <= n <= MAX_MINE:
            raise BadValue(f"number of blocks must be from 1 to {MAX_MINE}: {n!r}")
        when = _now_unix()
        hashes = []
        with self._change() as state:
            for _ in range(n):
                state["counter"] += 1
                blocks = state["blocks"]
                prev = blocks[-1]["hash"]
                height = len(blocks)
                txids, state["mempool"] = state["mempool"], []
                digest = _sha256(
                    f"block:{state['counter']}:{prev}:{height}:{when}:{','.join(txids)}"
                )
                blocks.append(
                    {"hash": digest, "height": height, "time": when, "prev": prev, "txids": txids}
                )
                hashes.append(digest)
        return hashes

    def reorg(self, depth: int = 1) -> list[str]:
        """Disconnect the last ``depth`` blocks (like ``invalidateblock``); their
        transactions go back to the mempool. Returns the disconnected hashes, tip first."""
        if type(depth) is not int or depth < 1:
            raise BadValue(f"reorg depth must be a whole number of at least 1: {depth!r}")
        with self._change() as state:
            blocks = state["blocks"]
            height = len(blocks) - 1
            if depth > height:
                raise BadValue(f"cannot disconnect {depth} blocks: the chain height is {height}")
            gone = blocks[-depth:]
            del blocks[-depth:]
            back = [txid for block in gone for txid in block["txids"]]
            state["mempool"] = back + state["mempool"]
        return [block["hash"] for block in reversed(gone)]

    def replace(self, txid: str, sats: int | None = None, to: str | None = None) -> str:
        """Replace an unconfirmed transaction (full RBF): the same output address with
        ``sats``, or the same amount to ``to`` (both may change; neither is a fee bump).
        The old transaction disappears. Returns the new txid."""
        txid = _check_txid(txid)
        new_sats = None if sats is None else _check_sats(sats)
        target = None if to is None else regtest_script(to)
        with self._change() as state:
            rec = state["txs"].get(txid)
            if rec is None:
                raise NotFound(self._unknown(state, txid))
            if txid not in state["mempool"]:
                raise Conflict(
                    f"transaction {txid} is confirmed; only unconfirmed ones can be replaced"
                )
            address, spk, kind = target or (rec["address"], rec["spk"], rec["type"])
            new = self._new_tx(
                state,
                address,
                spk,
                kind,
                rec["sats"] if new_sats is None else new_sats,
                fee=rec["fee"] + FEE_SATS,
                rbf=rec["rbf"],
            )
            state["mempool"].remove(txid)
            state["mempool"].append(new)
            del state["txs"][txid]
            state["replaced"][txid] = new
        return new

    def broadcast(self, raw_hex: str) -> str:
        """Accept a real signed transaction (a sweep) that spends devchain outputs.

        The simulation checks what it can model — every input is an unspent output of a
        known transaction, the amounts balance, the first output is a regtest address — and
        records it under its real txid; it does not check signatures (bitcoind does, in
        the node tests). Returns the txid."""
        from embit.transaction import Transaction

        try:
            tx = Transaction.from_string(raw_hex.strip())
        except Exception:
            raise BadValue("not a raw transaction (hex)") from None
        if not tx.vin or not tx.vout:
            raise BadValue("a transaction needs inputs and outputs")
        txid = tx.txid().hex()
        from embit.networks import NETWORKS

        try:
            address = tx.vout[0].script_pubkey.address(NETWORKS["regtest"])
        except Exception:
            raise BadValue("the first output pays no regtest address") from None
        with self._change() as state:
            spent = state.setdefault("spent", {})
            total_in = 0
            for vin in tx.vin:
                prev = vin.txid.hex()
                address_in, _, _, value = output_of(state["txs"].get(prev), vin.vout)
                if address_in is None:
                    raise BadValue(f"input {prev}:{vin.vout} is not a devchain payment output")
                if f"{prev}:{vin.vout}" in spent:
                    raise Conflict(f"input {prev}:{vin.vout} is already spent by "
                                   f"{spent[f'{prev}:{vin.vout}']}")
                total_in += value
            total_out = sum(out.value for out in tx.vout)
            if total_out > total_in:
                raise BadValue(f"outputs ({total_out} sat) exceed inputs ({total_in} sat)")
            if txid in state["txs"]:
                return txid
            _, spk, kind = regtest_script(address)
            more = []
            for out in tx.vout[1:]:
                try:
                    extra = out.script_pubkey.address(NETWORKS["regtest"])
                except Exception:
                    raise BadValue("an output pays no regtest address") from None
                more.append([*regtest_script(extra), out.value])
            state["counter"] += 1
            state["txs"][txid] = {
                "address": address, "spk": spk, "type": kind, "sats": tx.vout[0].value,
                "fee": total_in - total_out, "rbf": any(v.sequence < RBF_BELOW for v in tx.vin),
                "prev": tx.vin[0].txid.hex(), "n": state["counter"], "time": _now_unix(),
                "inputs": [[vin.txid.hex(), vin.vout] for vin in tx.vin], "more": more,
            }
            for vin in tx.vin:
                spent[f"{vin.txid.hex()}:{vin.vout}"] = txid
            state["mempool"].append(txid)
        return txid

    @staticmethod
    def _unknown(state: dict[str, Any], txid: str) -> str:
        by = state.get("replaced", {}).get(txid)
        if by:
            return f"transaction {txid} was replaced by {by}"
        return f"no transaction {txid} on the devchain"
