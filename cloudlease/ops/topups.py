"""LNURL-pay top-ups (LUD-06, LUD-09, LUD-12, LUD-17): a static link on every active lease
made through ``serve``; any wallet pays any amount within bounds and the lease runs longer
by what that buys, to the minute (``core/prorate.py``).

- The link is ``/lnurlp/<pay id>``: ``<lease id>.<mac>``, the mac an HMAC of the lease id
  under the home's serve key (``ops/secrets.py``). It opens the top-up and nothing else:
  the lease's token (its page, its login) is not in it, so a tenant may hand the QR code
  to whoever pays for them. Shown as bech32 ``LNURL1…`` (LUD-01, in ``lightning:`` for
  the QR code) and ``lnurlp://`` (LUD-17).
- ``offer`` is the first answer: ``minSendable`` buys one minute at the price now,
  ``maxSendable`` what the lease may still take (a lease never runs past two years; one
  top-up buys at most a year; a throttled pool takes none); ``metadata`` names the lease;
  ``commentAllowed`` (LUD-12).
- ``invoice`` answers the callback: the amount checked (whole sats: a multiple of 1000
  msat, within the bounds of the moment), the comment's length checked, then a fresh
  Lightning-only request for the lease (``purpose`` extend, ``via`` lnurl, no hours: it
  buys minutes) whose invoice commits to ``sha256(metadata)`` where the node can (the
  simulated node, LND; Electrum 4.8 cannot: its invoice then carries the metadata's text),
  checked like every invoice. Its settlement extends the lease as any payment does. The
  success action (LUD-09) gives the new end time the payment buys at today's price.

Every refusal is a ``CloudleaseError`` (its message is the LUD-06 ``reason``); nothing is
stored for one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

from cloudlease.core import clock, prorate
from cloudlease.core.errors import BadValue, Conflict, NotFound
from cloudlease.ledger.session import Ledger
from cloudlease.model import Lease, LeaseStatus, PaymentRequest
from cloudlease.ops import lnrequests, payment_requests
from cloudlease.ops.context import Context
from cloudlease.ops.quote import Quote

COMMENT_ALLOWED = 140  # LUD-12: characters of comment a payer may send
MAX_TOPUP_MINUTES = 8784 * 60  # one top-up buys at most a year


def _mac(ctx: Context, lease_id: str) -> str:
    from cloudlease.ops.secrets import derive

    key = derive(ctx.home.path, "lnurlp")
    return hmac.new(key, lease_id.encode(), hashlib.sha256).hexdigest()[:32]


def pay_id(ctx: Context, lease_id: str) -> str:
    """The path segment of a lease's LNURL-pay link."""
    return f"{lease_id.lower()}.{_mac(ctx, lease_id)}"


def _lease(ctx: Context, ledger: Ledger, pid: str) -> Lease:
    """The lease a pay id stands for (one NotFound for malformed, forged and unknown)."""
    gone = NotFound("no such top-up link", code="lnurl_not_found")
    if not isinstance(pid, str) or len(pid) > 64 or pid.count(".") != 1:
        raise gone
    head, mac = pid.split(".")
    lease_id = head.upper()
    if not lease_id.startswith("L-") or not lease_id[2:].isdigit() or \
            not hmac.compare_digest(mac, _mac(ctx, lease_id)):
        raise gone
    lease = ledger.leases.get(lease_id)
    if lease is None:
        raise gone
    return lease


def links(ctx: Context, lease_id: str, base_url: str) -> dict[str, str]:
    """A lease's top-up link three ways: ``url`` (https), ``lnurl`` (bech32, upper case)
    and ``lnurlp`` (LUD-17)."""
    url = f"{base_url.rstrip('/')}/lnurlp/{pay_id(ctx, lease_id)}"
    scheme, _, rest = url.partition("://")
    return {"url": url, "lnurl": encode_lnurl(url), "lnurlp": f"lnurlp://{rest}"}


def encode_lnurl(url: str) -> str:
    """LUD-01: the URL's UTF-8 bytes as bech32 with prefix ``lnurl`` (no length limit),
    upper case (QR codes pack it best)."""
    from embit.bech32 import Encoding, bech32_encode, convertbits

    data = convertbits(url.encode("utf-8"), 8, 5)
    assert data is not None
    return bech32_encode(Encoding.BECH32, "lnurl", data).upper()


def decode_lnurl(text: str) -> str:
    """The URL of a bech32 ``LNURL1…`` (LUD-01: bech32 without its 90-character limit)."""
    from embit.bech32 import CHARSET, Encoding, bech32_verify_checksum, convertbits

    low = text.strip().lower()
    hrp, _, rest = low.rpartition("1")
    data = [CHARSET.find(c) for c in rest]
    if hrp != "lnurl" or len(data) < 7 or -1 in data or \
            bech32_verify_checksum(hrp, data) != Encoding.BECH32:
        raise BadValue("not an LNURL")
    raw = convertbits(data[:-6], 5, 8, False)
    if raw is None:
        raise BadValue("not an LNURL")
    return bytes(raw).decode("utf-8")


def metadata(lease: Lease, site: str) -> str:
    """LUD-06 metadata, exactly as served (its SHA-256 is the invoices' description hash):
    the same for every answer about this lease."""
    text = f"Top up lease {lease.id} ({lease.plan}) at {site}"
    return json.dumps([["text/plain", text]], separators=(",", ":"))


