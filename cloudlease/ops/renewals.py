"""NWC auto-renewal: a tenant hands over a Nostr Wallet Connect URI with a budget, and
before their lease ends cloudlease asks that wallet to pay the next period.

- **Handing it over** (``connect``, from the lease page or the API): the URI is checked
  (``lightning/nwc.py``), the budget too (sats per renewal and in total, both above 0, the
  first at most the second); the connection's secret is encrypted at rest (AES-256-GCM
  under a key from the home's serve key, ``ops/secrets.py``, bound to the lease) and never
  shown again; one per lease (a new one replaces it). ``revoke`` stops it and erases the
  secret.
- **Renewing** (``run``, from ``tick``, and so from ``serve``'s tick loop, after the pass's
  write, outside the ledger lock): for each active renewal whose lease ends within
  ``[renewal] before_minutes``: the next period is the lease's first hours at today's
  price. Past the budget (per renewal or in total) it stops (``exhausted``). Otherwise an
  extension request is made (Lightning only, ``via`` nwc), the renewal claims it in a
  short write (two passes never ask twice), the wallet is asked to pay its invoice
  (``pay_invoice``, at most ``[renewal] timeout_seconds``), and the node is asked until it
  sees the payment: the settled invoice extends the lease as any payment does, and the
  renewal counts what it cost. A refusal, an error, no answer in time, a wrong preimage,
  or an invoice the node never sees paid stops it (``failed``), with the reason on the
  lease page and in the ``renewal_failed`` event (hooks and webhooks); the lease then
  ends normally.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cloudlease.core import clock, lifecycle
from cloudlease.core.errors import BackendError, BadValue, CloudleaseError, Conflict, LedgerError
from cloudlease.core.money import MAX_SATS
from cloudlease.model import LeaseStatus, Renewal, RenewalStatus, RequestStatus
from cloudlease.ops.context import Context

if TYPE_CHECKING:
    from cloudlease.lightning.nwc import Connection
    from cloudlease.model import Lease

SETTLE_POLL = 0.2  # seconds between asking the node once the wallet says it paid
SETTLE_WAIT = 20.0  # how long the node may take to see a payment the wallet made


# -- the secret at rest ----------------------------------------------------------------
def _aead(ctx: Context) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from cloudlease.ops.secrets import derive

    return AESGCM(derive(ctx.home.path, "nwc"))


def seal(ctx: Context, lease_id: str, secret: str) -> str:
    nonce = os.urandom(12)
    box = _aead(ctx).encrypt(nonce, secret.encode("ascii"), f"nwc {lease_id}".encode())
    return base64.b64encode(nonce + box).decode("ascii")


def unseal(ctx: Context, lease_id: str, box: str) -> str:
    from cryptography.exceptions import InvalidTag

    raw = base64.b64decode(box)
    try:
        return _aead(ctx).decrypt(raw[:12], raw[12:], f"nwc {lease_id}".encode()).decode()
    except InvalidTag:
        raise LedgerError(f"the wallet connection of lease {lease_id} cannot be decrypted "
                          "with this home's serve.key (copy the key every host shares)",
                          code="nwc_undecryptable") from None


# -- the tenant's side -------------------------------------------------------------------
def shown(ctx: Context, token: str) -> dict[str, Any] | None:
    """The lease's renewal as the tenant sees it (never the secret)."""
    from cloudlease.ops.storefront import find

    ledger = ctx.read()
    lease = find(ctx, token, ledger)
    return view(ledger.renewals.get(lease.id))


