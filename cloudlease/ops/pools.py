"""Pools: funded capacity. Add, show, fund, remove, pay out; the monitor that ``tick`` runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from cloudlease.core import clock, lifecycle, poolpolicy, risk, validate, views
from cloudlease.core.errors import BadValue, Conflict
from cloudlease.core.money import DUST_SATS, Fiat, parse_amount, split
from cloudlease.ledger.session import Ledger
from cloudlease.model import (
    Consideration,
    Contribution,
    ContributionKind,
    LeaseStatus,
    Payout,
    Pool,
)
from cloudlease.ops import lnrequests, payment_requests, poolrun
from cloudlease.ops.context import Context
from cloudlease.ops.poolstate import (  # noqa: F401 - ops.pools.state & co. stay where they were
    PoolState,
    check_can_rent,
    month_summary,
    rate_for,
    slots_in_use,
    state,
)
from cloudlease.ops.quote import Quote, lock_rate

TOPUP_EXPIRY = timedelta(hours=24)  # investors get a day, not 15 minutes, to top up


def _decimal(text: str | int, what: str) -> Decimal:
    """A number in the one accepted syntax (``validate.number``), whoever calls."""
    return validate.number(text, what)


def add(ctx: Context, name: str, *, slots: int, cost_per_hour: str, consideration: str,
        investor_pct: str, period_months: int | None = None,
        return_multiple: str | None = None, startup_weight: str = "1.5",
        min_runway_hours: int = 24, target_runway_hours: int = 72,
        suspend_on_throttle: bool = False) -> Pool:
    name = validate.name(name, "pool name")
    if slots < 1 or slots > 100_000:
        raise BadValue(f"--slots must be from 1 to 100000, got {slots}")
    cost = parse_amount(cost_per_hour, currency=ctx.settings.currency, what="cost per hour")
    try:
        kind = Consideration(consideration)
    except ValueError:
        raise BadValue(f"--consideration must be one of "
                       f"{', '.join(c.value for c in Consideration)}") from None
    pct = _decimal(investor_pct, "--investor-pct")
    if not 0 <= pct <= 100:
        raise BadValue(f"--investor-pct must be from 0 to 100, got {investor_pct}")
    weight = _decimal(startup_weight, "--startup-weight")
    if weight < 1 or weight > 10:
        raise BadValue(f"--startup-weight must be from 1 to 10, got {startup_weight}")
    multiple = None
    if kind == Consideration.FIXED_RETURN:
        if return_multiple is None:
            raise BadValue("fixed_return needs --return-multiple (e.g. 1.5)")
        multiple = _decimal(return_multiple, "--return-multiple")
        if multiple < 1:
            raise BadValue(f"--return-multiple must be at least 1, got {return_multiple}")
    elif return_multiple is not None:
        raise BadValue("--return-multiple is only for fixed_return")
    if kind == Consideration.REVENUE_SHARE:
        if period_months is None:
            raise BadValue("revenue_share needs --period-months")
        if period_months < 1 or period_months > 600:
            raise BadValue(f"--period-months must be from 1 to 600, got {period_months}")
    elif period_months is not None:
        raise BadValue("--period-months is only for revenue_share")
    if min_runway_hours < 0 or target_runway_hours < min_runway_hours:
        raise BadValue("runway hours must satisfy 0 ≤ --min-runway-hours ≤ "
                       "--target-runway-hours")
    with ctx.transaction(f"pool add {name}") as ledger:
        if name in ledger.pools:
            raise Conflict(f"pool {name!r} already exists")
        now = clock.now()
        pool = Pool(name=name, created_at=now, slots=slots, consideration=kind,
                    investor_pct=pct, startup_weight=weight,
                    min_runway_hours=min_runway_hours, target_runway_hours=target_runway_hours,
                    cost_sats=cost if isinstance(cost, int) else None,
                    cost_fiat=cost.amount if isinstance(cost, Fiat) else None,
                    currency=cost.currency if isinstance(cost, Fiat) else None,
                    period_months=period_months, return_multiple=multiple,
                    suspend_on_throttle=suspend_on_throttle, accrued_until=now)
        ledger.pools[name] = pool
    return pool


def remove(ctx: Context, name: str) -> Pool:
    with ctx.transaction(f"pool remove {name}") as ledger:
        pool = ledger.pool(name)
        if ledger.leases.count_in_pool(name):
            raise Conflict(f"pool {name!r} has leases; a pool with history cannot be removed")
        if ledger.contributions.count_in_pool(name):
            raise Conflict(f"pool {name!r} holds contributions; it cannot be removed")
        plans = [p.name for p in ledger.plans.in_pool(name)]
        if plans:
            raise Conflict(f"pool {name!r} is used by plan(s) {', '.join(plans)}")
        del ledger.pools[name]
    return pool


# -- contributions -----------------------------------------------------------------------
def fund(ctx: Context, pool_name: str, tenant: str | None, amount: str, kind: str,
         method: str | None = None, idempotency_key: str | None = None
         ) -> tuple[Contribution, Any, bool]:
    """A contribution and the payment request that pays it; (contribution, request,
    created). The same idempotency key returns what it made; with another pool, tenant,
    kind or amount it is exit 4."""
    key = validate.idempotency_key(idempotency_key) if idempotency_key is not None else None
    if not tenant:
        raise BadValue("investors must be named: give --tenant (anonymous funding is not "
                       "tracked)")
    try:
        ckind = ContributionKind(kind)
    except ValueError:
        raise BadValue("--kind must be investment or donation") from None
    value = parse_amount(amount, currency=ctx.settings.currency, what="amount")
    methods = lnrequests.methods_for(ctx.settings, method)
    prepared = q = None
    if "lightning" in methods:  # the invoice first, outside the lock (ops/lnrequests.py)
        ledger = ctx.read()
        ledger.pool(pool_name)
        ledger.tenant(tenant)
        if key is None or _by_key(ledger, key, pool_name, tenant, ckind, value) is None:
            q = _fund_quote(ctx, value)
            prepared = lnrequests.prepare(
                ctx, methods, q.amount_sats, f"cloudlease: {ckind.value} in pool {pool_name} "
                f"by {tenant}", timedelta(minutes=ctx.settings.expiry_minutes))
    created = True
    try:
        with ctx.transaction(f"pool fund {pool_name}") as ledger:
            pool = ledger.pool(pool_name)
            ledger.tenant(tenant)
            found = _by_key(ledger, key, pool.name, tenant, ckind, value) if key else None
            if found is not None:
                (contribution, req), created = found, False
            else:
                if "lightning" in methods and prepared is None:
                    raise Conflict("the request made with that key changed meanwhile; run "
                                   "the command again")
                if q is None:
                    q = _fund_quote(ctx, value)
                contribution, req = new_contribution(ctx, ledger, pool, tenant, ckind, q,
                                                     methods=methods, prepared=prepared,
                                                     idempotency_key=key)
    except BaseException:
        lnrequests.discard(ctx, prepared)
        raise
    if not created:
        lnrequests.discard(ctx, prepared)
    return contribution, req, created


def _by_key(ledger: Ledger, key: str, pool: str, tenant: str, kind: ContributionKind,
            value: Any) -> tuple[Contribution, Any] | None:
    """What ``pool fund`` made with this idempotency key; exit 4 if it was made for
    another pool, tenant, kind or amount (or by another command)."""
    found = payment_requests.by_key(ledger, key, "pool fund")
    if found is None:
        return None
    c = ledger.contributions.get(found.contribution or "")
    asked = (value.amount, value.currency) if isinstance(value, Fiat) else (value, None)
    made = (found.fiat_amount, found.currency) if found.fiat_amount is not None \
        else (found.amount_sats, None)
    if c is None or (c.pool, c.tenant, c.kind, made) != (pool, tenant, kind, asked):
        raise Conflict(f"idempotency key {key!r} was used for {found.id} with another pool, "
                       "tenant, kind or amount; use another key")
    return c, found


def _fund_quote(ctx: Context, value: Any) -> Quote:
    if isinstance(value, Fiat):
        rate, source = lock_rate(ctx.settings)
        from cloudlease.core.money import fiat_to_sats

        q = Quote(fiat_to_sats(value.amount, rate), value.amount, value.currency, rate,
                  source)
    else:
        q = Quote(value)
    return q  # dust: checked against how it is paid (payment_requests.payable_by)


def new_contribution(ctx: Context, ledger: Ledger, pool: Pool, tenant: str,
                     kind: ContributionKind, q: Quote, *, topup: bool = False,
                     methods: tuple[str, ...] = ("onchain",), prepared: Any = None,
                     idempotency_key: str | None = None):
    cid = ledger.next_id("contribution")
    word = "top-up" if topup else kind.value
    req = payment_requests.create(
        ctx, ledger, purpose="topup" if topup else
        ("invest" if kind == ContributionKind.INVESTMENT else "donate"),
        quote=q, lease=None, hours=None, label=f"cloudlease {cid}",
        message=f"{word} in pool {pool.name} by {tenant}",
        expiry=TOPUP_EXPIRY if topup else None, methods=methods,
        invoice=prepared.invoice if prepared else None,
        created_at=prepared.asked_at if prepared else None,
        idempotency_key=idempotency_key)
    req = req.replace(tenant=tenant, pool=pool.name, contribution=cid,
                      invest_sats=q.amount_sats if kind == ContributionKind.INVESTMENT else 0)
    ledger.requests[req.id] = req
    contribution = Contribution(id=cid, pool=pool.name, tenant=tenant, kind=kind,
                                amount_sats=q.amount_sats, created_at=req.created_at,
                                request=req.id, topup=topup)
    ledger.contributions[cid] = contribution
    return contribution, req


def on_request_change(ledger: Ledger, before, after, now: datetime) -> None:
    """Book what a request's new status means for pools: contributions and revenue."""
    c = ledger.contributions.get(after.contribution) if after.contribution else None
    if c is not None:
        ledger.contributions[c.id] = poolpolicy.contribution_after(
            c, ledger.pools.get(c.pool), before, after, now)
    revenue = poolpolicy.revenue_sats(before, after)
    if revenue and after.lease:
        lease = ledger.leases.get(after.lease)
        pool = ledger.pools.get(lease.pool) if lease and lease.pool else None
        if pool is not None:
            key = risk.month_key(now)
            months = dict(pool.revenue_months)
            months[key] = months.get(key, 0) + revenue
            ledger.pools[pool.name] = pool.replace(revenue_months=months)


