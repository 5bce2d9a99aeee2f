"""The ``bitcoind`` chain backend: an operator's own node over JSON-RPC.

Addresses are imported as ``addr(...)`` descriptors into a dedicated watch-only descriptor
wallet (no private keys, blank), so the node's wallet indexes every payment to them.

How ``received`` reads the node (three HTTP round trips, whatever the number of addresses):

1. one JSON-RPC batch on the wallet: ``getaddressinfo`` (is the address watched at all?)
   and ``listreceivedbyaddress 0 false true <address>`` (the txids of every wallet
   transaction paying it that is not conflicted by a confirmed one) per address;
2. one batch of ``gettransaction <txid> true``: confirmations, block height, the BIP125
   status, the raw hex and one ``details`` entry per output paying a wallet address
   (with its ``vout``);
3. for the unconfirmed ones only, one batch of ``getmempoolentry`` on the node.

The node's mempool is the authority for unconfirmed transactions: a transaction replaced by
RBF (``bumpfee``) keeps ``confirmations: 0`` in the wallet (``trusted: false``, listed in
its replacement's ``walletconflicts``), and the wallet's own ``in_mempool`` flag is updated
asynchronously (right after a reorg it can still say false for a transaction that is back
in the mempool). So an unconfirmed output counts only while its transaction is in the
node's mempool; a negative confirmation count (conflicted by a confirmed transaction) and
an abandoned transaction never count. This scales with the addresses asked about, not with
the size of the watch wallet (which ``listtransactions`` would page through every time).

HTTP goes through ``cloudlease.net.Http`` (a total deadline per call, a size cap, no
redirects). The RPC URL must parse one way only: a password holding a raw ``@``, ``#``,
``/`` or ``?`` is refused with a request to percent-encode it.

Every failure (refused connection, timeout, HTTP 401/403/5xx, an empty or malformed answer,
an RPC error object, an address the wallet does not watch) raises ``BackendError``; a
message never carries the RPC password or cookie in any form (raw, percent-encoded, or as
the base64 of an Authorization header a server echoes back).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from cloudlease.bitcoin.backends.base import (
    Addresses,
    ChainTip,
    Received,
    since_times,
    utc_from_unix,
)
from cloudlease.errors import BackendError, BadValue

SATS_PER_BTC = Decimal(100_000_000)
_RECEIVE_CATEGORIES = frozenset({"receive", "generate", "immature"})
_IMPORT_CHUNK = 500  # descriptors per importdescriptors call
_BATCH_CHUNK = 1000  # requests per JSON-RPC batch

# Bitcoin Core RPC error codes used here.
RPC_INVALID_ADDRESS_OR_KEY = -5  # also "Transaction not in mempool"
RPC_WALLET_ERROR = -4  # also "Wallet ... already exists"
RPC_WALLET_NOT_FOUND = -18
RPC_WALLET_ALREADY_LOADED = -35

#: Addresses are imported from this long before their request was made (on top of the
#: node's own 2 h window for block timestamps): clock differences never hide a payment.
IMPORT_MARGIN = timedelta(hours=2)
#: Label of imported addresses; ``<label> from <UTC time>`` records the rescan start, so a
#: later call can tell whether the wallet can have seen a payment (no extra RPC).
IMPORT_LABEL = "cloudlease"


class _Inconsistent(Exception):
    """The node's answers contradict each other (or changed between two calls)."""


class BitcoindRPCError(BackendError):
    """The node answered with a JSON-RPC error object (``rpc_code`` is its code)."""

    def __init__(self, message: str, *, rpc_code: int | None, method: str) -> None:
        super().__init__(message)
        self.rpc_code = rpc_code
        self.method = method


