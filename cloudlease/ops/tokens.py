"""Capability tokens: how a tenant without an account reaches their lease.

Every lease made through ``cloudlease serve`` gets a token of 192 bits, shown once (in the
lease page's URL ``/l/<token>`` and the API's answer) and stored only as its SHA-256: the
lease's idempotency key is ``web:<sha256 hex of the token>``, so finding a lease by token
is one look-up on a unique index, and the write that makes the lease records the token in
the same transaction (no table of its own, nothing to migrate).

A retried request must find the same lease *and* show the same URL again, yet the token
is not stored. So when the client gives an ``Idempotency-Key``, the token is derived from
it (HMAC-SHA256 keyed with a key from the home's serve key, ``ops/secrets.py``: a server
secret; before, the ledger's id, which is no secret, keyed it — tokens handed out then
still open their leases, only a retry of such a key now makes a new lease): the same key
gives the same token, hence the
same stored hash, hence the same lease; ``rent``'s own idempotency rules then apply (the
same key with other hours or another plan is exit 4). Without a key the token is random.
A key is therefore as secret as the URL it stands for: the README says to make it random
(the storefront's form carries a fresh 192-bit one per page).

A malformed token and an unknown one are the same ``NotFound``: nothing tells a prober
whether a string was ever a token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from cloudlease.core.errors import BadValue, NotFound

TOKEN_BYTES = 24  # 192 bits, 32 URL-safe base64 characters
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
KEY_PREFIX = "web:"  # a lease's idempotency key when a token stands for it
MIN_CLIENT_KEY = 16
MAX_CLIENT_KEY = 255


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def new() -> str:
    """A fresh random token."""
    return _b64(secrets.token_bytes(TOKEN_BYTES))


def client_key(text: str | None) -> str | None:
    """An ``Idempotency-Key`` as given, checked: 16 to 255 printable ASCII characters."""
    if text is None:
        return None
    if not MIN_CLIENT_KEY <= len(text) <= MAX_CLIENT_KEY or not text.isascii() or \
            not text.isprintable() or text != text.strip():
        raise BadValue(f"Idempotency-Key must be {MIN_CLIENT_KEY} to {MAX_CLIENT_KEY} "
                       "printable ASCII characters without surrounding spaces (a random "
                       "value such as a UUID: it is as secret as the lease's URL)",
                       code="bad_idempotency_key")
    return text


def derived(secret: bytes, purpose: str, key: str) -> str:
    """The token a client's idempotency key stands for (``purpose``: ``rent``,
    ``requote``, ``l402``), under the server's ``secret`` (``secrets.derive(home,
    "token")``)."""
    mac = hmac.new(secret, f"cloudlease serve {purpose}\0{key}".encode(),
                   hashlib.sha256).digest()
    return _b64(mac[:TOKEN_BYTES])


def well_formed(token: str) -> bool:
    return bool(_TOKEN.fullmatch(token))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def lease_key(token: str) -> str:
    """The idempotency key of the lease a token stands for (what the ledger keeps)."""
    return KEY_PREFIX + digest(token)


def tenant_name(token: str) -> str:
    """The anonymous tenant that holds the SSH key and e-mail given at checkout."""
    return "web-" + hashlib.sha256(b"tenant\0" + token.encode("ascii")).hexdigest()[:16]


def extend_key(token: str, key: str | None) -> str | None:
    """An extension's idempotency key: the client's, scoped to the lease (one client's
    key can never name another lease's request)."""
    if key is None:
        return None
    return "webx:" + hashlib.sha256(f"{digest(token)}\0{key}".encode()).hexdigest()


def not_found() -> NotFound:
    """The one answer for a token that is malformed, unknown, or not a lease's."""
    return NotFound("no such lease (check the link; it is shown once, when the lease is "
                    "made)", code="lease_not_found")
