"""What a chain backend reports, as values the pure rules can take (no backend import).

A backend (``cloudlease/bitcoin/backends/``) answers with these; ``core.lifecycle`` judges
payment requests from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ChainTip:
    """The best block, as one backend saw it at one moment.

    Attributes:
        height: its height.
        hash: its hash (hex), or None where the backend cannot say.
    """

    height: int
    hash: str | None = None


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
        first_seen: when the chain first saw the transaction (UTC): the node's mempool
            entry or receive time (bitcoind), the devchain's recorded time, or the block
            time of a confirmed output (Esplora); None when the backend cannot say
            (Esplora has no mempool first-seen time).
        block_hash: hash of the block it confirmed in, where the backend gives it.
    """

    address: str
    txid: str
    vout: int
    sats: int
    height: int | None
    rbf: bool
    first_seen: datetime | None = None
    block_hash: str | None = None

    def confirmations(self, tip_height: int) -> int:
        """Tip height − block height + 1, or 0 while unconfirmed."""
        if self.height is None:
            return 0
        return max(0, tip_height - self.height + 1)
