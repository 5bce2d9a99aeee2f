"""Chain backend reading the simulated regtest chain (``devchain.json``) directly."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from cloudlease.bitcoin.backends.base import Addresses, ChainTip, Received, utc_from_unix
from cloudlease.bitcoin.devchain import RBF_BELOW, Devchain
from cloudlease.bitcoin.devchain_view import ChainView
from cloudlease.core.errors import BackendError, BadValue, LedgerError

if TYPE_CHECKING:
    from cloudlease.config import Settings
    from cloudlease.files.home import Home


class DevchainBackend:
    """Backend over a devchain file: no network, no paging, same answers as its server.

    The devchain is the whole chain and never lags, so every answer is certain: a block
    hash it does not have is orphaned, and first-seen times are the recorded ones.

    Attributes:
        name: "devchain".
        devchain: the chain read.
    """

    name = "devchain"

    @classmethod
    def from_settings(cls, settings: Settings, home: Home) -> DevchainBackend:
        if settings.network != "regtest":
            raise BadValue(f"the devchain backend is a simulated regtest chain; this ledger "
                           f"is on {settings.network}")
        return cls(home.devchain)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.devchain = Devchain(path)

    def _view(self) -> ChainView:
        try:
            return self.devchain.view()
        except LedgerError as exc:
            raise BackendError(f"devchain unreadable: {exc.message}") from None

    def tip_height(self) -> int:
        return self._view().height

    def tip(self) -> ChainTip:
        view = self._view()
        return ChainTip(view.height, view.tip_hash)

    def orphaned(self, hashes: Iterable[str]) -> set[str]:
        view = self._view()
        return {h for h in hashes if view.block_height(h) is None}

    def received(self, addresses: Addresses) -> dict[str, list[Received]]:
        view = self._view()
        result: dict[str, list[Received]] = {}
        for address in dict.fromkeys(addresses):
            found = []
            for tx in view.address_txs(address):
                status = tx["status"]
                height = status["block_height"] if status["confirmed"] else None
                block = status["block_hash"] if status["confirmed"] else None
                rbf = any(vin["sequence"] < RBF_BELOW for vin in tx["vin"])
                seen = view.first_seen(tx["txid"])
                first_seen = utc_from_unix(seen) if seen is not None else None
                for n, out in enumerate(tx["vout"]):
                    if out["scriptpubkey_address"] == address:
                        found.append(Received(address, tx["txid"], n, out["value"], height, rbf,
                                              first_seen, block))
            result[address] = found
        return result

    def watch(self, addresses: Addresses) -> None:
        """Nothing to do: the devchain knows every address."""

    def unspent(self, addresses: Iterable[str]) -> dict[str, list[Received]]:
        """Outputs paying each address that no transaction has spent."""
        view = self._view()
        result: dict[str, list[Received]] = {}
        for address in dict.fromkeys(addresses):
            result[address] = [
                Received(address, u["txid"], u["vout"], u["value"],
                         u["status"]["block_height"] if u["status"]["confirmed"] else None,
                         False)
                for u in view.utxos(address)]
        return result

    def broadcast(self, raw_hex: str) -> str:
        """Hand a signed transaction to the simulated chain."""
        return self.devchain.broadcast(raw_hex)
