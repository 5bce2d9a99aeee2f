"""Leases: rent, list, show, cancel. A lease is born ``awaiting_payment`` with its price
fixed in a payment request; only a settled payment makes it active (see ops/check.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from cloudlease.core import clock, validate
from cloudlease.core.errors import BadValue, Conflict, NotFound
from cloudlease.ledger.session import Ledger
from cloudlease.model import Lease, LeaseStatus, PaymentRequest, Plan, RequestStatus, Tenant
from cloudlease.ops import lnrequests, payment_requests
from cloudlease.ops.context import Context
from cloudlease.ops.quote import Quote, quote


@dataclass
class Rental:
    """What ``rent`` made (or found again by idempotency key).

    Attributes:
        lease: the lease.
        request: its payment request (None on a dry run).
        quote: the price.
        created: False when an idempotency key returned an existing lease.
        dry_run: True when nothing was written.
        warnings: things the operator should know (e.g. gap limit).
    """

    lease: Lease
    request: PaymentRequest | None
    quote: Quote
    created: bool = True
    dry_run: bool = False
    warnings: tuple[str, ...] = ()


def pick_plan(ledger: Ledger, name: str | None) -> Plan:
    if name is not None:
        return ledger.plan(name)
    plans = ledger.plans.where(limit=2)
    if len(plans) == 1:
        return plans[0]
    if not plans:
        raise NotFound("no plans yet: add one with 'cloudlease plan add NAME "
                       "--price-per-hour AMOUNT'")
    names = ", ".join(p.name for p in ledger.plans.all())
    raise BadValue(f"several plans ({names}); choose one with --plan")


def _label(lease_id: str, tenant: str | None, plan: Plan, hours: int) -> tuple[str, str]:
    who = f" for {tenant}" if tenant else ""
    return f"cloudlease {lease_id}", f"{hours} h of {plan.name}{who}"


def rent(ctx: Context, hours: str | int, *, plan: str | None = None, tenant: str | None = None,
         idempotency_key: str | None = None, dry_run: bool = False,
         rate: Decimal | None = None, invest: str | None = None,
         method: str | None = None, new_tenant: Tenant | None = None) -> Rental:
    """``new_tenant``: a tenant record written in the same transaction as the lease when
    no tenant of that name exists yet (``cloudlease serve``'s anonymous tenant holding
    the SSH key given at checkout): a rental refused for any reason stores neither."""
    if new_tenant is not None:
        tenant = new_tenant.name
    h = validate.hours(hours)
    key = validate.idempotency_key(idempotency_key) if idempotency_key is not None else None
    invest_sats = _invest_sats(ctx, invest, tenant)
    methods = lnrequests.methods_for(ctx.settings, method)
    _check_capacity(ctx, plan, key)
    if dry_run:
        ledger = ctx.read()
        p = pick_plan(ledger, plan)
        if tenant is not None and new_tenant is None:
            ledger.tenant(tenant)
        _check_pool(ctx, ledger, p, invest_sats)
        q = quote(ctx.settings, p, h, rate, extra_sats=invest_sats)
        payment_requests.payable_by(ctx, q.amount_sats, methods)  # on-chain dust: exit 2
        lease = Lease(id="(dry run)", status=LeaseStatus.AWAITING_PAYMENT, hours=h,
                      plan=p.name, created_at=clock.now(), tenant=tenant,
                      price_sats=q.amount_sats, price_fiat=q.fiat_amount, currency=q.currency)
        return Rental(lease, None, q, created=False, dry_run=True)
    prepared, q = _invoice_first(ctx, methods, h, plan, tenant, key, rate, invest_sats,
                                 new_tenant)
    try:
        rental = _rent(ctx, h, plan, tenant, key, rate, invest_sats, methods, prepared, q,
                       new_tenant)
    except BaseException:
        lnrequests.discard(ctx, prepared)
        raise
    if not rental.created:
        lnrequests.discard(ctx, prepared)  # the key's lease was made meanwhile
    return rental


def _invoice_first(ctx: Context, methods: tuple[str, ...], h: int, plan: str | None,
                   tenant: str | None, key: str | None, rate: Decimal | None,
                   invest_sats: int, new_tenant: Tenant | None = None
                   ) -> tuple[lnrequests.Prepared | None, Quote | None]:
    """For a request paid over Lightning: check what can be checked and ask the node for
    the invoice before the ledger lock is taken (the node may be slow; a failure leaves
    nothing behind). The price is fixed here, so the invoice and the request agree."""
    if "lightning" not in methods:
        return None, None
    ledger = ctx.read()
    p = pick_plan(ledger, plan)
    if tenant is not None and new_tenant is None:
        ledger.tenant(tenant)
    if key is not None and _by_key(ctx, ledger, key) is not None:
        return None, None  # the transaction returns the existing lease
    _check_pool(ctx, ledger, p, invest_sats)
    q = quote(ctx.settings, p, h, rate, extra_sats=invest_sats)
    _, message = _label("", tenant, p, h)
    if invest_sats:
        message += f" + {invest_sats:,} sat invested in {p.pool}"
    window = timedelta(minutes=ctx.settings.expiry_minutes)
    return lnrequests.prepare(ctx, methods, q.amount_sats, f"cloudlease: {message}",
                              window), q


def _rent(ctx: Context, h: int, plan: str | None, tenant: str | None, key: str | None,
          rate: Decimal | None, invest_sats: int, methods: tuple[str, ...],
          prepared: lnrequests.Prepared | None, q: Quote | None,
          new_tenant: Tenant | None = None) -> Rental:
    with ctx.transaction(f"rent {h}h") as ledger:
        p = pick_plan(ledger, plan)
        if new_tenant is not None and new_tenant.name not in ledger.tenants:
            ledger.tenants[new_tenant.name] = new_tenant
        elif tenant is not None:
            ledger.tenant(tenant)
        if key is not None:
            found = _by_key(ctx, ledger, key)
            if found is not None:
                req = ledger.requests.get(found.requests[0]) if found.requests else None
                invested = req.invest_sats if req is not None else 0
                if (found.hours, found.plan, found.tenant, invested) != \
                        (h, p.name, tenant, invest_sats):
                    raise Conflict(f"idempotency key {key!r} was used for {found.id} with other "
                                   "hours, plan, tenant or --invest")
                q = Quote(found.price_sats or 0, found.price_fiat, found.currency,
                          req.rate if req else None, req.rate_source if req else None)
                return Rental(found, req, q, created=False)
        if "lightning" in methods and prepared is None:  # pragma: no cover - a deleted lease
            raise Conflict(f"idempotency key {key!r} changed while renting; try again")
        _check_pool(ctx, ledger, p, invest_sats)
        if q is None:
            q = quote(ctx.settings, p, h, rate, extra_sats=invest_sats)
        lease_id = ledger.next_id("lease")
        label, message = _label(lease_id, tenant, p, h)
        if invest_sats:
            message += f" + {invest_sats:,} sat invested in {p.pool}"
        req = payment_requests.create(
            ctx, ledger, purpose="rent", quote=q, lease=lease_id, hours=h,
            label=label, message=message, methods=methods,
            invoice=prepared.invoice if prepared else None,
            created_at=prepared.asked_at if prepared else None)
        if invest_sats:
            req = _attach_investment(ctx, ledger, req, p, tenant, invest_sats)
        lease = Lease(id=lease_id, status=LeaseStatus.AWAITING_PAYMENT, hours=h, plan=p.name,
                      created_at=req.created_at, tenant=tenant,
                      price_sats=q.amount_sats - invest_sats, price_fiat=q.fiat_amount,
                      currency=q.currency, requests=(req.id,), idempotency_key=key,
                      pool=p.pool)
        ledger.leases[lease_id] = lease
        warning = payment_requests.gap_warning(ctx, ledger)
    watch = payment_requests.watch_now(ctx, {req.address: req.created_at})
    warnings = [w for w in (warning, watch) if w]
    return Rental(lease, req, q, warnings=tuple(warnings))


def _invest_sats(ctx: Context, invest: str | None, tenant: str | None) -> int:
    if invest is None:
        return 0
    from cloudlease.core.money import DUST_SATS, parse_amount

    if tenant is None:
        raise BadValue("--invest needs --tenant: investors must be named")
    value = parse_amount(invest, what="--invest")
    if not isinstance(value, int):
        raise BadValue("--invest takes sats or BTC (e.g. '50000 sat')")
    if value < DUST_SATS:
        raise BadValue(f"--invest {value} sat is below the dust limit ({DUST_SATS} sat)")
    return value


def _check_capacity(ctx: Context, plan: str | None, key: str | None) -> None:
    """``[provision] check_capacity``: ask the driver whether the plan's machine fits
    anywhere, before any lock is taken (it is network I/O). A repeated idempotency key
    whose lease exists is not asked again."""
    provision = ctx.settings.provision
    if provision is None or not provision.check_capacity:
        return
    ledger = ctx.read()
    if key is not None and _by_key(ctx, ledger, key) is not None:
        return
    from cloudlease.ops.provisioning import check_capacity

    check_capacity(ctx, pick_plan(ledger, plan))


def _check_pool(ctx: Context, ledger: Ledger, plan: Plan, invest_sats: int) -> None:
    if plan.pool is None:
        if invest_sats:
            raise BadValue(f"plan {plan.name!r} draws on no pool; there is nothing to invest in")
        return
    from cloudlease.ops.pools import check_can_rent

    check_can_rent(ctx, ledger, plan.pool, clock.now())


def _attach_investment(ctx: Context, ledger: Ledger, req: PaymentRequest, plan: Plan,
                       tenant: str | None, invest_sats: int) -> PaymentRequest:
    from cloudlease.model import Contribution, ContributionKind

    assert plan.pool is not None and tenant is not None
    cid = ledger.next_id("contribution")
    ledger.contributions[cid] = Contribution(
        id=cid, pool=plan.pool, tenant=tenant, kind=ContributionKind.INVESTMENT,
        amount_sats=invest_sats, created_at=req.created_at, request=req.id)
    req = req.replace(invest_sats=invest_sats, contribution=cid, tenant=tenant, pool=plan.pool)
    ledger.requests[req.id] = req
    return req


def _by_key(ctx: Context, ledger: Ledger, key: str) -> Lease | None:
    found = ledger.leases.by_idempotency_key(key)
    if found is None:
        payment_requests.key_not_used_by_request(ledger, key, "rent")
    return found


def listing(ctx: Context, *, status: str | None = None, tenant: str | None = None,
            open_only: bool = False) -> list[dict]:
    """Leases as ``--json`` shows them, oldest first, filtered in the database."""
    from cloudlease.core import views

    ledger = ctx.read()
    if status is not None:
        try:
            status = LeaseStatus(status).value
        except ValueError:
            raise BadValue(f"unknown status {status!r} (one of "
                           f"{', '.join(s.value for s in LeaseStatus)})") from None
    if tenant is not None and tenant not in ledger.tenants:
        raise NotFound(f"no tenant named {tenant!r}")
    rows = views.lease_rows(ledger.leases.codec.names,
                            ledger.leases.listing(status=status, open_only=open_only,
                                                  tenant=tenant))
    paid = ledger.requests.paid_by_lease([r["id"] for r in rows])
    for r in rows:
        r["paid_sats"] = paid.get(r["id"], 0)  # every settled payment, extensions too
    return rows


def get(ctx: Context, ledger: Ledger, lease_id: str) -> Lease:
    return ledger.lease(lease_id)


def show(ctx: Context, lease_id: str) -> tuple[Lease, list[PaymentRequest]]:
    ledger = ctx.read()
    lease = ledger.lease(lease_id)
    found = ledger.requests.many(lease.requests)
    return lease, [found[r] for r in lease.requests if r in found]


def details(ctx: Context, lease_id: str) -> dict:
    """A lease as ``lease show --json`` gives it (``core.views.lease``): with its payment
    requests (each saying whether it is ``payable`` now), the credit its payer holds
    (``credit_sats``), and its ``machine`` (None when none was made)."""
    from cloudlease.core import clock, views

    lease, requests = show(ctx, lease_id)
    ledger = ctx.read()
    data = {**views.lease(lease, requests), "credit_sats": payer_credit(ledger, lease),
            "machine": views.machine(ledger.machines.get(lease.id))}
    now = clock.now()
    for p in [data["payment"], *data["payments"]]:  # whether each can still be paid now
        if p is not None:
            p["payable"] = views.payable(p, now)
    return data


def payer_credit(ledger: Ledger, lease: Lease) -> int:
    """The credit the lease's payer holds (the tenant's; an anonymous lease's own): the
    sub-minute rests of pro-rated payments, used first by the next one."""
    from cloudlease.ops.prorating import credit_of

    return credit_of(ledger, lease)


def check_cancellable(ledger: Ledger, lease_id: str) -> Lease:
    """The lease, if it can be cancelled: awaiting payment, with no payment in flight."""
    lease = ledger.lease(lease_id)
    if lease.status != LeaseStatus.AWAITING_PAYMENT:
        raise Conflict(f"lease {lease.id} is {lease.status.value}; only a lease awaiting "
                       "payment can be cancelled")
    for req in ledger.requests.many(lease.requests).values():
        if req.status in payment_requests.OPEN_REQUEST and req.paid_sats > 0:
            raise Conflict(f"lease {lease.id} has a payment in flight on {req.id}; "
                           "wait for it to settle or expire")
    return lease


def cancel(ctx: Context, lease_id: str) -> Lease:
    """Cancel a lease still awaiting payment; its open request stops accepting payment."""
    with ctx.transaction(f"lease cancel {lease_id}") as ledger:
        lease = check_cancellable(ledger, lease_id)
        now = clock.now()
        closed = []
        for rid in lease.requests:
            req = ledger.requests.get(rid)
            if req is not None and req.status in payment_requests.OPEN_REQUEST:
                ledger.requests[rid] = req.replace(status=RequestStatus.EXPIRED,
                                                   closed_reason="lease cancelled")
                closed.append(req)
        lease = lease.replace(status=LeaseStatus.CANCELLED, closed_at=now)
        ledger.leases[lease.id] = lease
    _cancel_invoices(ctx, closed)
    return lease


def _cancel_invoices(ctx: Context, closed: list[PaymentRequest]) -> None:
    """Their invoices can no longer be paid where the node can cancel them (after the
    change is committed, outside the lock; best effort: a payment that still arrives is
    flagged for refund by the next pass)."""
    invoices = [r for r in closed if r.ln_invoice and not r.ln_paid_msat]
    if not invoices or not ctx.settings.lightning.enabled:
        return
    from cloudlease.core.errors import CloudleaseError

    try:
        node = lnrequests.node(ctx)
    except CloudleaseError:
        return
    try:
        lnrequests.cancel_unneeded(node, invoices)
    finally:
        node.close()
