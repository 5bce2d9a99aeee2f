"""The node's watch-only wallet: importing addresses from the right time, and knowing
whether the wallet can have seen a payment at all.

Addresses are imported as ``addr(...)`` descriptors into a dedicated watch-only descriptor
wallet (no private keys, blank), labelled ``cloudlease from <UTC time>`` with the time the
rescan started from, so a later call can tell, with no extra RPC, whether the wallet watches
an address from early enough to have seen a payment to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cloudlease.bitcoin.backends.base import Addresses, since_times
from cloudlease.bitcoin.backends.rpc import (
    RPC_WALLET_ALREADY_LOADED,
    RPC_WALLET_ERROR,
    RPC_WALLET_NOT_FOUND,
    BitcoindRPCError,
    JsonRpc,
    _raise_first,
)
from cloudlease.core.errors import BackendError

_IMPORT_CHUNK = 500  # descriptors per importdescriptors call
#: Addresses are imported from this long before their request was made (on top of the
#: node's own 2 h window for block timestamps): clock differences never hide a payment.
IMPORT_MARGIN = timedelta(hours=2)
#: Label of imported addresses; ``<label> from <UTC time>`` records the rescan start, so a
#: later call can tell whether the wallet can have seen a payment (no extra RPC).
IMPORT_LABEL = "cloudlease"


class WatchWallet(JsonRpc):
    """JSON-RPC to a node, plus its cloudlease watch wallet."""

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
        todo = _to_import(addrs, since, infos)
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
            self._import(requests_[start : start + _IMPORT_CHUNK])

    def _import(self, chunk: list[dict[str, Any]]) -> None:
        """One ``importdescriptors`` call (the node rescans from the earliest timestamp);
        BackendError unless every descriptor was imported."""
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


def _is_watched(info: Any) -> bool:
    return isinstance(info, dict) and (
        info.get("ismine") is True or info.get("iswatchonly") is True
    )


def _to_import(addrs: list[str], since: dict[str, datetime] | None, infos: list[Any]
               ) -> list[tuple[str, int | str, str]]:
    """(address, timestamp, label) for each address to import: without times, those not
    watched yet (from "now"); with times, those not watched from early enough."""
    todo: list[tuple[str, int | str, str]] = []
    for address, info in zip(addrs, infos, strict=True):
        if since is None:
            if not _is_watched(info):
                todo.append((address, "now", IMPORT_LABEL))
            continue
        need = _import_time(since[address])
        have = _label_time(info)
        if not _is_watched(info) or have is None or have > need:
            todo.append((address, need, f"{IMPORT_LABEL} from {_iso(need)}"))
    return todo


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
