"""BIP21 / BIP321 payment URIs for a typed address: checked and made canonical here,
encoded by :mod:`cloudlease.core.bip21` (which says how)."""

from __future__ import annotations

from cloudlease.bitcoin.address import parse_address
from cloudlease.core.bip21 import btc_str, check_text, encode

__all__ = ["btc_str", "check_text", "make_uri"]


def make_uri(
    address: str,
    amount_sats: int | None,
    label: str | None = None,
    message: str | None = None,
    lightning: str | None = None,
) -> str:
    """Build a BIP21 URI for ``address`` asking ``amount_sats`` (omitted when None).

    The address must be a valid Bitcoin address (any network); bech32 ones are written in
    lower case. Empty ``label``/``message`` are left out; ``lightning`` is a BOLT11 invoice
    for the same payment (BIP321). Raises ``BadValue``.
    """
    return encode(parse_address(address).address, amount_sats, label, message, lightning)
