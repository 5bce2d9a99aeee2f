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

JSON-RPC itself (ids, batches, credentials, redaction) is ``rpc.py``; reading the wallet's
answers into outputs is ``bitcoind_answers.py``.

Every failure (refused connection, timeout, HTTP 401/403/5xx, an empty or malformed answer,
an RPC error object, an address the wallet does not watch) raises ``BackendError``; a
message never carries the RPC password or cookie in any form (raw, percent-encoded, or as
the base64 of an Authorization header a server echoes back).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from cloudlease.bitcoin.backends.base import (
    Addresses,
    ChainTip,
    Received,
    since_times,
)
from cloudlease.bitcoin.backends.bitcoind_answers import (
    Inconsistent,
    block_height,
    counted,
    counted_confirmations,
    norm,
    receipts,
    txids_paying,
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
        except Inconsistent:
            pass  # a block may have arrived between two calls of a batch: read again
        try:
            return self._received(addrs, since)
        except Inconsistent as exc:
            raise BackendError(f"bitcoind at {self.url} contradicts itself: {exc}") from None

    def _received(self, addrs: list[str], since: dict[str, Any] | None
                  ) -> dict[str, list[Received]]:
        """The three round trips of the module docstring: the txids paying each address,
        the wallet's outputs in them, and which unconfirmed ones the mempool still has."""
        out: dict[str, list[Received]] = {a: [] for a in addrs}
        txids = self._listed_txids(addrs, since)
        if not txids:
            return out
        found = self._outputs(txids, addrs)
        in_mempool = self._mempool_times(list(dict.fromkeys(
            r.txid for r, confirmations in found if confirmations == 0)))
        for rec in counted(found, in_mempool):
            out[rec.address].append(rec)
        for recs in out.values():
            recs.sort(key=lambda r: (r.height is None, r.height or 0, r.txid, r.vout))
        return out

    def _listed_txids(self, addrs: list[str], since: dict[str, Any] | None) -> list[str]:
        """Batch 1: the wallet can vouch for each address (caught up, watching it, from
        early enough), and the txids of the wallet transactions paying it."""
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
            self._vouch(address, info, since)
            txids.update(dict.fromkeys(txids_paying(address, listed)))
        return list(txids)

    def _vouch(self, address: str, info: Any, since: dict[str, Any] | None) -> None:
        """BackendError unless the wallet watches ``address`` from before its payment
        could have been made (when that time is known)."""
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

    def _outputs(self, txids: list[str], addrs: list[str]) -> list[tuple[Received, int]]:
        """Batch 2: each transaction's outputs to the addresses, with its confirmations
        (none from a conflicted or abandoned one); Inconsistent when the answers imply
        different tips."""
        txs = self._checked_batch([("gettransaction", [t, True]) for t in txids], wallet=True)
        wanted = {norm(a): a for a in addrs}  # the node writes bech32 in lower case
        tip = functools.cache(self.tip_height)  # asked once, if a height is missing
        implied: set[int] = set()  # the tip each confirmed transaction's answer implies
        found: list[tuple[Received, int]] = []
        for txid, tx in zip(txids, txs, strict=True):
            confirmations = counted_confirmations(txid, tx)
            if confirmations is None:
                continue  # conflicted by a confirmed transaction, or abandoned
            height = block_height(tx, confirmations, tip, implied)
            rbf = self._rbf(tx, confirmations)
            found += [(rec, confirmations) for rec in
                      receipts(txid, tx, wanted, height, rbf, confirmations)]
        if len(implied) > 1:
            raise Inconsistent(f"confirmation counts imply different tips {sorted(implied)}")
        return found

    def _mempool_times(self, pending: list[str]) -> dict[str, Any]:
        """Batch 3: the node's mempool entry time of each unconfirmed transaction still in
        its mempool (one it does not know is left out)."""
        in_mempool: dict[str, Any] = {}
        if not pending:
            return in_mempool
        entries = self._batch([("getmempoolentry", [t]) for t in pending])
        for txid, (result, error) in zip(pending, entries, strict=True):
            if error is None and isinstance(result, dict):
                in_mempool[txid] = result.get("time")
            elif error is not None and error.rpc_code != RPC_INVALID_ADDRESS_OR_KEY:
                raise error
        return in_mempool

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
