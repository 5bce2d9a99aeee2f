"""Tenants: who rents and who funds capacity."""

from __future__ import annotations

from cloudlease import clock, validate
from cloudlease.context import Context
from cloudlease.errors import Conflict
from cloudlease.ledger.session import Ledger
from cloudlease.model import Lease, RequestStatus, Tenant, record_number
from cloudlease.ops.requests import OPEN_REQUEST


def add(ctx: Context, name: str, email: str | None = None,
        refund_address: str | None = None, ssh_keys: tuple[str, ...] = ()) -> Tenant:
    name = validate.name(name, "tenant name")
    email = validate.email(email) if email else None
    if refund_address:
        from cloudlease.bitcoin.address import validate_address

        refund_address = validate_address(refund_address.strip(), ctx.settings.network)
    with ctx.transaction(f"tenant add {name}") as ledger:
        existing = ledger.tenants.get(name)
        if existing is not None and existing.removed_at is None:
            raise Conflict(f"tenant {name!r} already exists")
        if existing is not None:
            raise Conflict(f"{name!r} was a tenant removed on "
                           f"{existing.removed_at:%Y-%m-%d}; its history keeps the name, so "
                           "choose another name for a new tenant")
        tenant = Tenant(name=name, created_at=clock.now(), email=email,
                        refund_address=refund_address, ssh_keys=ssh_keys)
        ledger.tenants[name] = tenant
    return tenant


def listing(ctx: Context) -> list[Tenant]:
    return ctx.read().tenants.where("removed_at IS NULL", order="name")


def show(ctx: Context, name: str) -> tuple[Tenant, list[Lease]]:
    ledger = ctx.read()
    tenant = ledger.tenant(name)
    return tenant, ledger.leases.where("tenant = ?", (name,),
                                       order="CAST(substr(id, 3) AS INTEGER)")


def removal_blockers(ledger: Ledger, name: str) -> list[str]:
    """Why a tenant cannot be removed yet, one reason per kind of money still tied to
    them (empty when nothing is): a stake (settled investments, which keep earning and
    keep their share of the risk), open leases, unpaid payment requests, and settled
    payments that no issued invoice bills. Indexed look-ups on the tenant only."""
    reasons: list[str] = []
    invested = ledger.contributions.where(
        "tenant = ? AND kind = 'investment' AND status = 'settled'", (name,))
    if invested:
        by_pool: dict[str, int] = {}
        for c in invested:
            by_pool[c.pool] = by_pool.get(c.pool, 0) + c.amount_sats
        reasons.append("a stake of " + ", ".join(f"{sats:,} sat in pool {pool}" for pool, sats
                                                  in sorted(by_pool.items()))
                       + " (investors stay on the books while their investment does)")
    leases = ledger.leases.where("tenant = ?", (name,), order="CAST(substr(id, 3) AS INTEGER)")
    open_ = [lease.id for lease in leases if lease.is_open]
    if open_:
        reasons.append(f"open leases ({_few(open_)}): cancel them or let them end")
    unpaid = ledger.requests.where("tenant = ? AND status IN ('new', 'processing')", (name,))
    lease_reqs = ledger.requests.many(r for lease in leases for r in lease.requests)
    unpaid_ids = sorted({r.id for r in unpaid} | {r.id for r in lease_reqs.values()
                                                  if r.status in OPEN_REQUEST},
                        key=record_number)
    if unpaid_ids:
        reasons.append(f"open payment requests ({_few(unpaid_ids)}): let them settle or "
                       "expire")
    settled = [r for r in lease_reqs.values() if r.status == RequestStatus.SETTLED]
    if settled:
        billed = {line.get("ref") for inv in ledger.invoices.where(
            "tenant = ? AND status = 'issued'", (name,)) for line in inv.lines}
        unbilled = sorted((r.id for r in settled if r.id not in billed), key=record_number)
        if unbilled:
            reasons.append(f"settled payments on no issued invoice ({_few(unbilled)}): "
                           f"invoice them first (cloudlease invoice create --tenant {name} "
                           "--period YYYY-MM, then invoice issue)")
    return reasons


def _few(ids: list[str], limit: int = 5) -> str:
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit
                                      else "")


def check_removable(ledger: Ledger, name: str) -> Tenant:
    """The tenant, if nothing ties money to them; otherwise Conflict (exit 4) saying why."""
    tenant = ledger.tenant(name)
    reasons = removal_blockers(ledger, name)
    if reasons:
        raise Conflict(f"tenant {name!r} cannot be removed: they have " + "; ".join(reasons))
    return tenant


def remove(ctx: Context, name: str) -> Tenant:
    """Remove a tenant that no money is tied to (see ``removal_blockers``). History keeps
    the name: a tenant that any record refers to is marked removed rather than deleted,
    and the name is never given to a new tenant."""
    with ctx.transaction(f"tenant remove {name}") as ledger:
        tenant = check_removable(ledger, name)
        history = (ledger.leases.count("tenant = ?", (name,))
                   or ledger.requests.count("tenant = ?", (name,))
                   or ledger.contributions.count("tenant = ?", (name,))
                   or ledger.invoices.count("tenant = ?", (name,)))
        if history:
            ledger.tenants[name] = tenant.replace(removed_at=clock.now())
        else:
            del ledger.tenants[name]
    return tenant
