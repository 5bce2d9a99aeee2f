"""``cloudlease tenant add|list|show|remove``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cloudlease.cli.common import Result, YesOpt, command, confirm, ctx
from cloudlease.core import views

app = typer.Typer(help="Tenants: who rents and who funds capacity.", no_args_is_help=True)

SshKeyOpt = Annotated[list[str] | None, typer.Option(
    "--ssh-key", help="An SSH public key line 'TYPE BASE64 [COMMENT]' for the tenant's "
    "machines (repeat for several; no options such as command=).", show_default=False)]
SshKeyFileOpt = Annotated[list[Path] | None, typer.Option(
    "--ssh-key-file", help="A file holding one public key, e.g. ~/.ssh/id_ed25519.pub "
    "('-' reads stdin; repeat for several).", show_default=False)]

# billing details (issue 12): on invoices; "" clears one in `tenant edit`
BillingNameOpt = Annotated[str | None, typer.Option(
    "--billing-name", help="Name invoices are made out to (default: the tenant name).")]
AddressOpt = Annotated[list[str] | None, typer.Option(
    "--address", help="Billing address; repeat for each line.")]
CountryOpt = Annotated[str | None, typer.Option(
    "--country", help="Billing country, ISO 3166 alpha-2 (DE, US...): decides the VAT.")]
VatIdOpt = Annotated[str | None, typer.Option(
    "--vat-id", help="The customer's VAT id (a business): reverse charge across borders.")]


@command(app, "add")
def add(
    name: Annotated[str, typer.Argument(help="Unique tenant name.")],
    email: Annotated[str | None, typer.Option(help="Contact e-mail.")] = None,
    refund_address: Annotated[str | None, typer.Option(
        help="Bitcoin address for refunds, on the ledger's network.")] = None,
    ssh_key: SshKeyOpt = None,
    ssh_key_file: SshKeyFileOpt = None,
    billing_name: BillingNameOpt = None,
    address: AddressOpt = None,
    country: CountryOpt = None,
    vat_id: VatIdOpt = None,
) -> Result:
    """Add a tenant, with the billing details their invoices carry and their SSH keys.

    Example: cloudlease tenant add acme --billing-name "ACME GmbH" --address "1 Main St"
    --address "10115 Berlin" --country DE --vat-id DE123456789
    """
    from cloudlease.ops import sshkeys, tenants

    keys = sshkeys.collect(ssh_key or (), ssh_key_file or ())
    return Result(views.tenant(tenants.add(
        ctx(), name, email, refund_address, keys, billing_name=billing_name,
        address=address, country=country, vat_id=vat_id)), "tenant")


@command(app, "edit")
def edit(
    name: Annotated[str, typer.Argument(help="Tenant name.")],
    email: Annotated[str | None, typer.Option(help="Contact e-mail (\"\" clears it).")
                     ] = None,
    refund_address: Annotated[str | None, typer.Option(
        help="Bitcoin address for refunds (\"\" clears it).")] = None,
    billing_name: BillingNameOpt = None,
    address: AddressOpt = None,
    country: CountryOpt = None,
    vat_id: VatIdOpt = None,
    ssh_key: SshKeyOpt = None,
    ssh_key_file: SshKeyFileOpt = None,
    no_ssh_keys: Annotated[bool, typer.Option(
        "--no-ssh-keys", help="Remove the tenant's SSH keys (running machines stop "
        "accepting them on the next tick).")] = False,
) -> Result:
    """Change a tenant's contact and billing details or SSH keys.

    An option not given stays as it is, "" clears it; issued invoices keep the details
    they were issued with. --ssh-key and --ssh-key-file replace the keys, --no-ssh-keys
    removes them; running machines follow on the next tick.

    Example: cloudlease tenant edit acme --vat-id DE123456789
    """
    from cloudlease.core.errors import BadValue
    from cloudlease.ops import sshkeys, tenants

    keys = sshkeys.collect(ssh_key or (), ssh_key_file or ())
    if no_ssh_keys and keys:
        raise BadValue("--no-ssh-keys cannot go with --ssh-key or --ssh-key-file")
    details = {"email": email, "refund_address": refund_address,
               "billing_name": billing_name, "address": address, "country": country,
               "vat_id": vat_id}
    if not keys and not no_ssh_keys and all(v is None for v in details.values()):
        raise BadValue("nothing to change: give --ssh-key KEY, --ssh-key-file FILE, "
                       "--no-ssh-keys, or a detail such as --email, --address, --vat-id")
    tenant, changed = tenants.edit(ctx(), name, ssh_keys=keys if keys or no_ssh_keys
                                   else None, **details)
    data = views.tenant(tenant)
    data["changed"] = changed
    return Result(data, "tenant", notes=[] if changed else ["nothing changed"])


@command(app, "list")
def list_() -> Result:
    """List tenants.

    Example: cloudlease tenant list
    """
    from cloudlease.ops import tenants

    return Result([views.tenant(t) for t in tenants.listing(ctx())], "tenant_list")


@command(app, "show")
def show(name: Annotated[str, typer.Argument(help="Tenant name.")]) -> Result:
    """Show a tenant and their leases.

    Example: cloudlease tenant show alice
    """
    from cloudlease.ops import tenants

    tenant, leases = tenants.show(ctx(), name)
    return Result({"tenant": views.tenant(tenant), "leases": [views.lease(x) for x in leases]},
                  "tenant_show")


@command(app, "remove")
def remove(name: Annotated[str, typer.Argument(help="Tenant name.")],
           yes: YesOpt = False) -> Result:
    """Remove a tenant no money is tied to.

    Refused (exit 4, saying why) while the tenant has a stake in a pool, open leases,
    open payment requests, or settled payments that no issued invoice bills. A tenant
    with history keeps the name, which no new tenant can take. Asks first at a terminal;
    needs --yes elsewhere.

    Example: cloudlease tenant remove bob --yes
    """
    from cloudlease.ops import tenants

    c = ctx()
    tenants.check_removable(c.read(), name)  # refuse before asking
    confirm(f"Remove tenant {name!r}?", yes, f"removing tenant {name!r}")
    tenant = tenants.remove(c, name)
    return Result({"removed": tenant.name, "message": f"removed tenant {tenant.name}"})
