"""Tenants: who rents and who funds capacity."""

from __future__ import annotations

from cloudlease import clock, validate
from cloudlease.context import Context
from cloudlease.errors import Conflict
from cloudlease.model import Lease, Tenant


def add(ctx: Context, name: str, email: str | None = None,
        refund_address: str | None = None) -> Tenant:
    name = validate.name(name, "tenant name")
    email = validate.email(email) if email else None
    if refund_address:
        from cloudlease.bitcoin.address import validate_address

        refund_address = validate_address(refund_address.strip(), ctx.settings.network)
    with ctx.transaction(f"tenant add {name}") as ledger:
        existing = ledger.tenants.get(name)
        if existing is not None and existing.removed_at is None:
            raise Conflict(f"tenant {name!r} already exists")
        tenant = Tenant(name=name, created_at=clock.now(), email=email,
                        refund_address=refund_address)
        ledger.tenants[name] = tenant
    return tenant


def listing(ctx: Context) -> list[Tenant]:
    ledger = ctx.read()
    return [t for t in ledger.tenants.values() if t.removed_at is None]


def show(ctx: Context, name: str) -> tuple[Tenant, list[Lease]]:
    ledger = ctx.read()
    tenant = ledger.tenant(name)
    return tenant, [lease for lease in ledger.leases.values() if lease.tenant == name]


def remove(ctx: Context, name: str) -> Tenant:
    """Remove a tenant with no open leases. History keeps the name: a tenant that any
    lease refers to is marked removed rather than deleted (adding it again revives it)."""
    with ctx.transaction(f"tenant remove {name}") as ledger:
        tenant = ledger.tenant(name)
        mine = [lease for lease in ledger.leases.values() if lease.tenant == name]
        open_ = [lease.id for lease in mine if lease.is_open]
        if open_:
            raise Conflict(f"tenant {name!r} has open leases ({', '.join(open_[:5])}); "
                           "cancel or let them end first")
        if mine or ledger.archives:
            ledger.tenants[name] = tenant.replace(removed_at=clock.now())
        else:
            del ledger.tenants[name]
    return tenant
