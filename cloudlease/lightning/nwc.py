"""Nostr Wallet Connect (NIP-47): ask a tenant's wallet service to pay an invoice.

The URI a wallet hands out is ``nostr+walletconnect://<wallet pubkey>?relay=<url>&
secret=<hex>[&lud16=...]``. :func:`parse` checks it strictly (cloudlease keeps nothing it
cannot use): the pubkey is 64 hex digits, the secret a valid secp256k1 key (64 hex
digits), every relay ``wss://`` (or ``ws://`` on this machine's loopback when the operator
allows it: ``[renewal] allow_loopback_relay``, for demos and tests), never an address on
a private, link-local or loopback network over ``wss://`` (the server would be the one
connecting there).

:func:`pay_invoice` sends ``pay_invoice`` (a kind-23194 event, signed with the
connection's secret and encrypted to the wallet as NIP-47 says; the library, ``nostr-sdk``
(rust-nostr's bindings), chooses NIP-04 or NIP-44 with the wallet) over the relay, and
waits at most ``timeout`` seconds for the kind-23195 answer from the wallet's key (an
event from any other key, unsigned or not decryptable is not an answer: the library
drops it). A refusal (``error`` in the answer) is ``BackendError`` ``nwc_refused`` with
the wallet's own words; no answer in time ``nwc_timeout``; a relay that cannot be reached
``nwc_unreachable``. ``nostr-sdk`` is imported here only, when a renewal is due.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from cloudlease.core.errors import BackendError, BadValue

SCHEME = "nostr+walletconnect://"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141  # secp256k1 n
MAX_URI = 2048


@dataclass(frozen=True)
class Connection:
    """A parsed NWC URI.

    Attributes:
        wallet_pubkey: the wallet service's public key (64 hex digits).
        relays: where it listens.
        secret: the connection's private key (64 hex digits): never shown, never logged.
        lud16: the wallet's lightning address, if it gave one.
    """

    wallet_pubkey: str
    relays: tuple[str, ...]
    secret: str = field(repr=False)
    lud16: str | None = None

    def uri(self) -> str:
        from urllib.parse import urlencode

        query = [("relay", r) for r in self.relays] + [("secret", self.secret)]
        if self.lud16:
            query.append(("lud16", self.lud16))
        return f"{SCHEME}{self.wallet_pubkey}?{urlencode(query)}"


def parse(uri: object, *, loopback: bool = False) -> Connection:
    """A checked connection (BadValue, exit 2, saying what is wrong; never echoing the
    secret)."""
    if not isinstance(uri, str) or not uri.strip():
        raise BadValue("give a Nostr Wallet Connect URI (nostr+walletconnect://...)",
                       code="bad_nwc_uri")
    text = uri.strip()
    if len(text) > MAX_URI or not text.lower().startswith(SCHEME):
        raise BadValue("not a Nostr Wallet Connect URI: it must start with "
                       "nostr+walletconnect://", code="bad_nwc_uri")
    rest = text[len(SCHEME):]
    pubkey, _, query = rest.partition("?")
    pubkey = pubkey.strip("/").lower()
    if not _HEX64.fullmatch(pubkey):
        raise BadValue("the wallet's public key in the URI must be 64 hex digits",
                       code="bad_nwc_uri")
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query),
                          max_num_fields=20)
    except ValueError:
        raise BadValue("the URI's query cannot be read", code="bad_nwc_uri") from None
    unknown = sorted(set(params) - {"relay", "secret", "lud16"})
    if unknown:
        raise BadValue(f"unknown parameter {unknown[0][:20]!r} in the URI", code="bad_nwc_uri")
    relays = tuple(params.get("relay", []))
    if not relays:
        raise BadValue("the URI names no relay", code="bad_nwc_uri")
    if len(relays) > 5:
        raise BadValue("the URI names more than 5 relays", code="bad_nwc_uri")
    for relay in relays:
        check_relay(relay, loopback=loopback)
    secrets_ = params.get("secret", [])
    if len(secrets_) != 1 or not _HEX64.fullmatch(secrets_[0].lower()) or \
            not 0 < int(secrets_[0], 16) < _ORDER:
        raise BadValue("the URI's secret must be one valid private key (64 hex digits)",
                       code="bad_nwc_uri")
    lud16 = (params.get("lud16") or [None])[0]
    if lud16 is not None and (len(lud16) > 320 or not re.fullmatch(r"[^@\s]+@[^@\s]+",
                                                                      lud16)):
        raise BadValue("the URI's lud16 is not a lightning address", code="bad_nwc_uri")
    return Connection(pubkey, relays, secrets_[0].lower(), lud16)


def check_relay(relay: str, *, loopback: bool = False) -> str:
    """``wss://host[:port][/path]``; ``ws://`` only to this machine when ``loopback``."""
    try:
        parts = urlsplit(relay)
        host = parts.hostname
        _ = parts.port
    except ValueError:
        raise BadValue(f"relay {relay[:60]!r} is not a URL", code="bad_nwc_relay") from None
    if not host or parts.username or parts.password or parts.query or parts.fragment or \
            any(c.isspace() for c in relay):
        raise BadValue(f"relay {relay[:60]!r} is not a plain wss:// URL", code="bad_nwc_relay")
    local = _is_loopback(host)
    if parts.scheme == "ws":
        if loopback and local:
            return relay
        raise BadValue(f"relay {relay[:60]!r} is not wss://: a wallet connection must be "
                       "encrypted" + ("" if not local else " (ws:// to this machine needs "
                                      "[renewal] allow_loopback_relay = true)"),
                       code="bad_nwc_relay")
    if parts.scheme != "wss":
        raise BadValue(f"relay {relay[:60]!r} must be a wss:// URL", code="bad_nwc_relay")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return relay  # a name: the resolver decides
    if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified
            or ip.is_multicast or ip.is_reserved) and not (loopback and local):
        raise BadValue(f"relay {relay[:60]!r} is on a private network; a relay must be "
                       "public", code="bad_nwc_relay")
    return relay


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def pay_invoice(conn: Connection, bolt11: str, timeout: Decimal | float) -> str:
    """Ask the wallet to pay ``bolt11``; its preimage (hex) as the wallet gives it."""
    import asyncio

    return asyncio.run(_pay(conn, bolt11, float(timeout)))


