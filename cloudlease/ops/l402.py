"""L402 (Lightning Labs; formerly LSAT): scripts and agents rent and extend by paying a
Lightning invoice, with no account and no human in the loop.

1. ``POST /api/v1/leases`` with ``Accept-Payment: L402`` (or a plan with ``l402``) makes
   the lease and its Lightning-only request as any rental does, and answers ``402``
   with ``WWW-Authenticate: L402 macaroon="<base64>", invoice="<bolt11>"``
   (:func:`challenge_rent`; :func:`challenge_extend` for ``.../extend``).
2. The client pays the invoice and repeats the same request with ``Authorization: L402
   <macaroon>:<preimage hex>`` (:func:`redeem_rent`, :func:`redeem_extend`): the macaroon
   must verify under the root key, every caveat hold for this request, the preimage hash
   to the payment hash the macaroon names, and the node see the invoice paid (``pay
   check``'s pass on that request, which activates the lease and makes its machine).
   The answer is ``201`` with the lease, its token and its machine. A credential is
   answered once: replayed afterwards (flag ``redeemed`` on its request), tampered,
   expired, with a wrong preimage, or for another plan, hours, key or lease, it is
   refused (the web face answers ``401`` with a fresh challenge).

The macaroon (V2, base64; ``pymacaroons``): identifier = version 0 (2 bytes) || payment
hash (32) || token id (32), as L402's version 0; caveats ``purpose``, ``plan`` and
``hours`` (or ``lease`` and ``hours`` for an extension), ``ssh_key`` (the key's SHA256
fingerprint, or ``none``), ``expires`` (the invoice's expiry, UTC). The lease's token is
derived from the token id under the serve key, so the credential and the 201 agree on it.
The root key comes from the home's serve key (``ops/secrets.py``): every host serving one
ledger must share that file to verify each other's macaroons.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import struct
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloudlease.core import clock
from cloudlease.core.errors import BadValue, CloudleaseError, Conflict
from cloudlease.model import PaymentRequest, RequestFlag, RequestStatus
from cloudlease.ops.context import Context

VERSION = 0
SETTLE_WAIT = 10.0  # seconds the node may take to report a payment the client made
_EXPIRES = "%Y-%m-%dT%H:%M:%SZ"


class Refused(Exception):
    """A credential that does not open this request (the web face answers 401 with a
    fresh challenge). ``reason`` is one line for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Challenge:
    """What a 402 carries: the macaroon (base64) and the invoice, and what was made."""

    macaroon: str
    invoice: str
    lease_id: str
    request_id: str

    def header(self) -> str:
        return f'L402 macaroon="{self.macaroon}", invoice="{self.invoice}"'


def _root(ctx: Context) -> bytes:
    from cloudlease.ops.secrets import derive

    return derive(ctx.home.path, "l402")


def _location(ctx: Context) -> str:
    return ctx.settings.serve.public_url or "cloudlease"


def _mint(ctx: Context, payment_hash: str, token_id: bytes, caveats: list[str]) -> str:
    from pymacaroons import MACAROON_V2, Macaroon
    from pymacaroons.serializers import BinarySerializer

    ident = struct.pack(">H", VERSION) + bytes.fromhex(payment_hash) + token_id
    mac = Macaroon(location=_location(ctx), identifier=ident, key=_root(ctx),
                   version=MACAROON_V2)
    for c in caveats:
        mac.add_first_party_caveat(c)
    return base64.b64encode(BinarySerializer().serialize_raw(mac)).decode("ascii")


def fingerprint(ssh_key: str | None) -> str:
    """The caveat value of an SSH key: ``SHA256:<base64>`` as ssh-keygen -l shows it."""
    if not ssh_key:
        return "none"
    from cloudlease.core.views import ssh_keys

    return ssh_keys((ssh_key,))[0]["fingerprint"]


def _expires(at: datetime) -> str:
    return at.strftime(_EXPIRES)


