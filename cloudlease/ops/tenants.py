"""Tenants: who rents and who funds capacity."""

from __future__ import annotations

from cloudlease import clock, validate
from cloudlease.context import Context
from cloudlease.errors import Conflict
from cloudlease.model import Lease, Tenant


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


def remove(ctx: Context, name: str) -> Tenant:
    """Remove a tenant with no open leases. History keeps the name: a tenant that any
    lease refers to is marked removed rather than deleted (adding it again revives it)."""
    with ctx.transaction(f"tenant remove {name}") as ledger:
        tenant = ledger.tenant(name)
        open_ = [lease.id for lease in ledger.leases.where(
            "tenant = ? AND status IN ('awaiting_payment', 'active', 'suspended')", (name,),
            limit=5)]
        if open_:
            raise Conflict(f"tenant {name!r} has open leases ({', '.join(open_)}); "
                           "cancel or let them end first")
        history = (ledger.leases.count("tenant = ?", (name,))
                   or ledger.requests.count("tenant = ?", (name,))
                   or ledger.contributions.count("tenant = ?", (name,))
                   or ledger.invoices.count("tenant = ?", (name,)))
        if history:
            ledger.tenants[name] = tenant.replace(removed_at=clock.now())
        else:
            del ledger.tenants[name]
    return tenant