def can_reopen(ledger: Ledger, lease, now: datetime) -> bool:
    """Whether the lease's pool has room to bring it back (see poolpolicy.has_room)."""
    pool = ledger.pools.get(lease.pool) if lease.pool else None
    return poolpolicy.has_room(pool, slots_in_use(ledger, pool.name, now)[0] if pool else 0)


# -- the monitor -------------------------------------------------------------------------
def monitor(ctx: Context, ledger: Ledger, now: datetime,
            decisions: list[poolpolicy.PoolDecision] | None = None) -> list[lifecycle.Event]:
    """Accrue cost, end start-up, throttle/unthrottle, ask investors to top up (the
    decisions are ``poolpolicy.decide``'s; ``decisions`` collects them for the report)."""
    events: list[lifecycle.Event] = []
    for pool in ledger.pools.all():
        name = pool.name
        rate = rate_for(ctx, pool)
        pool = risk.update_startup(poolrun.accrue(ledger, pool, now, rate), now)
        funding = risk.funding_level(pool, ledger.contributions.of_pool(name),
                                     ledger.payouts.of_pool(name))
        decision = poolpolicy.decide(pool, funding, risk.cost_per_hour_sats(pool, rate), now)
        if decisions is not None:
            decisions.append(decision)
        pool = decision.pool
        ledger.pools[name] = pool
        info = {"pool": name, "funding_sats": funding,
                "runway_hours": str(decision.runway_hours)
                if decision.runway_hours is not None else None}
        events += [lifecycle.Event(e, f"pool:{name}", info) for e in decision.events]
        if decision.suspend:
            _suspend(ledger, name, now)
        if decision.resume:
            _resume(ledger, name, now)
        if decision.topup_sats:
            _ask_for_topups(ctx, ledger, pool, decision.topup_sats, now)
    return events