def view(r: Renewal | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {"status": r.status.value, "wallet_pubkey": r.wallet_pubkey, "relay": r.relay,
            "max_per_renewal_sats": r.max_per_renewal_sats,
            "max_total_sats": r.max_total_sats, "spent_sats": r.spent_sats,
            "renewals": r.renewals, "request": r.request, "reason": r.reason,
            "created_at": r.created_at, "updated_at": r.updated_at}


def _budget(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SATS:
        raise BadValue(f"{what} must be a whole number of sats above 0", code="bad_budget")
    return value


def connect(ctx: Context, token: str, uri: Any, per_renewal: Any, total: Any
            ) -> dict[str, Any] | None:
    """Hand over a wallet for the token's lease (replacing any before)."""
    from cloudlease.lightning.nwc import parse
    from cloudlease.ops.storefront import find

    per = _budget(per_renewal, "max_per_renewal_sats")
    most = _budget(total, "max_total_sats")
    if per > most:
        raise BadValue("max_per_renewal_sats is more than max_total_sats", code="bad_budget")
    conn = parse(uri, loopback=ctx.settings.renewal_loopback)
    lease_id = find(ctx, token).id
    box = seal(ctx, lease_id, conn.secret)
    now = clock.now()
    with ctx.transaction(f"renewal connect {lease_id}") as ledger:
        lease = ledger.lease(lease_id)
        if lease.status not in (LeaseStatus.AWAITING_PAYMENT, LeaseStatus.ACTIVE,
                                LeaseStatus.SUSPENDED):
            raise Conflict(f"lease {lease.id} is {lease.status.value}; only an open lease "
                           "can renew itself", code="not_open")
        rec = Renewal(lease=lease.id, created_at=now, status=RenewalStatus.ACTIVE,
                      wallet_pubkey=conn.wallet_pubkey, relay=conn.relays[0],
                      secret_box=box, max_per_renewal_sats=per, max_total_sats=most,
                      updated_at=now)
        ledger.renewals[lease.id] = rec
    return view(rec)


def revoke(ctx: Context, token: str) -> dict[str, Any] | None:
    """Stop renewing and erase the secret."""
    from cloudlease.ops.storefront import find

    lease_id = find(ctx, token).id
    with ctx.transaction(f"renewal revoke {lease_id}") as ledger:
        rec = ledger.renewals.get(lease_id)
        if rec is None or rec.status != RenewalStatus.ACTIVE:
            raise Conflict("this lease has no wallet renewing it", code="no_renewal")
        rec = rec.replace(status=RenewalStatus.REVOKED, secret_box=None,
                          reason="revoked by the tenant", updated_at=clock.now())
        ledger.renewals[lease_id] = rec
    return view(rec)


# -- renewing ----------------------------------------------------------------------------
@dataclass
class Outcome:
    """What ``run`` did, per lease: ``renewed`` (request ids), ``failed`` (lease → why)."""

    renewed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)


def _due(ctx: Context, now: datetime) -> list[tuple[Renewal, Lease]]:
    ledger = ctx.read()
    active = ledger.renewals.where("status = 'active'")
    if not active:
        return []
    leases = ledger.leases.many(r.lease for r in active)
    before = timedelta(minutes=ctx.settings.renewal_before_minutes)
    out = []
    for r in active:
        lease = leases.get(r.lease)
        if lease is not None and lease.ends_at is not None and \
                (lease.status != LeaseStatus.ACTIVE or lease.ends_at - before <= now):
            out.append((r, lease))
    return out


def run(ctx: Context, settle: Callable[[str], str | None],
        now: datetime | None = None) -> Outcome:
    """Renew what is due (see the module doc). ``settle(request_id)`` checks one request
    with the node (``pay check``'s pass) and says its status. A backend that fails leaves
    the renewal to the next pass; the wallet's own refusal stops it."""
    out = Outcome()
    now = now or clock.now()
    for rec, lease in _due(ctx, now):
        try:
            _one(ctx, rec, lease, now, out, settle)
        except (LedgerError, BackendError, Conflict) as exc:
            out.waiting.append(f"{lease.id}: {exc.message}")
    return out


def _claimed(ctx: Context, rec: Renewal, now: datetime) -> bool:
    timeout = timedelta(seconds=float(ctx.settings.renewal_timeout) + SETTLE_WAIT + 30)
    return rec.attempt_at is not None and now < rec.attempt_at + timeout


def _one(ctx: Context, rec: Renewal, lease: Lease, now: datetime, out: Outcome,
         settle: Callable[[str], str | None]) -> None:
    if rec.request and rec.attempt_at is not None:
        if _account(ctx, rec, out) or _claimed(ctx, rec, now):
            return  # counted now, or a renewal under way (another pass's)
    if lease.status != LeaseStatus.ACTIVE:
        if lease.status in (LeaseStatus.ENDED, LeaseStatus.EXPIRED, LeaseStatus.CANCELLED):
            _stop(ctx, lease.id, RenewalStatus.FAILED, f"the lease is {lease.status.value}",
                  out, quiet=True)
        return
    amount, hours = _next_period(ctx, lease)
    if amount > rec.max_per_renewal_sats:
        return _stop(ctx, lease.id, RenewalStatus.EXHAUSTED,
                     f"the next {hours} h cost {amount:,} sat, more than the "
                     f"{rec.max_per_renewal_sats:,} sat allowed per renewal", out)
    if rec.spent_sats + amount > rec.max_total_sats:
        return _stop(ctx, lease.id, RenewalStatus.EXHAUSTED,
                     f"budget spent: {rec.spent_sats:,} of {rec.max_total_sats:,} sat used, "
                     f"the next {hours} h cost {amount:,} sat", out)
    req = _invoice(ctx, lease, hours, rec)
    conn = _connection(ctx, rec)
    from cloudlease.lightning.nwc import pay_invoice

    try:
        preimage = pay_invoice(conn, req.ln_invoice or "", ctx.settings.renewal_timeout)
    except BackendError as exc:
        if exc.code == "nwc_unreachable":
            raise  # the relay, not the wallet: next pass
        return _stop(ctx, lease.id, RenewalStatus.FAILED, exc.message, out)
    if not _pays(preimage, req.ln_payment_hash or ""):
        return _stop(ctx, lease.id, RenewalStatus.FAILED,
                     "the wallet answered with a preimage that does not pay the invoice", out)
    _wait_settled(req.id, settle)
    fresh = ctx.read().renewals.get(lease.id)
    if fresh is not None:
        _account(ctx, fresh, out)


def _pays(preimage: str, payment_hash: str) -> bool:
    try:
        return len(preimage) == 64 and \
            hashlib.sha256(bytes.fromhex(preimage)).hexdigest() == payment_hash
    except ValueError:
        return False


def _next_period(ctx: Context, lease: Lease) -> tuple[int, int]:
    from cloudlease.ops.quote import quote

    hours = lease.hours
    return quote(ctx.settings, ctx.read().plan(lease.plan), hours).amount_sats, hours


def _invoice(ctx: Context, lease: Lease, hours: int, rec: Renewal) -> Any:
    """The next period's request (Lightning only, via nwc), claimed by the renewal."""
    from cloudlease.ops import payments

    key = f"nwc:{lease.id}:{rec.renewals + 1}:{int(rec.created_at.timestamp())}"
    _, req, _ = payments.extend(ctx, lease.id, hours, method="lightning",
                                idempotency_key=key, via="nwc")
    with ctx.transaction(f"renewal {lease.id}") as ledger:
        cur = ledger.renewals.get(lease.id)
        if cur is None or cur.status != RenewalStatus.ACTIVE:
            raise Conflict(f"the renewal of {lease.id} stopped meanwhile")
        ledger.renewals[lease.id] = cur.replace(request=req.id, attempt_at=clock.now(),
                                                updated_at=clock.now())
    return req


def _connection(ctx: Context, rec: Renewal) -> Connection:
    from cloudlease.lightning.nwc import Connection

    if rec.secret_box is None:
        raise Conflict(f"the renewal of {rec.lease} holds no secret")
    return Connection(rec.wallet_pubkey, (rec.relay,), unseal(ctx, rec.lease, rec.secret_box))


def _wait_settled(request_id: str, settle: Callable[[str], str | None]) -> None:
    """Ask the node until it sees the payment the wallet made (its settle is what counts)."""
    deadline = time.monotonic() + SETTLE_WAIT
    while True:
        if settle(request_id) in ("settled", "expired", "invalid") or \
                time.monotonic() > deadline:
            return
        time.sleep(SETTLE_POLL)


def _account(ctx: Context, rec: Renewal, out: Outcome) -> bool:
    """Count a settled renewal, or stop on one that can no longer be paid; True when the
    request under way is over (counted or failed)."""
    req = ctx.read().requests.get(rec.request or "")
    if req is None or req.status in (RequestStatus.NEW, RequestStatus.PROCESSING):
        return False
    with ctx.transaction(f"renewal {rec.lease}") as ledger:
        cur = ledger.renewals.get(rec.lease)
        if cur is None or cur.request != req.id or cur.attempt_at is None:
            return True
        if req.status == RequestStatus.SETTLED:
            ledger.renewals[rec.lease] = cur.replace(
                spent_sats=cur.spent_sats + req.received_sats, renewals=cur.renewals + 1,
                attempt_at=None, updated_at=clock.now())
            out.renewed.append(req.id)
            return True
        reason = "the wallet said it paid, but the invoice was not paid in time"
        _fail(ctx, ledger, cur, RenewalStatus.FAILED, reason)
    out.failed[rec.lease] = reason
    return True


def _stop(ctx: Context, lease_id: str, status: RenewalStatus, reason: str, out: Outcome,
          quiet: bool = False) -> None:
    with ctx.transaction(f"renewal {lease_id}") as ledger:
        cur = ledger.renewals.get(lease_id)
        if cur is None or cur.status != RenewalStatus.ACTIVE:
            return
        _fail(ctx, ledger, cur, status, reason, quiet)
    if not quiet:
        out.failed[lease_id] = reason


def _fail(ctx: Context, ledger: Any, cur: Renewal, status: RenewalStatus, reason: str,
          quiet: bool = False) -> None:
    from cloudlease.ops import deliver

    now = clock.now()
    ledger.renewals[cur.lease] = cur.replace(status=status, reason=reason, secret_box=None,
                                             attempt_at=None, updated_at=now)
    if not quiet:
        deliver.enqueue(ctx, ledger, [lifecycle.Event(
            "renewal_failed", cur.lease, {"reason": reason, "status": status.value,
                                          "renewals": cur.renewals,
                                          "spent_sats": cur.spent_sats})], now)


def describe(out: Outcome) -> list[str]:
    """One line per thing the operator should know."""
    lines = [f"renewed {r}" for r in out.renewed]
    lines += [f"renewal of {lid} stopped: {why}" for lid, why in out.failed.items()]
    lines += [f"renewal waits: {w}" for w in out.waiting]
    return lines


__all__ = ["BadValue", "CloudleaseError", "Outcome", "connect", "revoke", "run", "shown"]
