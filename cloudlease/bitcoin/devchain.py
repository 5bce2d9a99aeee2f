"""A simulated regtest chain kept in ``devchain.json``, for demos, CI and fault drills.

Nothing here touches a network. Transactions are fakes with deterministic ids (sha256 of a
counter and their content); blocks likewise. The answers have the Esplora shape, so the
esplora client can be driven against ``devserver`` and the devchain backend reads the same
views. Every change is a locked read-modify-write of the whole file, saved atomically;
readers never lock (they always see a whole file, thanks to the atomic replace).

Errors: a bad value from the user is ``BadValue``; an unknown txid ``NotFound``; replacing a
confirmed transaction ``Conflict``; a missing folder, a corrupt file or a lock held too long
``LedgerError`` (the backend turns those into ``BackendError``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from cloudlease import clock
from cloudlease.errors import BadValue, Conflict, LedgerError, NotFound
from cloudlease.ledger.fsio import atomic_write

FORMAT = "cloudlease-devchain"
VERSION = 1
LOCK_WAIT = 5.0
MAX_SATS = 21_000_000 * 100_000_000
MAX_MINE = 10_000
PAGE_CHAIN = 25  # confirmed transactions per page, as Esplora
PAGE_MEMPOOL = 50  # unconfirmed transactions listed, as Esplora

#: the real regtest genesis block
GENESIS_HASH = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
GENESIS_TIME = 1296688602
#: fixed regtest addresses (p2wpkh of sha256 of a tag) that fund every payment and take change
FAUCET_ADDRESS = "bcrt1qxpmfn6hv9caekqyk6f3g209wqfh4zl8s3205v4"
FAUCET_SPK = "0014307699eaec2e3b9b0096d262853cae026f517cf0"
CHANGE_ADDRESS = "bcrt1q3zyaq4naf64hnunqjn0u4tzr4nr2x48rju5cud"
CHANGE_SPK = "00148889d0567d4eab79f26094dfcaac43acc6a354e3"
CHANGE_SATS = 1_000_000
FEE_SATS = 200  # a replacement pays this much more than the transaction it replaces

SEQUENCE_RBF = 0xFFFFFFFD
SEQUENCE_FINAL = 0xFFFFFFFF
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


def _check_sats(sats: object) -> int:
    if type(sats) is not int or not 1 <= sats <= MAX_SATS:
        raise BadValue(f"amount must be a whole number of sats from 1 to {MAX_SATS}: {sats!r}")
    return sats


def _check_txid(txid: object) -> str:
    if not isinstance(txid, str) or not _TXID.fullmatch(txid.strip().lower()):
        raise BadValue(f"not a transaction id (64 hex digits): {txid!r}")
    return txid.strip().lower()


def _fresh_state() -> dict[str, Any]:
    genesis = {"hash": GENESIS_HASH, "height": 0, "time": GENESIS_TIME, "prev": None, "txids": []}
    return {
        "format": FORMAT,
        "version": VERSION,
        "network": "regtest",
        "counter": 0,
        "blocks": [genesis],
        "mempool": [],
        "txs": {},
        "replaced": {},
    }


def _validate(state: object, path: Path) -> dict[str, Any]:
    problem = None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        problem = "not a devchain file"
    elif state.get("version") != VERSION:
        problem = f"unsupported version {state.get('version')!r} (this build reads {VERSION})"
    elif not (
        isinstance(state.get("counter"), int)
        and isinstance(state.get("blocks"), list)
        and state["blocks"]
        and isinstance(state.get("mempool"), list)
        and isinstance(state.get("txs"), dict)
        and isinstance(state.get("replaced"), dict)
    ):
        problem = "missing or malformed fields"
    if problem:
        raise LedgerError(f"{path} is invalid: {problem}", code="devchain_invalid")
    return state  # type: ignore[return-value]


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


_VIEW_CACHE: dict[str, tuple[tuple[int, int, int], ChainView]] = {}
_VIEW_LOCK = threading.Lock()


class Devchain:
    """The simulated chain stored at ``path`` (normally ``<home>/devchain.json``)."""

    def __init__(self, path: str | os.PathLike[str], *, lock_wait: float = LOCK_WAIT) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_wait = lock_wait

    # -- files -------------------------------------------------------------------------

    def load(self) -> dict[str, Any]:
        """The saved state, or a fresh chain (height 0, genesis only) when there is no file."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return _fresh_state()
        except OSError as exc:
            raise LedgerError(f"cannot read {self.path}: {exc.strerror}") from None
        return self._parse(data)

    def _parse(self, data: bytes) -> dict[str, Any]:
        try:
            state = json.loads(data)
        except ValueError:
            raise LedgerError(f"{self.path} is not valid JSON", code="devchain_invalid") from None
        return _validate(state, self.path)

    def save(self, state: dict[str, Any]) -> None:
        """Write atomically: temp file in the same folder, fsync, replace, fsync the folder."""
        _validate(state, self.path)
        data = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
        try:
            atomic_write(self.path, data)
        except OSError as exc:
            raise LedgerError(f"cannot write {self.path}: {exc.strerror}") from None

    @contextmanager
    def locked(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the exclusive lock on ``devchain.json.lock``; give up after ``timeout`` s
        (default ``lock_wait``, 5 s) with a LedgerError naming the holder's pid."""
        import fcntl

        if timeout is None:
            timeout = self.lock_wait
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LedgerError(f"cannot open {self.lock_path}: {exc.strerror}") from None
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                        raise LedgerError(
                            f"{self.path} is locked by another process (pid {holder}); "
                            f"gave up after {timeout:g} s",
                            code="devchain_locked",
                        ) from None
                    time.sleep(0.02)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextmanager
    def _change(self) -> Iterator[dict[str, Any]]:
        with self.locked():
            state = self.load()
            yield state
            self.save(state)

    def view(self) -> ChainView:
        """A read-only view of the file as it is now (cached until the file changes)."""
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return ChainView(_fresh_state())
        except OSError as exc:
            raise LedgerError(f"cannot read {self.path}: {exc.strerror}") from None
        with fh:
            st = os.fstat(fh.fileno())
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            cache_key = str(self.path.resolve())
            with _VIEW_LOCK:
                cached = _VIEW_CACHE.get(cache_key)
                if cached and cached[0] == key:
                    return cached[1]
                try:
                    view = ChainView(self._parse(fh.read()))
                except (KeyError, TypeError, IndexError, AttributeError):
                    raise LedgerError(
                        f"{self.path} is invalid: malformed records", code="devchain_invalid"
                    ) from None
                _VIEW_CACHE[cache_key] = (key, view)
                return view

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
