"""The tenant's side of the product, for ``cloudlease serve``: what is on offer, renting
with a capability token instead of an account, extending, a fresh quote for an expired
one, and the caps that keep strangers from exhausting the wallet's addresses.

Every write goes through the same operations as the CLI (``leases.rent``,
``payments.extend``); this module adds only what a stranger on the internet needs on
top: the token (``tokens.py``), an anonymous tenant record holding the SSH key given at
checkout (written in the rental's own transaction, so a refused rental stores nothing),
and the plans the operator chose to offer (``[serve] plans``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from cloudlease.core import clock, validate, views
from cloudlease.core.errors import BackendError, BadValue, Conflict, NotFound
from cloudlease.ledger.session import Ledger
from cloudlease.model import Lease, LeaseStatus, PaymentRequest, Plan, Tenant
from cloudlease.ops import leases, payments, sshkeys, tokens
from cloudlease.ops.context import Context

RATE_TTL = 60.0  # seconds a live rate is reused for the storefront's estimates


@dataclass(frozen=True)
class WebRental:
    """A lease made (or found again) through ``serve``.

    Attributes:
        token: the capability token (shown once; only its hash is kept).
        lease: the lease.
        request: its payment request.
        created: False when an idempotency key found an earlier rental.
    """

    token: str
    lease: Lease
    request: PaymentRequest | None
    created: bool


# -- what is on offer --------------------------------------------------------------------
def offered(ctx: Context, ledger: Ledger, name: str) -> Plan:
    """The plan ``name`` if it is offered; the same NotFound for unknown and not offered."""
    wanted = ctx.settings.serve.plans
    plan = ledger.plans.get(name) if isinstance(name, str) else None
    if plan is None or (wanted and name not in wanted):
        raise NotFound(f"no plan named {str(name)[:64]!r} is offered here",
                       code="plan_not_found")
    return plan


def offers(ctx: Context) -> list[dict[str, Any]]:
    """The offered plans as ``plan list --json`` shows them, with an estimate in the other
    unit (sats for a fiat price, fiat for a price in sats, at the rate of the moment) and
    their availability: free slots of the pool, or when the next one frees up."""
    from cloudlease.ops.pools import slots_in_use

    ledger = ctx.read()
    wanted = ctx.settings.serve.plans
    found = [ledger.plans.get(n) for n in wanted] if wanted else ledger.plans.all()
    rate = display_rate(ctx)
    now = clock.now()
    out = []
    for plan in (p for p in found if p is not None):
        item = views.plan(plan)
        item["estimate"] = _estimate(plan, rate, ctx.settings.currency)
        avail: dict[str, Any] = {"slots": None, "free_slots": None, "next_free_at": None,
                                 "throttled": False}
        pool = ledger.pools.get(plan.pool) if plan.pool else None
        if pool is not None:
            used, frees = slots_in_use(ledger, pool.name, now)
            free = max(0, pool.slots - used)
            avail = {"slots": pool.slots, "free_slots": free,
                     "next_free_at": frees if free == 0 else None,
                     "throttled": pool.throttled}
        item["availability"] = avail
        item["available"] = not avail["throttled"] and avail["free_slots"] != 0
        out.append(item)
    return out


_rate_cache: dict[str, tuple[float, Decimal | None]] = {}
_rate_lock = threading.Lock()


def display_rate(ctx: Context) -> Decimal | None:
    """The fiat rate for estimates shown to tenants (None when there is none): the fixed
    rate, or a live one reused for a minute (a page view never waits on a rate source
    more than once a minute; a failing source shows no estimate)."""
    from cloudlease.ops.quote import lock_rate

    s = ctx.settings
    if s.rate_source == "fixed":
        return s.fixed_rate
    with _rate_lock:
        hit = _rate_cache.get(s.currency)
        if hit is not None and time.monotonic() - hit[0] < RATE_TTL:
            return hit[1]
        try:
            rate: Decimal | None = lock_rate(s)[0]
        except (BackendError, BadValue):
            rate = None
        _rate_cache[s.currency] = (time.monotonic(), rate)
        return rate


def _estimate(plan: Plan, rate: Decimal | None, currency: str) -> dict[str, Any]:
    from cloudlease.core.money import fiat_to_sats

    if rate is None:
        return {"rate": None, "currency": currency, "sats_per_hour": plan.price_sats,
                "fiat_per_hour": plan.price_fiat}
    if plan.price_sats is not None:
        fiat = (Decimal(plan.price_sats) * rate / Decimal(100_000_000)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_EVEN)
        return {"rate": rate, "currency": currency, "sats_per_hour": plan.price_sats,
                "fiat_per_hour": fiat}
    assert plan.price_fiat is not None
    return {"rate": rate, "currency": currency, "fiat_per_hour": plan.price_fiat,
            "sats_per_hour": fiat_to_sats(plan.price_fiat, rate)}


def token_key(ctx: Context) -> bytes:
    """The key tokens are derived with (from the home's serve key)."""
    from cloudlease.ops.secrets import derive

    return derive(ctx.home.path, "token")


def lightning_enabled(ctx: Context) -> bool:
    return ctx.settings.lightning.enabled


def provisioning(ctx: Context) -> str:
    """The driver that turns paid leases into machines here ("none": the operator hands
    out access some other way)."""
    p = ctx.settings.provision
    return p.driver if p is not None else "none"


# -- renting -----------------------------------------------------------------------------
def rent(ctx: Context, *, plan: Any, hours: Any, method: Any = None, ssh_key: Any = None,
         email: Any = None, key: str | None = None) -> WebRental:
    """Rent for a stranger: checked inputs, a token, an anonymous tenant when an SSH key
    or e-mail is given, then ``leases.rent`` (one transaction for tenant and lease)."""
    h = validate.hours(_text(hours, "hours"))
    method = _text(method, "method") if method not in (None, "") else None
    keys = _ssh_keys(ssh_key)
    mail = _email(email)
    ledger = ctx.read()
    offered(ctx, ledger, _text(plan, "plan"))
    token = tokens.derived(token_key(ctx), "rent", key) if key else tokens.new()
    new_tenant = None
    if keys or mail:
        name = tokens.tenant_name(token)
        existing = ledger.tenants.get(name)
        if existing is not None and (existing.ssh_keys, existing.email) != (keys, mail):
            raise Conflict("that Idempotency-Key was used with another SSH key or e-mail",
                           code="idempotency_conflict")
        new_tenant = Tenant(name=name, created_at=clock.now(), email=mail, ssh_keys=keys)
    rental = leases.rent(ctx, h, plan=plan, idempotency_key=tokens.lease_key(token),
                         method=method, new_tenant=new_tenant)
    return WebRental(token, rental.lease, rental.request, rental.created)


def requote(ctx: Context, token: str) -> WebRental:
    """A fresh quote for a lease whose request expired unpaid: a new lease for the same
    plan, hours and tenant at today's price, under a token derived from the old one (so
    pressing the button twice makes one)."""
    lease = find(ctx, token)
    if lease.status != LeaseStatus.EXPIRED:
        raise Conflict(f"this lease is {lease.status.value.replace('_', ' ')}; only an "
                       "expired quote can be renewed", code="not_expired")
    ledger = ctx.read()
    first = ledger.requests.get(lease.requests[0]) if lease.requests else None
    method = None
    if first is not None and lightning_enabled(ctx):
        method = {("onchain",): "onchain", ("lightning",): "lightning"}.get(
            tuple(first.methods), "both")
    elif first is not None and "onchain" in first.methods:
        method = "onchain"
    offered(ctx, ledger, lease.plan)
    new = tokens.derived(token_key(ctx), "requote", token)
    rental = leases.rent(ctx, lease.hours, plan=lease.plan, tenant=lease.tenant,
                         idempotency_key=tokens.lease_key(new), method=method)
    return WebRental(new, rental.lease, rental.request, rental.created)


def extend(ctx: Context, token: str, *, hours: Any, method: Any = None,
           key: str | None = None) -> tuple[Lease, PaymentRequest, bool]:
    """More hours on the token's lease: ``lease extend``'s rules (one unpaid request at a
    time; the same hours again show it again)."""
    h = validate.hours(_text(hours, "hours"))
    method = _text(method, "method") if method not in (None, "") else None
    lease = find(ctx, token)
    return payments.extend(ctx, lease.id, h, method=method,
                           idempotency_key=tokens.extend_key(token, key))


def find(ctx: Context, token: str, ledger: Ledger | None = None) -> Lease:
    """The lease a token stands for; the same NotFound for a malformed or unknown one."""
    if not isinstance(token, str) or not tokens.well_formed(token):
        raise tokens.not_found()
    ledger = ledger or ctx.read()
    found = ledger.leases.by_idempotency_key(tokens.lease_key(token))
    if found is None:
        raise tokens.not_found()
    return found


def whole_hours(value: Any) -> int:
    """Hours as the API takes them (a whole number from 1 to a year)."""
    return validate.hours(_text(value, "hours"))


def ssh_key_lines(value: Any) -> tuple[str, ...]:
    """An SSH public key as the API takes it (checked; none for an empty value)."""
    return _ssh_keys(value)


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadValue(f"{what} must be a string or a whole number", code="bad_value")
    return str(value).strip()


def _ssh_keys(value: Any) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if not isinstance(value, str):
        raise BadValue("ssh_key must be a string: one OpenSSH public key line")
    if not value.strip():
        return ()
    try:
        return sshkeys.collect([value.strip()])
    except BadValue as exc:
        raise BadValue(exc.message.replace("--ssh-key: ", "ssh_key: "),
                       code="bad_ssh_key") from None


def _email(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadValue("email must be a string")
    return validate.email(value.strip()) if value.strip() else None


# -- caps on open unpaid requests ----------------------------------------------------------
def open_unpaid(ctx: Context) -> int:
    """Payment requests open and not paid in full, from anyone (each holds an address)."""
    return ctx.read().requests.count("status = 'new'")


def still_unpaid(ctx: Context, ids: list[str]) -> list[str]:
    """Which of ``ids`` are still open and not paid in full."""
    if not ids:
        return []
    found = ctx.read().requests.many(ids)
    return [i for i in ids if i in found and found[i].status == "new"]
