"""``cloudlease rent`` and ``cloudlease lease list|show|cancel``."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from cloudlease import views
from cloudlease.cli.common import STATE, Result, command, ctx

app = typer.Typer(help="Leases: list, show, cancel, extend.", no_args_is_help=True)


MethodOpt = Annotated[str | None, typer.Option(
    "--method", help="How to pay: onchain, lightning or both (default: both when a Lightning "
    "backend is configured, else onchain).", show_default=False)]


def with_qr(payment: dict[str, Any] | None) -> dict[str, Any] | None:
    """Add a terminal QR code to a payment's data, for people only (never in --json), and
    name the Lightning node of a request that has an invoice."""
    if payment is not None and payment.get("lightning"):
        from cloudlease.ops.lnrequests import decorate

        decorate(ctx().settings, payment)
    if payment is None or STATE.json_mode:
        return payment
    from cloudlease.bitcoin.qr import terminal_qr

    return {**payment, "qr": terminal_qr(payment["uri"])}


def rent(
    hours: Annotated[str, typer.Option("--hours", help="Whole hours to rent (1 to 8784).")],
    plan: Annotated[str | None, typer.Option(help="Plan (default: the only plan).")] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant (default: anonymous).")] = None,
    idempotency_key: Annotated[str | None, typer.Option(
        help="The same key returns the same lease instead of a second one.")] = None,
    rate: Annotated[str | None, typer.Option(
        help="Fiat per BTC to lock for a fiat-priced plan (overrides config).")] = None,
    wait: Annotated[bool | None, typer.Option(
        "--wait/--no-wait", help="Watch for the payment (default: on a terminal).",
        show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the price; write nothing.")
                       ] = False,
    invest: Annotated[str | None, typer.Option(
        help="Also invest this much in the plan's pool, in the same payment (needs --tenant)."
    )] = None,
    method: MethodOpt = None,
) -> Result:
    """Rent capacity: price it and make a payment request (address, BIP21 URI, QR)."""
    from cloudlease.ops import leases
    from cloudlease.ops.quote import parse_rate

    c = ctx()
    rental = leases.rent(c, hours, plan=plan, tenant=tenant, idempotency_key=idempotency_key,
                         dry_run=dry_run, rate=parse_rate(rate) if rate is not None else None,
                         invest=invest, method=method)
    data = views.lease(rental.lease, [rental.request] if rental.request else [])
    data.update(created=rental.created, dry_run=rental.dry_run,
                simulated=c.settings.backend == "devchain")
    if rental.dry_run:
        data.pop("payment")
        data.pop("payments")
    if wait is None:
        wait = sys.stdin.isatty() and sys.stdout.isatty() and not STATE.json_mode
    if wait and rental.request is not None and not rental.dry_run:
        from cloudlease.cli.waiting import wait_for_payment

        return wait_for_payment(c, data, with_qr(data["payment"]))
    if "payment" in data:
        data["payment"] = with_qr(data["payment"])
    return Result(data, "rental", notes=list(rental.warnings))


@command(app, "list")
def list_(
    status: Annotated[str | None, typer.Option(help="Only leases in this status.")] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's leases.")] = None,
    open_only: Annotated[bool, typer.Option(
        "--open", help="Only open leases (awaiting payment, active, suspended).")] = False,
) -> Result:
    """List leases, oldest first."""
    from cloudlease.ops import leases

    return Result(leases.listing(ctx(), status=status, tenant=tenant, open_only=open_only),
                  "lease_list")


@command(app, "show")
def show(lease_id: Annotated[str, typer.Argument(metavar="ID", help="Lease id, e.g. L-7.")]
         ) -> Result:
    """Show a lease, its payments and its machine (how the tenant logs in)."""
    from cloudlease.ops import leases

    c = ctx()
    lease, reqs = leases.show(c, lease_id)
    return Result({**views.lease(lease, reqs), "machine": views.machine(
        c.read().machines.get(lease.id))}, "lease")


@command(app, "cancel")
def cancel(lease_id: Annotated[str, typer.Argument(metavar="ID", help="Lease id.")]
           ) -> Result:
    """Cancel a lease that is still awaiting payment."""
    from cloudlease.ops import leases

    return Result(views.lease(leases.cancel(ctx(), lease_id)), "lease")


@command(app, "extend")
def extend(
    lease_id: Annotated[str, typer.Argument(metavar="ID", help="Lease id.")],
    hours: Annotated[str, typer.Option("--hours", help="Whole hours to add.")],
    rate: Annotated[str | None, typer.Option(help="Fiat per BTC to lock.")] = None,
    method: MethodOpt = None,
) -> Result:
    """Make a payment request for more hours; the end time moves when it settles."""
    from cloudlease.ops.payments import extend as do_extend
    from cloudlease.ops.quote import parse_rate

    lease, req = do_extend(ctx(), lease_id, hours, rate=parse_rate(rate) if rate else None,
                           method=method)
    data = views.lease(lease, [req])
    data["payment"] = with_qr(data["payment"])
    return Result(data, "rental")


def register_top_level(root: typer.Typer) -> None:
    command(root, "rent")(rent)
