"""``cloudlease rent`` and ``cloudlease lease list|show|cancel``."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from cloudlease.cli.common import STATE, Result, YesOpt, command, confirm, ctx, note
from cloudlease.core import views

app = typer.Typer(help="Leases: list, show, cancel, extend.", no_args_is_help=True)


MethodOpt = Annotated[str | None, typer.Option(
    "--method", help="How to pay: onchain, lightning or both (default: both when a Lightning "
    "backend is configured, else onchain).", show_default=False,
    metavar="[onchain|lightning|both]")]


def with_qr(payment: dict[str, Any] | None, qr: bool | None = None
            ) -> dict[str, Any] | None:
    """A payment's data as shown: whether it can still be paid now (``payable``), the
    Lightning node of a request that has an invoice, and — for people only, never in
    --json — a terminal QR code, only for a request that can still be paid, and off a
    terminal only when asked (``--qr``)."""
    if payment is None:
        return payment
    if payment.get("lightning"):
        from cloudlease.ops.lnrequests import decorate

        decorate(ctx().settings, payment)
    mark_payable(payment)
    if STATE.json_mode or not payment["payable"] or \
            not (qr if qr is not None else sys.stdout.isatty()):
        return payment
    from cloudlease.ops import qr as qrcodes

    code, of = qrcodes.terminal(payment["uri"]), "uri"
    ln = payment.get("lightning")
    if ln and payment.get("address") and payment["uri"] != ln["uri"] and sys.stdout.isatty():
        import shutil

        # the unified QR code (address and invoice) when it fits on the screen with the
        # summary and the live status below it; else the smaller one of the invoice alone
        if code.count("\n") + SUMMARY_ROWS > shutil.get_terminal_size().lines:
            code, of = qrcodes.terminal(ln["uri"]), "lightning"
    return {**payment, "qr": code, "qr_of": of}


SUMMARY_ROWS = 9  # the panel under the QR code and rent --wait's status line


def mark_payable(*payments: dict[str, Any] | None) -> None:
    """Set ``payable`` on each request's data: new and inside its window right now."""
    from cloudlease.core import clock

    now = clock.now()
    for p in payments:
        if p is not None:
            p["payable"] = views.payable(p, now)


QrOpt = Annotated[bool | None, typer.Option(
    "--qr/--no-qr", help="Print the QR code (default: only at a terminal).",
    show_default=False)]


def lightning_only_note(payment: dict[str, Any] | None, method: str | None) -> list[str]:
    """Say so when a request offered both ways became Lightning only: its amount is under
    the on-chain dust limit."""
    from cloudlease.core.money import DUST_SATS

    if not payment or (method or "").strip().lower() == "lightning" or \
            list(payment.get("methods") or []) != ["lightning"] or \
            payment["amount_sats"] >= DUST_SATS:
        return []
    return [f"{payment['id']} asks for {payment['amount_sats']:,} sat, under the on-chain "
            f"dust limit ({DUST_SATS} sat): it can be paid over Lightning only"]


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
    qr: QrOpt = None,
) -> Result:
    """Rent capacity: price it and make a payment request (address, URI, QR).

    At a terminal it then waits with a live status until the payment settles; Ctrl-C
    stops waiting (exit 130) and the request stays open. The same --idempotency-key
    returns the same lease; with other hours, plan, tenant or --invest it is exit 4.

    Example: cloudlease rent --hours 2 --tenant alice --idempotency-key order-1042
    """
    from cloudlease.ops import leases
    from cloudlease.ops.quote import parse_rate

    # the quick start: at a terminal, rent makes the default home if there is none yet
    c = STATE.context(create_default=sys.stdin.isatty() and sys.stdout.isatty()
                      and not STATE.json_mode)
    rental = leases.rent(c, hours, plan=plan, tenant=tenant, idempotency_key=idempotency_key,
                         dry_run=dry_run, rate=parse_rate(rate) if rate is not None else None,
                         invest=invest, method=method)
    data = views.lease(rental.lease, [rental.request] if rental.request else [])
    data.update(created=rental.created, dry_run=rental.dry_run,
                simulated=c.settings.backend.kind == "devchain")
    if rental.dry_run:
        data.pop("payment")
        data.pop("payments")
    if wait is None:
        wait = sys.stdin.isatty() and sys.stdout.isatty() and not STATE.json_mode
    notes = [*rental.warnings, *lightning_only_note(data.get("payment"), method)]
    if wait and rental.request is not None and not rental.dry_run:
        from cloudlease.cli.waiting import wait_for_payment

        for line in notes:
            note(line)
        return wait_for_payment(c, data, with_qr(data["payment"], qr))
    if "payment" in data:
        data["payment"] = with_qr(data["payment"], qr)
    return Result(data, "rental", notes=notes)


@command(app, "list")
def list_(
    status: Annotated[str | None, typer.Option(
        help="Only leases in this status: awaiting_payment, active, suspended, ended, "
        "expired or cancelled.", metavar="<status>")] = None,
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

    return Result(leases.details(ctx(), lease_id), "lease")


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
    qr: QrOpt = None,
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
    data["payment"] = with_qr(data["payment"], qr)
    data["created"] = created
    notes = [] if created else [f"{req.id} is the open extension of {lease.id}; showing it "
                                "again (no second request made)"]
    notes += lightning_only_note(data["payment"], method)
    return Result(data, "rental", notes=notes)


def register_top_level(root: typer.Typer) -> None:
    command(root, "rent")(rent)
