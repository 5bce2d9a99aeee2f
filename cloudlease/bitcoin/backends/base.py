"""The one small interface every chain backend offers.

A backend answers three questions: where is the tip of the chain (height and hash, read
together), which of some block hashes are no longer in its best chain, and what has each
address received (per output: txid, vout, sats, the block it confirmed in or None while in
the mempool, whether its transaction signals RBF, and when the chain first saw it).
Confirmations are derived from the tip height by the caller, so one tip read serves a
whole batch of addresses.

Ordering: the caller reads the tip *before* asking for outputs, so an answer is never
older than the tip it is labelled with (see ``lifecycle.Observation``).

A backend never answers "nothing received" when it does not know: any timeout, HTTP
error, refused connection, malformed or self-contradictory answer, or a source that cannot
have seen the payment (a watch wallet still rescanning, an address imported after the
payment could have been made) raises ``BackendError`` (exit 6).
A transaction that was replaced or double-spent no longer appears in ``received``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from cloudlease.model.chain import ChainTip, Received

#: What ``watch`` and ``received`` take: addresses, or address → the earliest time a
#: payment to it can have been made (the request's creation time). With times, a backend
#: that keeps its own index (bitcoind) makes sure it scanned from then and refuses to
#: answer for an address it cannot vouch for; without them it does its best.
Addresses = Iterable[str] | Mapping[str, datetime]


def utc_from_unix(value: int) -> datetime:
    """A backend's unix time as an aware UTC datetime (whole seconds)."""
    return datetime.fromtimestamp(value, UTC)


def since_times(addresses: Addresses) -> tuple[list[str], dict[str, datetime] | None]:
    """The addresses in order, without repeats, and their times when a mapping was given."""
    if isinstance(addresses, Mapping):
        return list(dict.fromkeys(addresses)), dict(addresses)
    return list(dict.fromkeys(addresses)), None


class Backend(Protocol):
    """What a chain backend offers the payment checker."""

    name: str

    def tip_height(self) -> int:
        """Height of the best block."""
        ...

    def tip(self) -> ChainTip:
        """Height and hash of the best block, read together (one consistent pair)."""
        ...

    def orphaned(self, hashes: Iterable[str]) -> set[str]:
        """Those of ``hashes`` that are not (or no longer) in the backend's best chain.

        A hash the backend does not know counts as orphaned only where the backend is the
        whole chain (devchain, Esplora's own rule); bitcoind leaves unknown hashes out."""
        ...

    def received(self, addresses: Addresses) -> dict[str, list[Received]]:
        """Every output paying each address (a key for every address asked, maybe empty)."""
        ...

    def watch(self, addresses: Addresses) -> None:
        """Make sure the backend tracks these addresses from their times (a no-op where
        nothing is needed)."""
        ...
