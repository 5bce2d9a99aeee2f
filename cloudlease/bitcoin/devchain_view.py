"""What a saved devchain state answers, in the Esplora shape: transactions, address
histories and their pages, unspent outputs, address totals, block heights.

A ``ChainView`` is built from one state (as ``devchain_store`` loaded it) and never
changes; ``devserver`` serves its answers over HTTP and the devchain backend reads them
directly. A simulated payment is drawn as a transaction from the faucet address paying the
address and returning change; a broadcast one (a sweep) with its real inputs and outputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

PAGE_CHAIN = 25  # confirmed transactions per page, as Esplora
PAGE_MEMPOOL = 50  # unconfirmed transactions listed, as Esplora

#: fixed regtest addresses (p2wpkh of sha256 of a tag) that fund every payment and take change
FAUCET_ADDRESS = "bcrt1qxpmfn6hv9caekqyk6f3g209wqfh4zl8s3205v4"
FAUCET_SPK = "0014307699eaec2e3b9b0096d262853cae026f517cf0"
CHANGE_ADDRESS = "bcrt1q3zyaq4naf64hnunqjn0u4tzr4nr2x48rju5cud"
CHANGE_SPK = "00148889d0567d4eab79f26094dfcaac43acc6a354e3"
CHANGE_SATS = 1_000_000

SEQUENCE_RBF = 0xFFFFFFFD
SEQUENCE_FINAL = 0xFFFFFFFF


def output_of(rec: dict[str, Any] | None, vout: int) -> tuple[str | None, str, str, int]:
    """(address, scriptpubkey, type, sats) of output ``vout`` of a recorded transaction:
    a simulated payment's output 0, or any output of a broadcast one; (None, "", "", 0)
    when there is no such spendable output."""
    if rec is None:
        return None, "", "", 0
    if vout == 0:
        return rec["address"], rec["spk"], rec["type"], rec["sats"]
    more = rec.get("more", ())
    if 1 <= vout <= len(more):
        address, spk, kind, sats = more[vout - 1]
        return address, spk, kind, sats
    return None, "", "", 0


class ChainView:
    """A read-only view of one saved state, indexed per address, answering in Esplora shape.

    Attributes:
        height: height of the tip.
        tip_hash: hash of the tip block.
    """

    def __init__(self, state: dict[str, Any]) -> None:
        blocks = state["blocks"]
        self.height: int = len(blocks) - 1
        self.tip_hash: str = blocks[-1]["hash"]
        self._txs: dict[str, dict[str, Any]] = state["txs"]
        self._spent: dict[str, str] = state.get("spent", {})
        self._block_of: dict[str, dict[str, Any]] = {}
        # per address: txids newest first, the mempool ones first (as Esplora lists them)
        self._index: dict[str, list[str]] = {}
        self._unconfirmed: dict[str, int] = {}
        for txid in reversed(state["mempool"]):
            for address in self._addresses(txid):
                self._unconfirmed[address] = self._unconfirmed.get(address, 0) + 1
        self._heights: dict[str, int] = {}
        self._hashes: list[str] = [block["hash"] for block in blocks]
        for block in reversed(blocks):
            self._heights[block["hash"]] = block["height"]
            for txid in reversed(block["txids"]):
                self._block_of[txid] = block
        for txid in [*reversed(state["mempool"]), *self._confirmed_newest_first(blocks)]:
            for address in self._addresses(txid):
                self._index.setdefault(address, []).append(txid)

    @staticmethod
    def _confirmed_newest_first(blocks: list[dict[str, Any]]) -> Iterator[str]:
        for block in reversed(blocks):
            yield from reversed(block["txids"])

    def _addresses(self, txid: str) -> dict[str, None]:
        """The addresses a transaction touches, each once (someone may pay the change one)."""
        rec = self._txs[txid]
        if "inputs" in rec:  # a real transaction broadcast to the simulation
            spent = [self._output(prev, vout)[0] for prev, vout in rec["inputs"]]
            return dict.fromkeys([rec["address"], *(o[0] for o in rec.get("more", ())),
                                  *(a for a in spent if a is not None)])
        return dict.fromkeys((rec["address"], CHANGE_ADDRESS, FAUCET_ADDRESS))

    def _output(self, txid: str, vout: int) -> tuple[str | None, str, str, int]:
        """(address, scriptpubkey, type, sats) of an output of a known transaction."""
        return output_of(self._txs.get(txid), vout)

    def first_seen(self, txid: str) -> int | None:
        """Unix time the simulated chain first saw the transaction (its mempool entry, or
        its block when a file from before times were recorded lacks one); None if unknown."""
        rec = self._txs.get(txid)
        if rec is None:
            return None
        when = rec.get("time")
        if type(when) is int:
            return when
        block = self._block_of.get(txid)
        return block["time"] if block is not None else None

    def block_height(self, block_hash: str) -> int | None:
        """Height of a block in the best chain, or None when it is not (or no longer) there."""
        return self._heights.get(block_hash)

    def hash_at(self, height: int) -> str:
        """Hash of the best-chain block at ``height``."""
        return self._hashes[height]

    def status(self, txid: str) -> dict[str, Any]:
        block = self._block_of.get(txid)
        if block is None:
            return {"confirmed": False}
        return {
            "confirmed": True,
            "block_height": block["height"],
            "block_hash": block["hash"],
            "block_time": block["time"],
        }

    def tx(self, txid: str) -> dict[str, Any] | None:
        """The transaction in Esplora shape, or None when unknown (or replaced)."""
        rec = self._txs.get(txid)
        if rec is None:
            return None
        if "inputs" in rec:
            return self._broadcast_tx(txid, rec)
        return {
            "txid": txid,
            "version": 2,
            "locktime": 0,
            "vin": [
                {
                    "txid": rec["prev"],
                    "vout": 0,
                    "prevout": {
                        "scriptpubkey": FAUCET_SPK,
                        "scriptpubkey_type": "v0_p2wpkh",
                        "scriptpubkey_address": FAUCET_ADDRESS,
                        "value": rec["sats"] + CHANGE_SATS + rec["fee"],
                    },
                    "scriptsig": "",
                    "witness": [],
                    "is_coinbase": False,
                    "sequence": SEQUENCE_RBF if rec["rbf"] else SEQUENCE_FINAL,
                }
            ],
            "vout": [
                {
                    "scriptpubkey": rec["spk"],
                    "scriptpubkey_type": rec["type"],
                    "scriptpubkey_address": rec["address"],
                    "value": rec["sats"],
                },
                {
                    "scriptpubkey": CHANGE_SPK,
                    "scriptpubkey_type": "v0_p2wpkh",
                    "scriptpubkey_address": CHANGE_ADDRESS,
                    "value": CHANGE_SATS,
                },
            ],
            "size": 222,
            "weight": 561,
            "fee": rec["fee"],
            "status": self.status(txid),
        }

    def _broadcast_tx(self, txid: str, rec: dict[str, Any]) -> dict[str, Any]:
        """A broadcast transaction with its real inputs and outputs."""
        seq = SEQUENCE_RBF if rec["rbf"] else SEQUENCE_FINAL
        vin = []
        for prev, vout in rec["inputs"]:
            address, spk, kind, sats = self._output(prev, vout)
            vin.append({"txid": prev, "vout": vout, "prevout": {
                "scriptpubkey": spk, "scriptpubkey_type": kind,
                "scriptpubkey_address": address, "value": sats},
                "scriptsig": "", "witness": [], "is_coinbase": False, "sequence": seq})
        outs = [(rec["address"], rec["spk"], rec["type"], rec["sats"]), *rec.get("more", ())]
        return {"txid": txid, "version": 2, "locktime": 0, "vin": vin,
                "vout": [{"scriptpubkey": spk, "scriptpubkey_type": kind,
                          "scriptpubkey_address": a, "value": v} for a, spk, kind, v in outs],
                "size": 110 + 68 * len(vin) + 31 * len(outs),
                "weight": 4 * (42 + 41 * len(vin) + 31 * len(outs)) + 108 * len(vin),
                "fee": rec["fee"], "status": self.status(txid)}

    def _txids(self, address: str) -> list[str]:
        return self._index.get(address, [])

    def address_txs(self, address: str) -> list[dict[str, Any]]:
        """Every transaction touching the address: mempool first, newest first."""
        return [self.tx(t) for t in self._txids(address)]  # type: ignore[misc]

    def mempool_txs(self, address: str) -> list[dict[str, Any]]:
        """``/address/:a/txs/mempool``: up to 50 unconfirmed, newest first."""
        count = min(self._unconfirmed.get(address, 0), PAGE_MEMPOOL)
        return [self.tx(t) for t in self._txids(address)[:count]]  # type: ignore[misc]

    def chain_txs(self, address: str, last_seen: str | None = None) -> list[dict[str, Any]]:
        """``/address/:a/txs/chain[/:last_seen]``: the next 25 confirmed, newest first.

        Like electrs, a ``last_seen`` txid not in the address's confirmed history gives [].
        """
        confirmed = self._txids(address)[self._unconfirmed.get(address, 0) :]
        start = 0
        if last_seen is not None:
            try:
                start = confirmed.index(last_seen) + 1
            except ValueError:
                return []
        return [self.tx(t) for t in confirmed[start : start + PAGE_CHAIN]]  # type: ignore[misc]

    def utxos(self, address: str) -> list[dict[str, Any]]:
        """``/address/:a/utxo``: outputs paying the address that nothing has spent."""
        out = []
        for txid in self._txids(address):
            rec = self._txs[txid]
            outs = [(rec["address"], rec["sats"]), *((o[0], o[3]) for o in rec.get("more", ()))]
            for n, (paid, sats) in enumerate(outs):
                if paid == address and f"{txid}:{n}" not in self._spent:
                    out.append({"txid": txid, "vout": n, "value": sats,
                                "status": self.status(txid)})
        return out

    def first_page(self, address: str) -> list[dict[str, Any]]:
        """``/address/:a/txs``: up to 50 mempool transactions, then the first 25 confirmed."""
        return self.mempool_txs(address) + self.chain_txs(address)

    def address_stats(self, address: str) -> dict[str, Any]:
        """``/address/:a``: chain_stats and mempool_stats."""
        txids = self._txids(address)
        unconfirmed = self._unconfirmed.get(address, 0)
        result: dict[str, Any] = {"address": address}
        for key, part in (
            ("chain_stats", txids[unconfirmed:]),
            ("mempool_stats", txids[:unconfirmed]),
        ):
            funded: list[int] = []
            spent: list[int] = []
            for tx in map(self.tx, part):
                assert tx is not None
                funded += [o["value"] for o in tx["vout"] if o["scriptpubkey_address"] == address]
                spent += [
                    i["prevout"]["value"]
                    for i in tx["vin"]
                    if i["prevout"]["scriptpubkey_address"] == address
                ]
            result[key] = {
                "tx_count": len(part),
                "funded_txo_count": len(funded),
                "funded_txo_sum": sum(funded),
                "spent_txo_count": len(spent),
                "spent_txo_sum": sum(spent),
            }
        return result