def _price(ctx: Context, ledger: Ledger, lease: Lease) -> Quote:
    """Sats per hour now (and the rate for a fiat plan), as a one-hour quote."""
    from cloudlease.ops.quote import quote

    return quote(ctx.settings, ledger.plan(lease.plan), 1)


def _bounds(ctx: Context, ledger: Ledger, lease: Lease) -> tuple[int, int, Quote]:
    """(min sats, max sats, the price) for a top-up of ``lease`` now."""
    if lease.status not in (LeaseStatus.ACTIVE, LeaseStatus.SUSPENDED):
        raise Conflict(f"lease {lease.id} is {lease.status.value.replace('_', ' ')}; only a "
                       "running lease can be topped up (rent again)", code="not_active")
    pool = ledger.pools.get(lease.pool) if lease.pool else None
    if pool is not None and pool.throttled:
        raise Conflict(f"pool {pool.name} takes no more time now (it is throttled)",
                       code="pool_throttled")
    price = _price(ctx, ledger, lease)
    room = min(prorate.MAX_MINUTES - lease.minutes, MAX_TOPUP_MINUTES)
    if room < 1:
        raise Conflict(f"lease {lease.id} already runs as long as a lease may (two years)",
                       code="lease_full")
    return prorate.cost(1, price.amount_sats), prorate.cost(room, price.amount_sats), price


def offer(ctx: Context, pid: str, base_url: str, site: str) -> dict[str, Any]:
    """LUD-06's first answer for a top-up link."""
    ledger = ctx.read()
    lease = _lease(ctx, ledger, pid)
    low, high, _ = _bounds(ctx, ledger, lease)
    return {"tag": "payRequest", "callback": f"{base_url.rstrip('/')}/lnurlp/{pid}/callback",
            "minSendable": low * 1000, "maxSendable": high * 1000,
            "metadata": metadata(lease, site), "commentAllowed": COMMENT_ALLOWED}


def _amount(text: Any, low: int, high: int) -> int:
    if not isinstance(text, str) or not text.isdigit() or len(text) > 18:
        raise BadValue("amount must be a whole number of millisatoshis", code="bad_amount")
    msat = int(text)
    if msat % 1000:
        raise BadValue(f"amount {msat} msat is not a whole number of sats; this node takes "
                       "whole sats (a multiple of 1000 msat)", code="bad_amount")
    if not low * 1000 <= msat <= high * 1000:
        raise BadValue(f"amount {msat} msat is outside {low * 1000}..{high * 1000} msat",
                       code="bad_amount")
    return msat // 1000


def _comment(text: Any) -> str | None:
    if text in (None, ""):
        return None
    if not isinstance(text, str) or len(text) > COMMENT_ALLOWED:
        raise BadValue(f"comment is longer than the {COMMENT_ALLOWED} characters allowed",
                       code="comment_too_long")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise BadValue("comment must not hold control characters", code="bad_comment")
    return text


def invoice(ctx: Context, pid: str, amount: Any, comment: Any, site: str
            ) -> tuple[dict[str, Any], PaymentRequest]:
    """LUD-06's callback answer (``pr``, ``routes``, LUD-09 ``successAction``) and the
    request made for it."""
    ledger = ctx.read()
    lease = _lease(ctx, ledger, pid)
    low, high, price = _bounds(ctx, ledger, lease)
    sats = _amount(amount, low, high)
    note = _comment(comment)
    if not ctx.settings.lightning.enabled:
        raise BadValue("this server takes no Lightning payments", code="no_lightning")
    meta = metadata(lease, site)
    digest = hashlib.sha256(meta.encode("utf-8")).hexdigest()
    text = json.loads(meta)[0][1]
    window = timedelta(minutes=ctx.settings.expiry_minutes)
    prepared = lnrequests.prepare(ctx, ("lightning",), sats, text, window,
                                  description_hash=digest)
    assert prepared is not None
    try:
        req = _store(ctx, lease.id, sats, price, prepared, text, note)
    except BaseException:
        lnrequests.discard(ctx, prepared)
        raise
    got = prorate.buy(sats, 0, price.amount_sats, 1)
    ends = (lease.ends_at or clock.now()) + timedelta(minutes=got.minutes)
    message = (f"Lease {lease.id} now runs until {ends:%Y-%m-%d %H:%M} UTC "
               f"({prorate.duration(got.minutes)} more).")
    return {"pr": prepared.invoice.bolt11, "routes": [],
            "successAction": {"tag": "message", "message": message[:144]}}, req


def _store(ctx: Context, lease_id: str, sats: int, price: Quote,
           prepared: lnrequests.Prepared, text: str, note: str | None) -> PaymentRequest:
    """The top-up's request, in one transaction (the lease checked again under the lock)."""
    with ctx.transaction(f"lnurl top-up {lease_id}") as ledger:
        lease = ledger.lease(lease_id)
        if lease.status not in (LeaseStatus.ACTIVE, LeaseStatus.SUSPENDED):
            raise Conflict(f"lease {lease.id} is {lease.status.value}; only a running lease "
                           "can be topped up", code="not_active")
        q = Quote(sats, None, price.currency, price.rate, price.rate_source)
        req = payment_requests.create(
            ctx, ledger, purpose="extend", quote=q, lease=lease.id, hours=None,
            label=f"cloudlease {lease.id}", message=text, methods=("lightning",),
            invoice=prepared.invoice, created_at=prepared.asked_at)
        req = req.replace(via="lnurl", comment=note)
        ledger.requests[req.id] = req
        ledger.leases[lease.id] = lease.replace(requests=(*lease.requests, req.id))
    return req
