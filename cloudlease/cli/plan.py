"""``cloudlease plan add|list``."""

from __future__ import annotations

from typing import Annotated

import typer

from cloudlease.cli.common import Result, command, ctx
from cloudlease.core import views

app = typer.Typer(help="Plans: what an hour costs.", no_args_is_help=True)


@command(app, "add")
def add(
    name: Annotated[str, typer.Argument(help="Unique plan name.")],
    price_per_hour: Annotated[str, typer.Option(
        "--price-per-hour", help="e.g. '1500 sat', '0.00002 BTC' or '0.40 USD'.",
        metavar="<amount>")],
    pool: Annotated[str | None, typer.Option(help="Capacity pool the plan draws on.")] = None,
    cpus: Annotated[str | None, typer.Option(
        help="CPU limit of each machine, in CPUs (e.g. 0.5 or 2).")] = None,
    memory: Annotated[str | None, typer.Option(
        help="Memory limit of each machine, e.g. 256M or 2G (powers of 1024).")] = None,
    pids: Annotated[str | None, typer.Option(
        help="Limit on processes and threads at once in each machine, e.g. 64.")] = None,
    target: Annotated[str | None, typer.Option(
        help="Cluster placement of each machine (driver lxd): a member or @group.")] = None,
    min_minutes: Annotated[int | None, typer.Option(
        help="The fewest minutes a pro-rated first payment buys (default 60).")] = None,
    l402: Annotated[bool, typer.Option(
        "--l402", help="serve's API answers rentals of this plan with L402 (402).")] = False,
) -> Result:
    """Add a plan.

    Example: cloudlease plan add gpu-hour --price-per-hour '0.40 USD' --pool gpu
    """
    from cloudlease.core.machine_inputs import parse_limits
    from cloudlease.ops import plans

    limits = parse_limits(cpus, memory, pids)
    return Result(views.plan(plans.add(ctx(), name, price_per_hour, pool, limits, target,
                                       min_minutes, l402)), "plan")


@command(app, "edit")
def edit(
    name: Annotated[str, typer.Argument(help="The plan.")],
    target: Annotated[str | None, typer.Option(
        help="Place new machines (driver lxd) on this member or @group.")] = None,
    no_target: Annotated[bool, typer.Option(
        "--no-target", help="Let the cluster (or [provision.lxd] target) place them.")] = False,
    min_minutes: Annotated[int | None, typer.Option(
        help="The fewest minutes a pro-rated first payment buys.")] = None,
    l402: Annotated[bool | None, typer.Option(
        "--l402/--no-l402", help="Whether serve's API answers rentals with L402.")] = None,
) -> Result:
    """Change a plan's placement (machines already made stay where they are), its
    fewest pro-rated minutes, or whether it asks for L402.

    Example: cloudlease plan edit small --target @fast
    """
    from cloudlease.ops import plans

    return Result(views.plan(plans.edit(ctx(), name, target=target, no_target=no_target,
                                        min_minutes=min_minutes, l402=l402)), "plan")


@command(app, "list")
def list_() -> Result:
    """List plans.

    Example: cloudlease plan list
    """
    from cloudlease.ops import plans

    return Result([views.plan(p) for p in plans.listing(ctx())], "plan_list")
