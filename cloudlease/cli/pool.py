"""``cloudlease pool add|list|show|fund|remove``, ``risk`` and ``payout``."""

from __future__ import annotations

from typing import Annotated

import typer

from cloudlease.cli.common import Result, command, ctx
from cloudlease.core import views

app = typer.Typer(help="Pools: capacity that investors fund and whose risk they share.",
                  no_args_is_help=True)


@command(app, "add")
def add(
    name: Annotated[str, typer.Argument(help="Unique pool name.")],
    slots: Annotated[int, typer.Option(help="Leases that may run at once.")],
    cost_per_hour: Annotated[str, typer.Option(
        "--cost-per-hour", help="Running cost, e.g. '800 sat' or '0.30 USD'.", metavar="<amount>")],
    consideration: Annotated[str, typer.Option(
        help="revenue_share, ownership or fixed_return.",
        metavar="[revenue_share|ownership|fixed_return]")],
    investor_pct: Annotated[str, typer.Option(
        "--investor-pct", help="Percent (0-100) of revenue owed to investors.",
        metavar="<decimal>")],
    period_months: Annotated[int | None, typer.Option(
        help="revenue_share: months after start-up ends.")] = None,
    return_multiple: Annotated[str | None, typer.Option(
        help="fixed_return: pay each investor up to this × principal.",
        metavar="<decimal>")] = None,
    startup_weight: Annotated[str, typer.Option(
        help="Weight of investments settled during start-up.", metavar="<decimal>")] = "1.5",
    min_runway_hours: Annotated[int, typer.Option(
        help="Below this runway, investors are asked to top up.")] = 24,
    target_runway_hours: Annotated[int, typer.Option(
        help="Top-ups aim to restore this runway.")] = 72,
    suspend_on_throttle: Annotated[bool, typer.Option(
        help="Suspend active leases while the pool is throttled.")] = False,
) -> Result:
    """Add a pool.

    Example: cloudlease pool add gpu --slots 4 --cost-per-hour '1000 sat' \\
        --consideration revenue_share --investor-pct 20 --period-months 6
    """
    from cloudlease.ops import pools

    pool = pools.add(ctx(), name, slots=slots, cost_per_hour=cost_per_hour,
                     consideration=consideration, investor_pct=investor_pct,
                     period_months=period_months, return_multiple=return_multiple,
                     startup_weight=startup_weight, min_runway_hours=min_runway_hours,
                     target_runway_hours=target_runway_hours,
                     suspend_on_throttle=suspend_on_throttle)
    return Result(views.pool(pool), "pool")


@command(app, "list")
def list_() -> Result:
    """List pools with funding, runway and slots.

    Example: cloudlease pool list
    """
    from cloudlease.ops import pools

    return Result(pools.listing(ctx()), "pool_list")


@command(app, "show")
def show(name: Annotated[str, typer.Argument(help="Pool name.")]) -> Result:
    """Funding level, runway, phase, throttling, slots, revenue and cost.

    Revenue and cost are shown for this month and the last.

    Example: cloudlease pool show gpu
    """
    from cloudlease.ops import pools

    return Result(pools.show(ctx(), name), "pool_show")


@command(app, "fund")
def fund(
    name: Annotated[str, typer.Argument(help="Pool name.")],
    tenant: Annotated[str | None, typer.Option(help="Who funds it (required).")] = None,
    amount: Annotated[str, typer.Option(help="e.g. '500000 sat', '0.005 BTC', '50 USD'.",
                                        metavar="<amount>")
                      ] = "",
    kind: Annotated[str, typer.Option(help="investment or donation.",
                                      metavar="[investment|donation]")] = "investment",
    idempotency_key: Annotated[str | None, typer.Option(
        help="The same key returns the same request instead of a second one.")] = None,
    method: Annotated[str | None, typer.Option(
        "--method", help="How to pay: onchain, lightning or both (default: both when a "
        "Lightning backend is configured, else onchain).", show_default=False,
        metavar="[onchain|lightning|both]")] = None,
    qr: Annotated[bool | None, typer.Option(
        "--qr/--no-qr", help="Print the QR code (default: only at a terminal).",
        show_default=False)] = None,
    no_wait: Annotated[bool, typer.Option(
        "--no-wait", help="Accepted as rent takes it: pool fund never waits (pay check or "
        "tick sees the payment).")] = False,
) -> Result:
    """Ask for an investment or donation: a payment request like a rental's.

    The same --idempotency-key returns the same request; with another pool, tenant, kind
    or amount it is exit 4.

    Example: cloudlease pool fund gpu --tenant alice --amount '600000 sat'
    """
    from cloudlease.cli.lease import lightning_only_note, with_qr
    from cloudlease.core.errors import BadValue
    from cloudlease.ops import pools

    if not amount:
        raise BadValue("--amount is required")
    contribution, req, created = pools.fund(ctx(), name, tenant, amount, kind, method=method,
                                            idempotency_key=idempotency_key)
    payment = with_qr(views.request(req), qr)
    return Result({"contribution": views.contribution(contribution), "payment": payment,
                   "created": created}, "fund", notes=lightning_only_note(payment, method))