def _suspend(ledger: Ledger, pool: str, now: datetime) -> None:
    for lease in ledger.leases.in_pool(pool, LeaseStatus.ACTIVE):
        ledger.leases[lease.id] = lease.replace(status=LeaseStatus.SUSPENDED,
                                                suspended_at=now, note="pool throttled")


def _resume(ledger: Ledger, pool: str, now: datetime) -> None:
    """Give suspended leases their time back: the end moves by the time they were off."""
    for lease in ledger.leases.in_pool(pool, LeaseStatus.SUSPENDED):
        if lease.note == "pool throttled":
            off = now - (lease.suspended_at or now)
            ends = lease.ends_at + off if lease.ends_at else None
            starts = lease.starts_at + off if lease.starts_at else None
            ledger.leases[lease.id] = lease.replace(status=LeaseStatus.ACTIVE, note=None,
                                                    suspended_at=None, ends_at=ends,
                                                    starts_at=starts)


def _ask_for_topups(ctx: Context, ledger: Ledger, pool: Pool, need: int, now: datetime
                    ) -> None:
    """One open top-up request per investor for their share of what restores the target."""
    contributions = ledger.contributions.of_pool(pool.name)
    share = risk.shares(risk.stakes(pool, contributions, now))
    if need <= 0 or not share:
        return
    pending = [c for c in contributions if c.topup and c.status == "pending" and c.request]
    reqs = ledger.requests.many(c.request for c in pending if c.request)
    open_for = {c.tenant for c in pending
                if c.request in reqs and reqs[c.request].status in payment_requests.OPEN_REQUEST}
    parts = split(need, share)
    for tenant, sats in sorted(parts.items()):
        if tenant in open_for or sats <= 0:
            continue
        new_contribution(ctx, ledger, pool, tenant, ContributionKind.INVESTMENT,
                         Quote(max(sats, DUST_SATS)), topup=True)


