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

JSON-RPC itself (ids, batches, credentials, redaction) is ``rpc.py``.

Every failure (refused connection, timeout, HTTP 401/403/5xx, an empty or malformed answer,
an RPC error object, an address the wallet does not watch) raises ``BackendError``; a
message never carries the RPC password or cookie in any form (raw, percent-encoded, or as
the base64 of an Authorization header a server echoes back).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cloudlease.bitcoin.backends.base import (
    Addresses,
    ChainTip,
    Received,
    since_times,
    utc_from_unix,
)
from cloudlease.bitcoin.backends.rpc import (  # noqa: F401 - re-exported for callers
    RPC_INVALID_ADDRESS_OR_KEY,
    RPC_WALLET_ALREADY_LOADED,
    RPC_WALLET_ERROR,
    RPC_WALLET_NOT_FOUND,
    BitcoindRPCError,
    JsonRpc,
    _int,
    _raise_first,
    btc_to_sats,
    signals_rbf,
)
from cloudlease.bitcoin.backends.watchwallet import (  # noqa: F401 - re-exported
    IMPORT_LABEL,
    IMPORT_MARGIN,
    WatchWallet,
    _import_time,
    _is_watched,
    _iso,
    _label_time,
)
from cloudlease.core.errors import BackendError, BadValue, LedgerError

if TYPE_CHECKING:
    from cloudlease.config import Settings
    from cloudlease.files.home import Home

_RECEIVE_CATEGORIES = frozenset({"receive", "generate", "immature"})


class _Inconsistent(Exception):
    """The node's answers contradict each other (or changed between two calls)."""


class BitcoindBackend(WatchWallet):
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

    @classmethod
    def from_settings(cls, settings: Settings, home: Home) -> BitcoindBackend:
        url = settings.effective_rpc_url
        if not url:
            raise LedgerError("backend.rpc_url is empty in config.toml (or set "
                              "CLOUDLEASE_RPC_URL)", code="config_invalid")
        return cls(url, wallet=settings.rpc_wallet,
                   cookie_file=settings.rpc_cookie_file or None,
                   timeout=settings.backend_timeout)

    def __init__(
        self,
        url: str,
        *,
        wallet: str = "cloudlease-watch",
        cookie_file: str | None = None,
        timeout: float = 10.0,
        session: Any = None,
    ) -> None:
        super().__init__(url, wallet=wallet, cookie_file=cookie_file, timeout=timeout,
                         session=session)
        self._last_tip: ChainTip | None = None

    def __repr__(self) -> str:
        return f"BitcoindBackend({self.url!r}, wallet={self.wallet!r})"

    # --- lifecycle -------------------------------------------------------------------------
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

    def _checked_batch(self, calls: Sequence[tuple[str, Any]], *, wallet: bool = False) -> list:
        return _raise_first(self._batch(calls, wallet=wallet))


def _norm(address: Any) -> Any:
    """Bech32 addresses compare case-insensitively; base58 ones exactly."""
    if isinstance(address, str) and address.lower().startswith(("bc1", "tb1", "bcrt1")):
        return address.lower()
    return address


def _first_seen(tx: dict[str, Any]) -> datetime | None:
    """When the node first saw a wallet transaction: the earliest of its receive time and
    its "smart" time (the block time for one found by a rescan, which dates
    ``timereceived`` by the rescan itself)."""
    times = [tx.get(k) for k in ("time", "timereceived")]
    known = [t for t in times if type(t) is int and t > 0]
    return utc_from_unix(min(known)) if known else None
