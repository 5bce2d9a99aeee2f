"""Decode a BOLT11 invoice locally and check it against what we asked the node for.

Decoding uses the PyPI ``bolt11`` package (2.2.x, with ``bitstring<4.2``: 2.2 imports
``ConstBitStream``, which bitstring 4.2 dropped); the human-readable part (network prefix
and amount) is parsed here, exactly, in integers: the library turns amounts into msat
through Decimal and ``int()``, which truncates a pico-BTC amount that is not a whole msat.

Network prefixes (BOLT11 "Human-Readable Part"): ``lnbc`` mainnet, ``lntb`` testnet,
``lntbs`` signet, ``lnbcrt`` regtest. testnet4 has no prefix of its own: LND, Core
Lightning and Electrum all issue ``lntb`` on testnet4 (BOLT11 knows only "testnet"), so
testnet and testnet4 both expect ``lntb``.

Every failure is ``BackendError`` (exit 6) with a one-line message naming the source: the
node answered something we cannot store or show.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloudlease.core.errors import BackendError
from cloudlease.lightning.base import LnInvoice, utc_from_unix

#: BOLT11 currency prefix (after ``ln``) for each network cloudlease knows.
PREFIX: dict[str, str] = {
    "mainnet": "bc",
    "testnet": "tb",
    "testnet4": "tb",
    "signet": "tbs",
    "regtest": "bcrt",
}
_NETWORKS_OF = {"bc": "mainnet", "tb": "testnet/testnet4", "tbs": "signet", "bcrt": "regtest"}
_HRP = re.compile(r"ln(bcrt|bc|tbs|tb)([0-9]+[munp]?)?")
_MSAT_PER_BTC = 100_000_000_000
_DIVISOR = {"m": 1_000, "u": 1_000_000, "n": 1_000_000_000, "p": 1_000_000_000_000}
_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_INVOICE_CHARS = 7089  # the longest text a QR code holds; no real invoice comes near


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a BOLT11 invoice says.

    Attributes:
        bolt11: the invoice, lowercase.
        currency: ``bc``, ``tb``, ``tbs`` or ``bcrt``.
        amount_msat: the amount (None when the invoice has none).
        payment_hash: 64 hex digits.
        description: the ``d`` field, or None (a ``h`` description hash instead).
        created_at: the invoice timestamp (UTC).
        expiry_seconds: the ``x`` field (3600 when absent, per BOLT11).
        payee: the signing node's public key (33 bytes, hex), verified or recovered.
        description_hash: the ``h`` field (64 hex digits), or None.
    """

    bolt11: str
    currency: str
    amount_msat: int | None
    payment_hash: str
    description: str | None
    created_at: datetime
    expiry_seconds: int
    payee: str
    description_hash: str | None = None

    @property
    def expires_at(self) -> datetime:
        return utc_from_unix(int(self.created_at.timestamp()) + self.expiry_seconds)


def _shown(text: object) -> str:
    s = repr(text)
    return s if len(s) <= 40 else s[:37] + "..."


def parse_hrp_amount(hrp: str) -> tuple[str, int | None]:
    """``lnbcrt210u`` → (``bcrt``, 21_000_000). The amount must be a whole msat."""
    m = _HRP.fullmatch(hrp)
    if m is None:
        raise ValueError(f"unknown prefix {hrp[:12]!r}")
    currency, amount = m.groups()
    if amount is None:
        return currency, None
    digits, unit = (amount[:-1], amount[-1]) if amount[-1] in _DIVISOR else (amount, "")
    if digits.startswith("0"):
        raise ValueError("amount with a leading zero")
    value = int(digits) * _MSAT_PER_BTC
    if unit:
        value, rest = divmod(value, _DIVISOR[unit])
        if rest:
            raise ValueError("amount is not a whole number of msat")
    if value <= 0:
        raise ValueError("zero amount")
    return currency, value


def _u5_to_bits(words: list[int]) -> Any:
    """The 5-bit words of a bech32 payload as one bit string, built in one step.

    bolt11 2.2's ``u5_to_bitarray`` appends ``pack("uint:5", w)`` word by word, which costs
    ~25 ms for one invoice (most of a Lightning ``rent``); this is the same bits in ~0.1 ms
    (``tests/test_lightning_bolt11.py`` holds the two equal)."""
    from bitstring import BitArray

    value = 0
    for word in words:
        value = (value << 5) | word
    return BitArray(uint=value, length=5 * len(words)) if words else BitArray()


def _library() -> Any:
    """The bolt11 library, with its slow bit-string builder replaced by ``_u5_to_bits``."""
    import importlib

    import bolt11

    # the module (``bolt11.decode`` is the function the package re-exports)
    importlib.import_module("bolt11.decode").u5_to_bitarray = _u5_to_bits
    return bolt11


