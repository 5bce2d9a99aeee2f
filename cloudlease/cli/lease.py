"""``cloudlease rent`` and ``cloudlease lease list|show|cancel``."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from cloudlease.cli.common import STATE, Result, YesOpt, command, confirm, ctx
from cloudlease.core import views

app = typer.Typer(help="Leases: list, show, cancel, extend.", no_args_is_help=True)


MethodOpt = Annotated[str | None, typer.Option(
    "--method", help="How to pay: onchain, lightning or both (default: both when a Lightning "
    "backend is configured, else onchain).", show_default=False,
    metavar="[onchain|lightning|both]")]


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
    hours: Annotated[str, typer.Option("--hours", help="Whole hours to rent (1 to 8784).",
                                       metavar="<int>")],
    plan: Annotated[str | None, typer.Option(help="Plan (default: the only plan).")] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant (default: anonymous).")] = None,
    idempotency_key: Annotated[str | None, typer.Option(
        help="The same key returns the same lease instead of a second one.")] = None,
    rate: Annotated[str | None, typer.Option(
        help="Fiat per BTC to lock for a fiat-priced plan (overrides config).",
        metavar="<decimal>")] = None,
    wait: Annotated[bool | None, typer.Option(
        "--wait/--no-wait", help="Watch for the payment (default: on a terminal).",
        show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the price; write nothing.")
                       ] = False,
    invest: Annotated[str | None, typer.Option(
        help="Also invest this much in the plan's pool, in the same payment (needs --tenant)."
    , metavar="<amount>")] = None,
    method: MethodOpt = None,
) -> Result:
    """Rent capacity: price it and make a payment request (address, URI, QR).

    At a terminal it then waits with a live status until the payment settles; Ctrl-C
    stops waiting (exit 130) and the request stays open. The same --idempotency-key
    returns the same lease; with other hours, plan, tenant or --invest it is exit 4.

    Example: cloudlease rent --hours 2 --tenant alice --idempotency-key order-1042
    """
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
    status: Annotated[str | None, typer.Option(
        help="Only leases in this status.",
        metavar="[awaiting_payment|active|suspended|ended|expired|cancelled]")] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's leases.")] = None,
    open_only: Annotated[bool, typer.Option(
        "--open", help="Only open leases (awaiting payment, active, suspended).")] = False,
) -> Result:
    """List leases, oldest first.

    Example: cloudlease lease list --open --tenant alice
    """
    from cloudlease.ops import leases

    return Result(leases.listing(ctx(), status=status, tenant=tenant, open_only=open_only),
                  "lease_list")


@command(app, "show")
def show(lease_id: Annotated[str, typer.Argument(metavar="ID", help="Lease id, e.g. L-7.")]
         ) -> Result:
    """Show a lease, its payments and its machine (how the tenant logs in).

    Example: cloudlease lease show L-7
    """
    from cloudlease.ops import leases

    c = ctx()
    lease, reqs = leases.show(c, lease_id)
    ledger = c.read()
    return Result({**views.lease(lease, reqs), "credit_sats": leases.payer_credit(ledger, lease),
                   "machine": views.machine(ledger.machines.get(lease.id))}, "lease")


@command(app, "cancel")
def cancel(lease_id: Annotated[str, typer.Argument(metavar="ID", help="Lease id.")],
           yes: YesOpt = False) -> Result:
    """Cancel a lease that is still awaiting payment.

    Its payment request stops accepting payment. Asks first at a terminal; needs --yes
    elsewhere.

    Example: cloudlease lease cancel L-7 --yes
    """
    from cloudlease.ops import leases

    c = ctx()
    lease = leases.check_cancellable(c.read(), lease_id)  # refuse before asking
    confirm(f"Cancel lease {lease.id}? Its payment request stops accepting payment.", yes,
            f"cancelling lease {lease.id}")
    return Result(views.lease(leases.cancel(c, lease_id)), "lease")


@command(app, "extend")
def extend(
    lease_id: Annotated[str, typer.Argument(metavar="ID", help="Lease id.")],
    hours: Annotated[str, typer.Option("--hours", help="Whole hours to add.",
                                       metavar="<int>")],
    rate: Annotated[str | None, typer.Option(help="Fiat per BTC to lock.", metavar="<decimal>")
                    ] = None,
    idempotency_key: Annotated[str | None, typer.Option(
        help="The same key returns the same request instead of a second one.")] = None,
    method: MethodOpt = None,
) -> Result:
    """Ask for payment for more hours; the end moves when it settles.

    Never two unpaid requests on one lease: while an extension is unpaid, asking again
    for the same hours shows it again, and other hours are refused (exit 4) until it is
    paid or expires. The same --idempotency-key returns the same request.

    Example: cloudlease lease extend L-7 --hours 2
    """
    from cloudlease.ops.payments import extend as do_extend
    from cloudlease.ops.quote import parse_rate

    lease, req, created = do_extend(ctx(), lease_id, hours,
                                    rate=parse_rate(rate) if rate else None, method=method,
                                    idempotency_key=idempotency_key)
    data = views.lease(lease, [req])
    data["payment"] = with_qr(data["payment"])
    data["created"] = created
    notes = [] if created else [f"{req.id} is the open extension of {lease.id}; showing it "
                                "again (no second request made)"]
    return Result(data, "rental", notes=notes)


def register_top_level(root: typer.Typer) -> None:
    command(root, "rent")(rent)
