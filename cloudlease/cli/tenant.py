"""``cloudlease tenant add|list|show|remove``."""

from __future__ import annotations

from typing import Annotated

import typer

from cloudlease import views
from cloudlease.cli.common import Result, command, ctx

app = typer.Typer(help="Tenants: who rents and who funds capacity.", no_args_is_help=True)


@command(app, "add")
def add(
    name: Annotated[str, typer.Argument(help="Unique tenant name.")],
    email: Annotated[str | None, typer.Option(help="Contact e-mail.")] = None,
    refund_address: Annotated[str | None, typer.Option(
        help="Bitcoin address for refunds, on the ledger's network.")] = None,
) -> Result:
    """Add a tenant."""
    from cloudlease.ops import tenants

    return Result(views.tenant(tenants.add(ctx(), name, email, refund_address)), "tenant")


@command(app, "list")
def list_() -> Result:
    """List tenants."""
    from cloudlease.ops import tenants

    return Result([views.tenant(t) for t in tenants.listing(ctx())], "tenant_list")


@command(app, "show")
def show(name: Annotated[str, typer.Argument(help="Tenant name.")]) -> Result:
    """Show a tenant and their leases."""
    from cloudlease.ops import tenants

    tenant, leases = tenants.show(ctx(), name)
    return Result({"tenant": views.tenant(tenant), "leases": [views.lease(x) for x in leases]},
                  "tenant_show")


@command(app, "remove")
def remove(name: Annotated[str, typer.Argument(help="Tenant name.")]) -> Result:
    """Remove a tenant (refused while they have open leases)."""
    from cloudlease.ops import tenants

    tenant = tenants.remove(ctx(), name)
    return Result({"removed": tenant.name, "message": f"removed tenant {tenant.name}"})