async def _pay(conn: Connection, bolt11: str, timeout: float) -> str:
    import asyncio
    from datetime import timedelta

    import nostr_sdk as nostr

    who = f"the wallet ({conn.wallet_pubkey[:12]}… on {conn.relays[0]})"
    uri = nostr.NostrWalletConnectUri.parse(conn.uri())
    client = nostr.NostrWalletConnectBuilder(uri).timeout(timedelta(seconds=timeout)).build()
    try:
        answer = await asyncio.wait_for(
            client.pay_invoice(nostr.PayInvoiceRequest(id=None, invoice=bolt11, amount=None)),
            timeout + 5)
    except TimeoutError:
        raise BackendError(f"{who} did not answer within {timeout:g} s",
                           code="nwc_timeout") from None
    except Exception as exc:  # the library's errors: the wallet's refusal, or no answer
        text = " ".join(str(exc).split())[:200].strip("'\"")
        if "response not received" in text or "timeout" in text.lower():
            raise BackendError(f"{who} did not answer within {timeout:g} s",
                               code="nwc_timeout") from None
        if "relay" in text.lower() and ("connect" in text.lower() or "not" in text.lower()):
            raise BackendError(f"{who} cannot be reached: {text}", code="nwc_unreachable") \
                from None
        raise BackendError(f"{who} refused: {text}", code="nwc_refused") from None
    preimage = getattr(answer, "preimage", None)
    if not isinstance(preimage, str):
        raise BackendError(f"{who} answered without a preimage", code="nwc_bad_answer")
    return preimage.lower()