# -- challenges -------------------------------------------------------------------------
def challenge_rent(ctx: Context, *, plan: Any, hours: Any, ssh_key: Any = None,
                   email: Any = None) -> Challenge:
    """A new lease paid over Lightning, and the credential for it."""
    from cloudlease.ops import storefront

    token_id = secrets.token_bytes(32)
    rental = storefront.rent(ctx, plan=plan, hours=hours, method="lightning",
                             ssh_key=ssh_key, email=email, key="l402:" + token_id.hex())
    req = rental.request
    assert req is not None and req.ln_payment_hash and req.ln_invoice
    keys = storefront.ssh_key_lines(ssh_key)
    caveats = ["purpose = rent", f"plan = {rental.lease.plan}",
               f"hours = {rental.lease.hours}",
               f"ssh_key = {fingerprint(keys[0] if keys else None)}",
               f"expires = {_expires(req.expires_at)}"]
    return Challenge(_mint(ctx, req.ln_payment_hash, token_id, caveats), req.ln_invoice,
                     rental.lease.id, req.id)


def challenge_extend(ctx: Context, token: str, *, hours: Any) -> Challenge:
    """An extension paid over Lightning, and the credential for it."""
    from cloudlease.ops import payments, storefront

    h = storefront.whole_hours(hours)
    lease = storefront.find(ctx, token)
    _, req, _ = payments.extend(ctx, lease.id, h, method="lightning", via="l402")
    if req.status != RequestStatus.NEW or not req.ln_payment_hash or not req.ln_invoice:
        raise Conflict(f"lease {lease.id}'s open request {req.id} cannot be paid over "
                       "Lightning; pay it or let it expire first", code="open_request")
    caveats = ["purpose = extend", f"lease = {lease.id}", f"hours = {h}",
               f"expires = {_expires(req.expires_at)}"]
    return Challenge(_mint(ctx, req.ln_payment_hash, secrets.token_bytes(32), caveats),
                     req.ln_invoice, lease.id, req.id)


# -- redeeming ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Credential:
    macaroon: Any
    payment_hash: str
    token_id: bytes
    preimage: str


def parse(header: str | None) -> Credential:
    """``Authorization: L402 <macaroon>:<preimage>`` (``LSAT`` accepted), decoded."""
    from pymacaroons.serializers import BinarySerializer

    if not header or not isinstance(header, str):
        raise Refused("no L402 credential")
    scheme, _, rest = header.strip().partition(" ")
    if scheme.upper() not in ("L402", "LSAT") or ":" not in rest:
        raise Refused("the Authorization header is not 'L402 <macaroon>:<preimage>'")
    mac_text, _, preimage = rest.strip().rpartition(":")
    preimage = preimage.strip().lower()
    if len(preimage) != 64 or any(c not in "0123456789abcdef" for c in preimage):
        raise Refused("the preimage must be 64 hex digits")
    try:
        raw = base64.b64decode(mac_text.replace("-", "+").replace("_", "/")
                               + "=" * (-len(mac_text) % 4), validate=True)
        mac = BinarySerializer().deserialize_raw(raw)
        ident = mac.identifier_bytes
    except Exception:  # base64 and pymacaroons raise assorted errors on garbage
        raise Refused("the macaroon cannot be read") from None
    if len(ident) != 66 or struct.unpack(">H", ident[:2])[0] != VERSION:
        raise Refused("the macaroon is not one of ours")
    return Credential(mac, ident[2:34].hex(), ident[34:], preimage)


def _verify(ctx: Context, cred: Credential, wanted: dict[str, str]) -> None:
    """Signature under the root key, every caveat as ``wanted`` (and ``expires`` in the
    future), the preimage paying the hash the macaroon names."""
    from pymacaroons import Verifier

    now = clock.now()
    seen: set[str] = set()

    def caveat(text: str) -> bool:
        key, sep, value = text.partition(" = ")
        if not sep or key in seen:
            return False
        seen.add(key)
        if key == "expires":
            try:
                at = datetime.strptime(value, _EXPIRES).replace(tzinfo=now.tzinfo)
            except ValueError:
                return False
            return now < at
        return key in wanted and wanted[key] == value

    v = Verifier()
    v.satisfy_general(caveat)
    try:
        ok = v.verify(cred.macaroon, _root(ctx))
    except Exception:  # pymacaroons raises on a bad signature or an unmet caveat
        ok = False
    if not ok or not {"expires", *wanted} <= seen:
        expired = any(c.caveat_id_bytes.startswith(b"expires = ") and not _future(
            c.caveat_id_bytes[10:].decode("ascii", "replace"), now)
            for c in cred.macaroon.caveats)
        raise Refused("the credential has expired" if expired else
                      "the credential does not verify for this request (tampered, or for "
                      "another lease, plan, hours or key)")
    if hashlib.sha256(bytes.fromhex(cred.preimage)).hexdigest() != cred.payment_hash:
        raise Refused("the preimage does not pay the credential's invoice")