@command(app, "start")
def start(name: Annotated[str, typer.Argument(help="Pool name.")]) -> Result:
    """Count the pool's running cost from now on, rented or not.

    By default a pool costs only while one of its leases is active; start it when its
    capacity costs you whether it is rented or not (until 'pool stop').

    Example: cloudlease pool start gpu
    """
    from cloudlease.ops import poolrun

    pool, changed = poolrun.start(ctx(), name)
    said = "started: its running cost counts from now on, rented or not" if changed else \
        "was already started"
    return Result({**views.pool(pool), "changed": changed,
                   "message": f"pool {pool.name} {said}"})


@command(app, "stop")
def stop(name: Annotated[str, typer.Argument(help="Pool name.")]) -> Result:
    """Count the pool's running cost only while one of its leases is active (the default).

    Example: cloudlease pool stop gpu
    """
    from cloudlease.ops import poolrun

    pool, changed = poolrun.stop(ctx(), name)
    said = "stopped: its running cost counts only while one of its leases is active" \
        if changed else "was not started; its cost counts only while a lease is active"
    return Result({**views.pool(pool), "changed": changed,
                   "message": f"pool {pool.name} {said}"})


@command(app, "remove")
def remove(name: Annotated[str, typer.Argument(help="Pool name.")]) -> Result:
    """Remove a pool with no history.

    Refused while it has leases, plans or funding.

    Example: cloudlease pool remove spare
    """
    from cloudlease.ops import pools

    pool = pools.remove(ctx(), name)
    return Result({"removed": pool.name, "message": f"removed pool {pool.name}"})


def risk(
    pool: Annotated[str | None, typer.Option(help="Only this pool.")] = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Positions at this time (ISO 8601 date or time, UTC).",
        metavar="<date>")] = None,
) -> Result:
    """Per tenant: principal, stake, risk share, capital at risk, earned, paid.

    Example: cloudlease risk --pool gpu --as-of 2026-03-01
    """
    from cloudlease.core.clock import parse_utc
    from cloudlease.ops import pools

    tables = pools.risk_table(ctx(), pool, parse_utc(as_of) if as_of else None)
    out = []
    for t in tables:
        rows = [{"tenant": r.tenant, "principal_sats": r.principal, "donated_sats": r.donated,
                 "stake_sats": _decimal_text(r.stake),
                 "share": f"{r.share.numerator}/{r.share.denominator}",
                 "share_pct": _pct(r.share), "at_risk_sats": r.at_risk,
                 "earned_sats": r.earned, "paid_sats": r.paid} for r in t["rows"]]
        totals = {k: sum(r[k] for r in rows) for k in
                  ("principal_sats", "donated_sats", "at_risk_sats", "earned_sats",
                   "paid_sats")}
        out.append({**{k: v for k, v in t.items() if k != "rows"}, "tenants": rows,
                    "totals": totals})
    return Result(out, "risk")


def _decimal_text(value) -> str:
    """An exact fraction as plain decimal text (28 significant digits at most)."""
    from decimal import Decimal

    d = Decimal(value.numerator) / Decimal(value.denominator)
    return format(d.normalize() if d != d.to_integral_value() else d.to_integral_value(), "f")


def _pct(share) -> str:
    from decimal import Decimal

    return format((Decimal(share.numerator) * 100 / share.denominator).quantize(
        Decimal("0.0001")), "f")


def payout(
    pool: Annotated[str, typer.Option(help="The pool.")],
    period: Annotated[str, typer.Option(help="A complete month, YYYY-MM.", metavar="<YYYY-MM>")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Compute; record nothing.")
                       ] = False,
) -> Result:
    """Compute what each investor earned for a month and record it once.

    The month must be over and not before the pool existed (exit 4 otherwise).

    Example: cloudlease payout --pool gpu --period 2026-02
    """
    from cloudlease.ops import pools

    result, recorded = pools.payout(ctx(), pool, period, dry_run=dry_run)
    data = views.payout(result)
    data.update(recorded=recorded, dry_run=dry_run)
    return Result(data, "payout")


def register(root: typer.Typer) -> None:
    command(root, "risk")(risk)
    command(root, "payout")(payout)
