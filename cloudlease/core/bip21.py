"""BIP21 / BIP321 payment URIs, encoded (pure): ``bitcoin:<address>?amount=<BTC>&...``.

- The amount is decimal BTC with a period, no exponent and no trailing zeros
  (``format(Decimal, 'f')``): 20000 sat → ``0.0002``.
- ``label`` and ``message`` are UTF-8 then percent-encoded with nothing left safe
  (``urllib.parse.quote(value, safe="")``), so ``&``, ``=``, ``#``, ``+``, ``%`` and spaces
  can never break the query.
- ``lightning=<BOLT11>`` (BIP321) goes last, lower case: an invoice is bech32, so it needs
  no percent-encoding, and the QR code can carry it upper-case.
- Text with control characters (C0, DEL, C1), Unicode direction overrides/isolates or lone
  surrogates is refused: a wallet shows label and message to the payer, and those
  characters can make shown text differ from what was sent.

:func:`encode` takes an address already in canonical form (as the ledger stores it);
``cloudlease.bitcoin.bip21.make_uri`` checks and canonicalises a typed one first.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from cloudlease.core.errors import BadValue
from cloudlease.core.money import MAX_SATS, btc_text

_BECH32 = re.compile(r"[a-z0-9]+1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]+")
# Bidirectional formatting characters (embedding, override, isolate, marks).
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def btc_str(sats: int) -> str:
    """Satoshis as plain decimal BTC: 20000 → ``"0.0002"``, 100000000 → ``"1"``."""
    if isinstance(sats, bool) or not isinstance(sats, int):
        raise BadValue(f"an amount in sats must be an integer, not {sats!r}")
    if sats < 0:
        raise BadValue(f"amount {sats} sat is negative")
    return btc_text(sats)


def check_text(value: str, what: str) -> str:
    """Return ``value`` if it is safe to show a payer; ``BadValue`` otherwise."""
    if not isinstance(value, str):
        raise BadValue(f"{what} must be text")
    for ch in value:
        category = unicodedata.category(ch)
        if category == "Cc":
            raise BadValue(f"{what} contains a control character (U+{ord(ch):04X})")
        if category == "Cs":
            raise BadValue(f"{what} contains an unpaired surrogate (U+{ord(ch):04X})")
        if ch in _BIDI_CONTROLS:
            raise BadValue(f"{what} contains a text-direction control (U+{ord(ch):04X})")
    return value


def encode(
    address: str,
    amount_sats: int | None,
    label: str | None = None,
    message: str | None = None,
    lightning: str | None = None,
) -> str:
    """The URI for ``address`` (canonical: bech32 in lower case) asking ``amount_sats``
    (omitted when None). Empty ``label``/``message`` are left out; ``lightning`` is a BOLT11
    invoice for the same payment (BIP321). Raises ``BadValue``."""
    params: list[tuple[str, str]] = []
    if amount_sats is not None:
        if isinstance(amount_sats, bool) or not isinstance(amount_sats, int):
            raise BadValue(f"amount must be an integer number of sats, not {amount_sats!r}")
        if not 0 < amount_sats <= MAX_SATS:
            raise BadValue(f"amount {amount_sats} sat is out of range (1 to {MAX_SATS})")
        params.append(("amount", btc_str(amount_sats)))
    if label:
        params.append(("label", quote(check_text(label, "label"), safe="")))
    if message:
        params.append(("message", quote(check_text(message, "message"), safe="")))
    if lightning:
        invoice = lightning.strip().lower()
        if not invoice.startswith("ln") or not _BECH32.fullmatch(invoice):
            raise BadValue("lightning= must be a BOLT11 invoice (ln..., bech32 characters)")
        params.append(("lightning", invoice))
    uri = f"bitcoin:{address}"
    if params:
        uri += "?" + "&".join(f"{key}={value}" for key, value in params)
    return uri