def _future(text: str, now: datetime) -> bool:
    try:
        return now < datetime.strptime(text, _EXPIRES).replace(tzinfo=now.tzinfo)
    except ValueError:
        return False


def _request(ctx: Context, cred: Credential, lease_id: str) -> PaymentRequest:
    req = ctx.read().requests.by_payment_hash(cred.payment_hash)
    if req is None or req.lease != lease_id:
        raise Refused("the credential is for another lease")
    if RequestFlag.REDEEMED in req.flags:
        raise Refused("the credential was used already")
    return req


def _settle(ctx: Context, req: PaymentRequest) -> PaymentRequest:
    """``pay check``'s pass on the request until the node reports it paid (the preimage
    proves the client paid; the ledger records what the node says), then mark the
    credential used, in one short write."""
    from cloudlease.ops.check import check

    deadline = time.monotonic() + SETTLE_WAIT
    while True:
        status = check(ctx, [req.id]).statuses.get(req.id)
        if status == "settled":
            break
        if status in ("expired", "invalid") or time.monotonic() > deadline:
            raise Refused(f"the invoice is not paid ({status})")
        time.sleep(0.1)
    with ctx.transaction(f"l402 redeem {req.id}") as ledger:
        cur = ledger.request(req.id)
        if RequestFlag.REDEEMED in cur.flags:
            raise Refused("the credential was used already")
        cur = cur.replace(flags=tuple(sorted({*cur.flags, str(RequestFlag.REDEEMED)})))
        ledger.requests[cur.id] = cur
    return cur


def redeem_rent(ctx: Context, header: str | None, *, plan: Any, hours: Any,
                ssh_key: Any = None) -> str:
    """The token of the lease a credential paid for (after verifying it for this very
    request); ``Refused`` otherwise."""
    from cloudlease.ops import storefront, tokens

    cred = parse(header)
    try:
        keys = storefront.ssh_key_lines(ssh_key)
        h = storefront.whole_hours(hours)
    except BadValue as exc:
        raise Refused(exc.message) from None
    _verify(ctx, cred, {"purpose": "rent", "plan": str(plan), "hours": str(h),
                        "ssh_key": fingerprint(keys[0] if keys else None)})
    token = tokens.derived(storefront.token_key(ctx), "rent", "l402:" + cred.token_id.hex())
    try:
        lease = storefront.find(ctx, token)
    except CloudleaseError:
        raise Refused("the credential's lease is unknown here") from None
    _settle(ctx, _request(ctx, cred, lease.id))
    return token


def redeem_extend(ctx: Context, token: str, header: str | None, *, hours: Any) -> None:
    """Verify an extension's credential for this lease and hours, and settle it."""
    from cloudlease.ops import storefront

    cred = parse(header)
    lease = storefront.find(ctx, token)
    try:
        h = storefront.whole_hours(hours)
    except BadValue as exc:
        raise Refused(exc.message) from None
    _verify(ctx, cred, {"purpose": "extend", "lease": lease.id, "hours": str(h)})
    _settle(ctx, _request(ctx, cred, lease.id))


def wanted(ctx: Context, plan: Any) -> bool:
    """Whether a plan asks for L402 whatever the client says (``plan edit --l402``)."""
    p = ctx.read().plans.get(plan) if isinstance(plan, str) else None
    return bool(p is not None and p.l402)