def btc_to_sats(value: Any) -> int:
    """A BTC amount as parsed from JSON (Decimal or int) to integer satoshis, exactly."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise BackendError(f"bitcoind sent an amount that is not a number: {value!r}")
    try:
        sats = Decimal(value) * SATS_PER_BTC
        integral = sats.to_integral_value()
    except InvalidOperation as exc:
        raise BackendError(f"bitcoind sent an invalid amount: {value!r}") from exc
    if sats != integral:
        raise BackendError(f"bitcoind sent an amount finer than a satoshi: {value}")
    return int(integral)


def signals_rbf(raw_hex: str) -> bool:
    """True when any input of the raw transaction has nSequence < 0xfffffffe (BIP125)."""
    raw = bytes.fromhex(raw_hex)
    pos = 4  # version

    def varint() -> int:
        nonlocal pos
        first = raw[pos]
        pos += 1
        if first < 0xFD:
            return first
        width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
        value = int.from_bytes(raw[pos : pos + width], "little")
        pos += width
        return value

    if raw[pos] == 0 and raw[pos + 1] != 0:  # segwit marker and flag
        pos += 2
    n_inputs = varint()
    signals = False
    for _ in range(n_inputs):
        pos += 36  # previous txid and output index
        script_len = varint()  # (not `pos += varint()`: that reads pos before the call)
        pos += script_len  # scriptSig
        if pos + 4 > len(raw):
            raise ValueError("truncated transaction")
        if int.from_bytes(raw[pos : pos + 4], "little") < 0xFFFFFFFE:
            signals = True
        pos += 4
    return signals


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BackendError(f"bitcoind sent a malformed {what}: {value!r}")
    return value


class BitcoindBackend:
    """Chain backend talking JSON-RPC 1.0 (with an explicit ``id``) to bitcoind.

    Args:
        url: ``http://user:password@host:port`` (credentials optional when a cookie file is
            given; any path in the URL is kept as the RPC root).
        wallet: the watch-only descriptor wallet that holds the watched addresses.
        cookie_file: the node's ``.cookie`` (``__cookie__:secret``); read at every request
            (it changes when the node restarts) and preferred over credentials in the URL.
        timeout: seconds for each HTTP request (``importdescriptors`` gets at least 120 s,
            as it rescans recent blocks).
        session: a ``requests.Session`` to share; one is made (and closed by ``close``)
            when none is given.
    """

    name = "bitcoind"

    def __init__(
        self,
        url: str,
        *,
        wallet: str = "cloudlease-watch",
        cookie_file: str | None = None,
        timeout: float = 10.0,
        session: Any = None,
    ) -> None:
        from cloudlease.net import Http, parse_url

        try:
            parsed = parse_url(url)
        except ValueError as exc:
            raise BadValue(f"bitcoind RPC URL must look like http://user:password@host:port: "
                           f"{exc}") from None
        if not wallet:
            raise BadValue("bitcoind watch wallet name must not be empty")
        self._base = parsed.base().rstrip("/")
        self.url = self._base  # safe to show: no credentials
        self._user = parsed.username
        self._password = parsed.password
        self.wallet = wallet
        self.cookie_file = cookie_file
        self.timeout = timeout
        self._session = session
        self._own_session = session is None
        self._ids = itertools.count(1)
        self._last_tip: ChainTip | None = None
        # a body may be large (a batch of 1000 gettransaction with their hex), never huge
        self.http = Http(timeout=timeout, session=session, pool_size=2, max_bytes=64 << 20)
        self.http.redact.add(self._password, self._user)

    def __repr__(self) -> str:
        return f"BitcoindBackend({self.url!r}, wallet={self.wallet!r})"

    # --- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP session if this backend made it."""
        self.http.close()

    def __enter__(self) -> BitcoindBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- Backend interface -----------------------------------------------------------------
    def tip_height(self) -> int:
        return _int(self.call("getblockcount"), "block count")

    def tip(self) -> ChainTip:
        """Height and hash from one ``getblockchaininfo``; a node still in initial block
        download (outside regtest) cannot vouch for recent payments: BackendError."""
        info = self.call("getblockchaininfo")
        if not isinstance(info, dict):
            raise BackendError("bitcoind sent a malformed getblockchaininfo answer")
        height = _int(info.get("blocks"), "block count")
        best = info.get("bestblockhash")
        if not isinstance(best, str) or len(best) != 64:
            raise BackendError("bitcoind sent a malformed best block hash")
        if info.get("initialblockdownload") is True and info.get("chain") != "regtest":
            raise BackendError(f"bitcoind at {self.url} is still syncing (initial block "
                               f"download at height {height}); its answers would be stale")
        self._last_tip = ChainTip(height, best.lower())
        return self._last_tip

    def orphaned(self, hashes: Iterable[str]) -> set[str]:
        """``getblockheader``: confirmations -1 means the block left the best chain. A
        hash the node does not know is left out (the node may be behind, not reorged)."""
        wanted = [h for h in dict.fromkeys(hashes) if isinstance(h, str) and len(h) == 64]
        if not wanted:
            return set()
        out = set()
        for block_hash, (header, error) in zip(
                wanted, self._batch([("getblockheader", [h, True]) for h in wanted]),
                strict=True):
            if error is not None:
                if error.rpc_code == RPC_INVALID_ADDRESS_OR_KEY:
                    continue  # unknown block
                raise error
            if not isinstance(header, dict):
                raise BackendError(f"bitcoind sent a malformed header for block {block_hash}")
            if _int(header.get("confirmations"), "confirmation count") < 0:
                out.add(block_hash)
        return out

    def watch(self, addresses: Addresses) -> None:
        """Import each address as ``addr(...)`` into the watch wallet, with the time a
        payment to it can first have been made (minus ``IMPORT_MARGIN``) so the node
        rescans from then. An address already watched from that time or earlier is left
        alone; one watched from later (an older import with "now", a rebuilt wallet) is
        imported again with the earlier time, which makes the node rescan. Without times
        (a plain list) new addresses are imported from "now" and marked as such."""
        addrs, since = since_times(addresses)
        if not addrs:
            return
        self.ensure_wallet()
        infos = self._checked_batch([("getaddressinfo", [a]) for a in addrs], wallet=True)
        todo: list[tuple[str, int | str, str]] = []  # address, timestamp, label
        for address, info in zip(addrs, infos, strict=True):
            if since is None:
                if not _is_watched(info):
                    todo.append((address, "now", IMPORT_LABEL))
                continue
            need = _import_time(since[address])
            have = _label_time(info)
            if not _is_watched(info) or have is None or have > need:
                todo.append((address, need, f"{IMPORT_LABEL} from {_iso(need)}"))
        if not todo:
            return
        checks = self._checked_batch(
            [("getdescriptorinfo", [f"addr({a})"]) for a, _, _ in todo])
        requests_ = []
        for (address, timestamp, label), check in zip(todo, checks, strict=True):
            if not isinstance(check, dict) or not isinstance(check.get("checksum"), str):
                raise BackendError(f"bitcoind sent a malformed getdescriptorinfo for {address}")
            requests_.append(
                {
                    "desc": f"addr({address})#{check['checksum']}",
                    "timestamp": timestamp,
                    "label": label,
                }
            )
        for start in range(0, len(requests_), _IMPORT_CHUNK):
            chunk = requests_[start : start + _IMPORT_CHUNK]
            results = self.call(
                "importdescriptors", chunk, wallet=True, timeout=max(self.timeout, 120.0)
            )
            if not isinstance(results, list) or len(results) != len(chunk):
                raise BackendError("bitcoind sent a malformed importdescriptors answer")
            for req, res in zip(chunk, results, strict=True):
                if not isinstance(res, dict) or res.get("success") is not True:
                    err = res.get("error") if isinstance(res, dict) else None
                    detail = err.get("message") if isinstance(err, dict) else res
                    raise BackendError(
                        f"bitcoind could not import {req['desc']} into wallet "
                        f"'{self.wallet}': {detail}"
                    )

    def received(self, addresses: Addresses) -> dict[str, list[Received]]:
        """What each address received, or BackendError when the watch wallet cannot vouch
        for the answer: it is still rescanning, it is behind the node, an address is not
        watched, or (with times) was imported from a later time than its request was made;
        or when the node's answers contradict each other (read again once first)."""
        addrs, since = since_times(addresses)
        out: dict[str, list[Received]] = {a: [] for a in addrs}
        if not addrs:
            return out
        try:
            return self._received(addrs, since)
        except _Inconsistent:
            pass  # a block may have arrived between two calls of a batch: read again
        try:
            return self._received(addrs, since)
        except _Inconsistent as exc:
            raise BackendError(f"bitcoind at {self.url} contradicts itself: {exc}") from None

    def _received(self, addrs: list[str], since: dict[str, Any] | None
                  ) -> dict[str, list[Received]]:
        out: dict[str, list[Received]] = {a: [] for a in addrs}
        # The wallet learns of mempool transactions asynchronously: let it catch up first
        # (batch items run in order; a node without this hidden RPC just answers an error).
        calls: list[tuple[str, list[Any]]] = [("syncwithvalidationinterfacequeue", []),
                                              ("getwalletinfo", [])]
        for a in addrs:
            calls.append(("getaddressinfo", [a]))
            calls.append(("listreceivedbyaddress", [0, False, True, a]))
        results = self._wallet_batch(calls, optional=1)
        self._check_wallet(results[0])

        txids: dict[str, None] = {}
        for i, address in enumerate(addrs):
            info, listed = results[1 + 2 * i], results[2 + 2 * i]
            if not _is_watched(info):
                raise BackendError(
                    f"address {address} is not watched by wallet '{self.wallet}' on bitcoind "
                    f"at {self.url}; watch() it first"
                )
            if since is not None:
                have, need = _label_time(info), _import_time(since[address])
                if have is None or have > need:
                    when = "an unknown time" if have is None else _iso(have)
                    raise BackendError(
                        f"wallet '{self.wallet}' watches {address} from {when}, later than "
                        f"its payment could have been made ({_iso(need)}); it cannot have seen "
                        "it yet: import it again from then (the next tick does)"
                    )
            if not isinstance(listed, list):
                raise BackendError("bitcoind sent a malformed listreceivedbyaddress answer")
            for entry in listed:
                if not isinstance(entry, dict) or not isinstance(entry.get("txids"), list):
                    raise BackendError("bitcoind sent a malformed listreceivedbyaddress entry")
                if _norm(entry.get("address")) != _norm(address):
                    continue
                for txid in entry["txids"]:
                    txids[str(txid)] = None
        if not txids:
            return out

        order = list(txids)
        txs = self._checked_batch([("gettransaction", [t, True]) for t in order], wallet=True)
        wanted = {_norm(a): a for a in addrs}  # the node writes bech32 in lower case
        found: list[tuple[Received, int]] = []  # (output, confirmations)
        tip: int | None = None
        implied: set[int] = set()  # the tip each confirmed transaction's answer implies
        for txid, tx in zip(order, txs, strict=True):
            if not isinstance(tx, dict):
                raise BackendError(f"bitcoind sent a malformed gettransaction for {txid}")
            if tx.get("txid", txid) != txid:
                raise _Inconsistent(f"asked for transaction {txid}, got {tx.get('txid')}")
            confirmations = _int(tx.get("confirmations"), "confirmation count")
            details = tx.get("details")
            if not isinstance(details, list):
                raise BackendError(f"bitcoind sent no details for transaction {txid}")
            if confirmations < 0 or any(
                isinstance(d, dict) and d.get("abandoned") is True for d in details
            ):
                continue  # conflicted by a confirmed transaction, or abandoned
            height: int | None = None
            block_hash = tx.get("blockhash") if confirmations > 0 else None
            if confirmations > 0:
                if "blockheight" in tx:
                    height = _int(tx["blockheight"], "block height")
                    implied.add(height + confirmations - 1)
                else:
                    if tip is None:
                        tip = self.tip_height()
                    height = tip - confirmations + 1
            rbf = self._rbf(tx, confirmations)
            seen = _first_seen(tx)
            for d in details:
                if not isinstance(d, dict):
                    raise BackendError(f"bitcoind sent a malformed detail for {txid}")
                asked = wanted.get(_norm(d.get("address")))
                if d.get("category") not in _RECEIVE_CATEGORIES or asked is None:
                    continue
                sats = btc_to_sats(d.get("amount"))
                if sats <= 0:
                    raise _Inconsistent(f"transaction {txid} receives {sats} sat")
                found.append(
                    (
                        Received(
                            address=asked,
                            txid=txid,
                            vout=_int(d.get("vout"), "output index"),
                            sats=sats,
                            height=height,
                            rbf=rbf,
                            first_seen=seen,
                            block_hash=block_hash if isinstance(block_hash, str) else None,
                        ),
                        confirmations,
                    )
                )
        if len(implied) > 1:
            raise _Inconsistent(f"confirmation counts imply different tips {sorted(implied)}")

        pending = list(dict.fromkeys(r.txid for r, c in found if c == 0))
        in_mempool: dict[str, Any] = {}
        if pending:
            entries = self._batch([("getmempoolentry", [t]) for t in pending])
            for txid, (result, error) in zip(pending, entries, strict=True):
                if error is None and isinstance(result, dict):
                    in_mempool[txid] = result.get("time")
                elif error is not None and error.rpc_code != RPC_INVALID_ADDRESS_OR_KEY:
                    raise error
        seen_outputs: dict[tuple[str, int, str], int] = {}
        for rec, confirmations in found:
            if confirmations == 0 and rec.txid not in in_mempool:
                continue  # replaced (RBF), double-spent or dropped from the mempool
            key = (rec.txid, rec.vout, rec.address)
            if key in seen_outputs:
                if seen_outputs[key] != rec.sats:
                    raise _Inconsistent(f"output {rec.txid}:{rec.vout} is listed with "
                                        f"{seen_outputs[key]} and {rec.sats} sat")
                continue
            seen_outputs[key] = rec.sats
            entered = in_mempool.get(rec.txid)
            if confirmations == 0 and type(entered) is int and (
                    rec.first_seen is None or utc_from_unix(entered) < rec.first_seen):
                # the node's own mempool entry time (a rebuilt wallet dates what it finds
                # by its rescan)
                rec = dataclasses.replace(rec, first_seen=utc_from_unix(entered))
            out[rec.address].append(rec)
        for recs in out.values():
            recs.sort(key=lambda r: (r.height is None, r.height or 0, r.txid, r.vout))
        return out

    def _check_wallet(self, info: Any) -> None:
        """Refuse to answer from a wallet that is rescanning or behind the node."""
        if not isinstance(info, dict):
            raise BackendError("bitcoind sent a malformed getwalletinfo answer")
        scanning = info.get("scanning")
        if isinstance(scanning, dict):
            progress = scanning.get("progress")
            done = f" ({int(progress * 100)} % done)" if isinstance(progress, Decimal) else ""
            raise BackendError(f"wallet '{self.wallet}' on bitcoind at {self.url} is still "
                               f"rescanning for payments{done}; its answers are not complete")
        last = info.get("lastprocessedblock")
        tip = self._last_tip
        if tip is not None and isinstance(last, dict) and isinstance(last.get("height"), int) \
                and last["height"] < tip.height:
            raise BackendError(f"wallet '{self.wallet}' on bitcoind at {self.url} has processed "
                               f"blocks up to {last['height']} of {tip.height}; it is behind")

    # --- wallet ------------------------------------------------------------------------------
    def unspent(self, addresses: Iterable[str]) -> dict[str, list[Received]]:
        """``listunspent`` in the watch wallet: outputs to these addresses not yet spent
        (unconfirmed ones included; the wallet drops conflicted ones)."""
        addrs = list(dict.fromkeys(addresses))
        out: dict[str, list[Received]] = {a: [] for a in addrs}
        if not addrs:
            return out
        self.ensure_wallet()
        tip = self.tip_height()
        rows = self.call("listunspent", 0, 9_999_999, addrs, True, wallet=True)
        if not isinstance(rows, list):
            raise BackendError("bitcoind sent a malformed listunspent answer")
        for row in rows:
            if not isinstance(row, dict) or row.get("address") not in out:
                continue
            confs = _int(row.get("confirmations"), "confirmations")
            out[row["address"]].append(Received(
                row["address"], str(row.get("txid")), _int(row.get("vout"), "vout"),
                btc_to_sats(row.get("amount")), tip - confs + 1 if confs > 0 else None, False))
        return out

    def broadcast(self, raw_hex: str) -> str:
        """``sendrawtransaction``; the node's refusal (bad signature, spent input, fee too
        low) is a bad value, not an outage."""
        try:
            txid = self.call("sendrawtransaction", raw_hex.strip())
        except BitcoindRPCError as exc:
            if exc.rpc_code is not None and exc.rpc_code in (-25, -26, -27, -22):
                raise BadValue(f"bitcoind refused the transaction: {exc.message}") from None
            raise
        if not isinstance(txid, str):
            raise BackendError("bitcoind sent a malformed sendrawtransaction answer")
        return txid

    def ensure_wallet(self) -> None:
        """Load the watch wallet, creating it (watch-only, blank, descriptors) if needed."""
        loaded = self.call("listwallets")
        if isinstance(loaded, list) and self.wallet in loaded:
            return
        try:
            self.call("loadwallet", self.wallet, True)
            return
        except BitcoindRPCError as exc:
            if exc.rpc_code == RPC_WALLET_ALREADY_LOADED:
                return
            if exc.rpc_code != RPC_WALLET_NOT_FOUND:
                raise
        try:
            self.call(
                "createwallet",
                {
                    "wallet_name": self.wallet,
                    "disable_private_keys": True,
                    "blank": True,
                    "descriptors": True,
                    "load_on_startup": True,
                },
            )
        except BitcoindRPCError as exc:
            if exc.rpc_code == RPC_WALLET_ALREADY_LOADED:
                return
            if exc.rpc_code != RPC_WALLET_ERROR:  # "already exists": created meanwhile
                raise
            try:
                self.call("loadwallet", self.wallet, True)
            except BitcoindRPCError as exc2:
                if exc2.rpc_code != RPC_WALLET_ALREADY_LOADED:
                    raise

    def _rbf(self, tx: dict[str, Any], confirmations: int) -> bool:
        status = tx.get("bip125-replaceable")
        # For an unconfirmed transaction the node also knows inherited signalling;
        # "unknown" (an unconfirmed ancestor it cannot see) is taken as replaceable.
        if confirmations == 0 and status in ("yes", "unknown"):
            return True
        raw = tx.get("hex")
        if isinstance(raw, str):
            try:
                return signals_rbf(raw)
            except (ValueError, IndexError, KeyError):
                pass
        return status == "yes"

    def _wallet_batch(self, calls: Sequence[tuple[str, Any]], *, optional: int = 0) -> list[Any]:
        """A wallet batch; loads the watch wallet once if the node has it unloaded.

        The first ``optional`` calls may fail (their results are dropped).
        """
        results = self._batch(calls, wallet=True)
        if any(e is not None and e.rpc_code == RPC_WALLET_NOT_FOUND for _, e in results[optional:]):
            try:
                self.call("loadwallet", self.wallet, True)
            except BitcoindRPCError as exc:
                if exc.rpc_code == RPC_WALLET_NOT_FOUND:
                    raise BackendError(
                        f"bitcoind at {self.url} has no wallet '{self.wallet}': "
                        "watch() the addresses first"
                    ) from exc
                if exc.rpc_code != RPC_WALLET_ALREADY_LOADED:
                    raise
            results = self._batch(calls, wallet=True)
        return _raise_first(results[optional:])

    def _checked_batch(self, calls: Sequence[tuple[str, Any]], *, wallet: bool = False) -> list:
        return _raise_first(self._batch(calls, wallet=wallet))

    # --- JSON-RPC ----------------------------------------------------------------------------
    def call(
        self, method: str, *params: Any, wallet: bool = False, timeout: float | None = None
    ) -> Any:
        """One JSON-RPC call. A single dict argument is sent as named parameters."""
        p: Any = params[0] if len(params) == 1 and isinstance(params[0], dict) else list(params)
        rid = next(self._ids)
        answer = self._post(
            {"jsonrpc": "1.0", "id": rid, "method": method, "params": p},
            method=method,
            wallet=wallet,
            timeout=timeout,
        )
        result, error = self._unpack(answer, rid, method)
        if error is not None:
            raise error
        return result

    def _batch(
        self, calls: Sequence[tuple[str, Any]], *, wallet: bool = False
    ) -> list[tuple[Any, BitcoindRPCError | None]]:
        """Many calls in JSON-RPC batches; per call (result, error-or-None), in order."""
        out: list[tuple[Any, BitcoindRPCError | None]] = []
        for start in range(0, len(calls), _BATCH_CHUNK):
            chunk = calls[start : start + _BATCH_CHUNK]
            ids = [next(self._ids) for _ in chunk]
            body = [
                {"jsonrpc": "1.0", "id": rid, "method": m, "params": p}
                for rid, (m, p) in zip(ids, chunk, strict=True)
            ]
            label = f"batch of {len(chunk)} {chunk[0][0]}"
            answer = self._post(body, method=label, wallet=wallet, timeout=None)
            if isinstance(answer, dict) and answer.get("error") is not None:
                # A node that rejects the whole batch answers with one error object.
                raise self._unpack(answer, None, label)[1] or BackendError(label)
            if not isinstance(answer, list):
                raise BackendError(f"bitcoind at {self.url} sent a malformed answer to {label}")
            by_id = {item.get("id"): item for item in answer if isinstance(item, dict)}
            for rid, (method, _) in zip(ids, chunk, strict=True):
                if rid not in by_id:
                    raise BackendError(
                        f"bitcoind at {self.url} left call id {rid} ({method}) unanswered"
                    )
                out.append(self._unpack(by_id[rid], rid, method))
        return out

    def _unpack(
        self, answer: Any, rid: int | None, method: str
    ) -> tuple[Any, BitcoindRPCError | None]:
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            raise BackendError(f"bitcoind at {self.url} sent a malformed answer to {method}")
        if rid is not None and "id" in answer and answer["id"] != rid:
            raise BackendError(
                f"bitcoind at {self.url} answered {method} with id {answer['id']!r}, not {rid}"
            )
        error = answer.get("error")
        if error is not None:
            if isinstance(error, dict):
                code = error.get("code")
                message = str(error.get("message", error))
            else:
                code, message = None, str(error)
            rpc_code = code if isinstance(code, int) and not isinstance(code, bool) else None
            text = self._redact(
                f"bitcoind at {self.url}: {method} failed: {message} (RPC error {code})"
            )
            return None, BitcoindRPCError(text, rpc_code=rpc_code, method=method)
        return answer.get("result"), None

    def _post(self, payload: Any, *, method: str, wallet: bool, timeout: float | None) -> Any:
        from cloudlease.net import HttpError

        url = self._base + (f"/wallet/{quote(self.wallet, safe='')}" if wallet else "/")
        where = f"bitcoind at {self.url}"
        auth = self._auth()
        limit = self.timeout if timeout is None else timeout
        try:
            reply = self.http.post(url, body=json.dumps(payload).encode(), auth=auth,
                                   headers={"Content-Type": "application/json"},
                                   timeout=limit)
        except HttpError as exc:
            if exc.kind == "timeout":
                raise BackendError(f"{where} did not answer {method} within {limit:g} s") \
                    from None
            if exc.kind == "connect":
                reason = "connection refused" if "refused" in exc.reason else \
                    "connection failed"
                raise BackendError(f"cannot reach {where}: {reason} ({method})") from None
            raise BackendError(f"request to {where} failed: {exc.reason} ({method})") \
                from None
        status, body = reply.status, reply.body
        if status == 401:
            raise BackendError(
                f"{where} rejected the RPC credentials (HTTP 401); check rpcuser/rpcpassword "
                "in the URL or the cookie file"
            )
        if status == 403:
            raise BackendError(f"{where} refused access (HTTP 403); check rpcallowip")
        if not body or not body.strip():
            raise BackendError(
                f"{where} sent an empty answer (HTTP {status}) to {method}"
                + (" (was the request id lost?)" if status == 204 else "")
            )
        try:
            answer = json.loads(body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            if status >= 400:
                raise BackendError(f"{where} failed with HTTP {status} ({method})") from None
            raise BackendError(f"{where} sent malformed JSON (HTTP {status}) to {method}") from None
        if status >= 400 and not (isinstance(answer, dict) and answer.get("error") is not None):
            raise BackendError(f"{where} failed with HTTP {status} ({method})")
        return answer

    def _auth(self) -> tuple[str, str] | None:
        if self.cookie_file:
            try:
                with open(self.cookie_file, encoding="utf-8") as fh:
                    cookie = fh.read().strip()
            except OSError as exc:
                raise BackendError(
                    f"cannot read the bitcoind cookie file {self.cookie_file}: "
                    f"{exc.strerror or exc}"
                ) from None
            user, sep, secret = cookie.partition(":")
            if not sep or not secret:
                raise BackendError(f"bitcoind cookie file {self.cookie_file} is malformed")
            self.http.redact.add(secret, user)
            return user, secret
        if self._user is not None:
            return self._user, self._password or ""
        return None

    def _redact(self, text: str) -> str:
        return self.http.redact(text)


def _norm(address: Any) -> Any:
    """Bech32 addresses compare case-insensitively; base58 ones exactly."""
    if isinstance(address, str) and address.lower().startswith(("bc1", "tb1", "bcrt1")):
        return address.lower()
    return address


def _is_watched(info: Any) -> bool:
    return isinstance(info, dict) and (
        info.get("ismine") is True or info.get("iswatchonly") is True
    )


def _raise_first(results: list[tuple[Any, BitcoindRPCError | None]]) -> list[Any]:
    for _, error in results:
        if error is not None:
            raise error
    return [result for result, _ in results]


def _import_time(since: datetime) -> int:
    """Unix time to import an address from: its request's creation minus the margin."""
    return max(0, int((since - IMPORT_MARGIN).timestamp()))


def _iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _label_time(info: Any) -> int | None:
    """The rescan start recorded in the address's label (``cloudlease from <time>``)."""
    labels = info.get("labels") if isinstance(info, dict) else None
    times = []
    for label in labels if isinstance(labels, list) else []:
        text = label if isinstance(label, str) else (
            label.get("name") if isinstance(label, dict) else None)
        if isinstance(text, str) and text.startswith(f"{IMPORT_LABEL} from "):
            try:
                when = datetime.strptime(text.removeprefix(f"{IMPORT_LABEL} from "),
                                         "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            except ValueError:
                continue
            times.append(int(when.timestamp()))
    return min(times) if times else None


def _first_seen(tx: dict[str, Any]) -> datetime | None:
    """When the node first saw a wallet transaction: the earliest of its receive time and
    its "smart" time (the block time for one found by a rescan, which dates
    ``timereceived`` by the rescan itself)."""
    times = [tx.get(k) for k in ("time", "timereceived")]
    known = [t for t in times if type(t) is int and t > 0]
    return utc_from_unix(min(known)) if known else None