# -- reading ----------------------------------------------------------------------------
def show(ctx: Context, name: str) -> dict[str, Any]:
    """A pool as ``pool show --json`` gives it: its terms, funding, runway, slots, this
    month's and last month's revenue and cost, and its contributions."""
    ledger = ctx.read()
    return _shown(ctx, ledger, ledger.pool(name))


def listing(ctx: Context) -> list[dict[str, Any]]:
    """Every pool, by name, as ``show`` gives it."""
    ledger = ctx.read()
    return [_shown(ctx, ledger, p) for p in ledger.pools.all()]


def _shown(ctx: Context, ledger: Ledger, pool: Pool) -> dict[str, Any]:
    now = clock.now()
    st = state(ctx, ledger, pool, now, rate_for(ctx, pool))
    data = views.pool(st.pool)
    data.update(funding_sats=st.funding_sats, cost_per_hour_sats=st.cost_per_hour_sats,
                runway_hours=st.runway_hours, slots_in_use=st.slots_in_use,
                next_slot_free_at=st.next_free, running=st.running,
                **month_summary(st.pool, now))
    data["contributions"] = [views.contribution(x)
                             for x in ledger.contributions.of_pool(pool.name)]
    return data


# -- payouts -----------------------------------------------------------------------------
def payout(ctx: Context, pool_name: str, period: str, *, dry_run: bool = False
           ) -> tuple[Payout, bool]:
    """Compute a month's payout; record it once. Returns (payout, newly recorded)."""
    period = risk.parse_period(period)
    now = clock.now()
    if dry_run:
        ledger = ctx.read()
        pool = ledger.pool(pool_name)
        existing = ledger.payouts.get(f"{pool_name}/{period}")
        if existing:
            return existing, False
        pool = poolrun.accrue(ledger, pool, now, rate_for(ctx, pool))
        return risk.compute_payout(pool, period, ledger.contributions.of_pool(pool.name),
                                   ledger.payouts.of_pool(pool.name), now), False
    with ctx.transaction(f"payout {pool_name} {period}") as ledger:
        pool = ledger.pool(pool_name)
        existing = ledger.payouts.get(f"{pool_name}/{period}")
        if existing:
            return existing, False
        pool = poolrun.accrue(ledger, pool, now, rate_for(ctx, pool))
        ledger.pools[pool.name] = pool
        result = risk.compute_payout(pool, period, ledger.contributions.of_pool(pool.name),
                                     ledger.payouts.of_pool(pool.name), now)
        ledger.payouts[result.id] = result
    return result, True


def risk_table(ctx: Context, pool_name: str | None, as_of: datetime | None
               ) -> list[dict[str, Any]]:
    ledger = ctx.read()
    when = as_of or clock.now()
    pools = [ledger.pool(pool_name)] if pool_name else ledger.pools.all()
    out = []
    for pool in pools:
        name = pool.name
        pool = poolrun.accrue(ledger, pool, max(when, pool.accrued_until or when),
                              rate_for(ctx, pool))
        rows = risk.table(pool, ledger.contributions.of_pool(name),
                          ledger.payouts.of_pool(name), when)
        out.append({"pool": name, "as_of": when,
                    "consideration": pool.consideration.value,
                    "terms": risk.describe_consideration(pool), "rows": rows})
    return out
