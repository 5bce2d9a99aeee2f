"""The one small interface every chain backend offers.

A backend answers two questions: how high is the chain, and what has each address
received (per output: txid, vout, sats, the block height it confirmed at or None while in
the mempool, and whether its transaction signals RBF). Confirmations are derived from
the tip height by the caller, so one tip read serves a whole batch of addresses.

A backend never answers "nothing received" when it does not know: any timeout, HTTP
error, refused connection or malformed answer raises ``BackendError`` (exit 6).
A transaction that was replaced or double-spent no longer appears in ``received``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Received:
    """One output paying a watched address.

    Attributes:
        address: the address paid.
        txid: the paying transaction id (hex).
        vout: the output index within that transaction.
        sats: the output value in satoshis (int).
        height: block height it confirmed in, or None while unconfirmed.
        rbf: True when the transaction signals BIP125 replaceability.
    """

    address: str
    txid: str
    vout: int
    sats: int
    height: int | None
    rbf: bool

    def confirmations(self, tip_height: int) -> int:
        """Tip height − block height + 1, or 0 while unconfirmed."""
        if self.height is None:
            return 0
        return max(0, tip_height - self.height + 1)


class Backend(Protocol):
    """What a chain backend offers the payment checker."""

    name: str

    def tip_height(self) -> int:
        """Height of the best block."""
        ...

    def received(self, addresses: Iterable[str]) -> dict[str, list[Received]]:
        """Every output paying each address (a key for every address asked, maybe empty)."""
        ...

    def watch(self, addresses: Iterable[str]) -> None:
        """Make sure the backend tracks these addresses (a no-op where nothing is needed)."""
        ...