def decode(bolt11: object, *, source: str) -> Decoded:
    """Decode ``bolt11`` (BackendError naming ``source`` when it is not a valid invoice:
    not text, mixed case, bad checksum, unknown prefix, no payment hash or secret, a bad
    signature, ...)."""
    if not isinstance(bolt11, str) or not bolt11.strip():
        raise BackendError(f"{source} returned no invoice text: {_shown(bolt11)}",
                           code="ln_bad_invoice")
    text = bolt11.strip()
    if text.lower().startswith("lightning:"):
        text = text[len("lightning:"):]
    if len(text) > MAX_INVOICE_CHARS or (text != text.lower() and text != text.upper()):
        raise BackendError(f"{source} returned something that is not a BOLT11 invoice: "
                           f"{_shown(text)}", code="ln_bad_invoice")
    text = text.lower()
    try:
        lib = _library()
        hrp = text[: text.rindex("1")]
        currency, amount_msat = parse_hrp_amount(hrp)
        inv = lib.decode(text)
        payment_hash = inv.payment_hash
        description = inv.description
        description_hash = inv.description_hash
        expiry = int(inv.expiry)
        payee = inv.payee
        date = int(inv.date)
    except Exception as exc:  # the library raises assorted errors on malformed input
        reason = str(exc).strip().rstrip(".") or type(exc).__name__
        raise BackendError(f"{source} returned something that is not a valid BOLT11 "
                           f"invoice ({reason}): {_shown(text)}", code="ln_bad_invoice") from None
    if not isinstance(payment_hash, str) or not _HEX64.fullmatch(payment_hash):
        raise BackendError(f"{source} returned an invoice without a valid payment hash",
                           code="ln_bad_invoice")
    if not isinstance(payee, str) or not re.fullmatch(r"0[23][0-9a-f]{64}", payee):
        raise BackendError(f"{source} returned an invoice without a valid signature",
                           code="ln_bad_invoice")
    if not 0 <= expiry <= 10 * 365 * 86400 or not 0 < date < 2**35:
        raise BackendError(f"{source} returned an invoice with an impossible timestamp or "
                           f"expiry", code="ln_bad_invoice")
    return Decoded(bolt11=text, currency=currency, amount_msat=amount_msat,
                   payment_hash=payment_hash, description=description,
                   created_at=utc_from_unix(date), expiry_seconds=expiry, payee=payee,
                   description_hash=description_hash)


def check_invoice(bolt11: object, *, network: str, amount_msat: int, description: str,
                  source: str, payment_hash: str | None = None,
                  min_expires_at: datetime | None = None,
                  payee: str | None = None,
                  description_hash: str | None = None) -> LnInvoice:
    """Decode ``bolt11`` and check it is the invoice we asked for; return what we store.

    Checks: the network prefix is ``network``'s; the amount is exactly ``amount_msat``;
    the payment hash is ``payment_hash`` (when the node reported one); the invoice does
    not expire before ``min_expires_at`` (the request's window); the description is
    exactly ``description`` (or, with ``description_hash``, the invoice commits to that
    hash: LNURL-pay's metadata); the signer is ``payee`` (when known). Any mismatch is
    BackendError (exit 6) and nothing is returned.
    """
    d = decode(bolt11, source=source)
    want = PREFIX.get(network)
    if want is None:
        raise BackendError(f"unknown network {network!r}", code="ln_bad_invoice")
    if d.currency != want:
        raise BackendError(
            f"{source} returned an invoice for {_NETWORKS_OF[d.currency]} (ln{d.currency}…), "
            f"but this home is on {network} (ln{want}…)", code="ln_wrong_network")
    if d.amount_msat != amount_msat:
        got = "no amount" if d.amount_msat is None else f"{d.amount_msat} msat"
        raise BackendError(f"{source} returned an invoice for {got}, but we asked for "
                           f"{amount_msat} msat", code="ln_wrong_amount")
    if payment_hash is not None and d.payment_hash != payment_hash.lower():
        raise BackendError(f"{source} returned an invoice with payment hash "
                           f"{d.payment_hash[:16]}…, but reported {payment_hash[:16]}…",
                           code="ln_wrong_hash")
    if min_expires_at is not None and d.expires_at < min_expires_at:
        raise BackendError(
            f"{source} returned an invoice that expires at {d.expires_at:%Y-%m-%d %H:%M:%S}Z, "
            f"before the request's window ends ({min_expires_at:%Y-%m-%d %H:%M:%S}Z)",
            code="ln_short_expiry")
    if description_hash is not None:
        if d.description_hash != description_hash.lower():
            raise BackendError(f"{source} returned an invoice that does not commit to the "
                               f"description hash {description_hash[:16]}… we asked for",
                               code="ln_wrong_description")
    elif d.description != description:
        raise BackendError(f"{source} returned an invoice whose description "
                           f"{_shown(d.description)} is not ours ({_shown(description)})",
                           code="ln_wrong_description")
    if payee is not None and d.payee != payee:
        raise BackendError(f"{source} returned an invoice signed by {d.payee[:16]}…, not by "
                           f"the node ({payee[:16]}…)", code="ln_wrong_payee")
    return LnInvoice(bolt11=d.bolt11, payment_hash=d.payment_hash, amount_msat=amount_msat,
                     description=description, created_at=d.created_at,
                     expires_at=d.expires_at)


def check_preimage(preimage: object, payment_hash: str, *, source: str) -> str:
    """The preimage as 64 lowercase hex digits, checked: sha256(preimage) == payment_hash."""
    if not isinstance(preimage, str) or not _HEX64.fullmatch(preimage.lower()):
        raise BackendError(f"{source} says invoice {payment_hash[:16]}… is paid but gives no "
                           f"valid preimage", code="ln_bad_preimage")
    if hashlib.sha256(bytes.fromhex(preimage)).hexdigest() != payment_hash:
        raise BackendError(f"{source} says invoice {payment_hash[:16]}… is paid but its "
                           f"preimage does not hash to the payment hash", code="ln_bad_preimage")
    return preimage.lower()
