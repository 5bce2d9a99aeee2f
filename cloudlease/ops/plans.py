"""Plans: what an hour costs, in sats or in the ledger's fiat currency."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloudlease.core import clock, validate
from cloudlease.core.errors import BadValue, Conflict
from cloudlease.core.money import DUST_SATS, Fiat, parse_amount
from cloudlease.model import Plan
from cloudlease.ops.context import Context

if TYPE_CHECKING:
    from cloudlease.model.machines import Limits


def add(ctx: Context, name: str, price_per_hour: str, pool: str | None = None,
        limits: Limits | None = None, target: str | None = None,
        min_minutes: int | None = None, l402: bool = False) -> Plan:
    name = validate.name(name, "plan name")
    target = check_target(target)
    min_minutes = check_min_minutes(min_minutes)
    price = parse_amount(price_per_hour, currency=ctx.settings.currency, what="price per hour")
    if isinstance(price, int) and price < DUST_SATS and not ctx.settings.lightning.enabled:
        raise BadValue(f"price per hour {price} sat is below the on-chain dust limit "
                       f"({DUST_SATS} sat): a payment that small could not be spent on-chain; "
                       "with a Lightning node ([lightning] in config.toml) a plan may cost "
                       "less, since Lightning has no dust limit")
    with ctx.transaction(f"plan add {name}") as ledger:
        if name in ledger.plans:
            raise Conflict(f"plan {name!r} already exists")
        if pool is not None:
            ledger.pool(pool)  # NotFound for an unknown pool
        plan = Plan(name=name, created_at=clock.now(),
                    price_sats=price if isinstance(price, int) else None,
                    price_fiat=price.amount if isinstance(price, Fiat) else None,
                    currency=price.currency if isinstance(price, Fiat) else None,
                    pool=pool, target=target, min_minutes=min_minutes,
                    l402=True if l402 else None)
        if limits is not None:
            plan = plan.replace(cpus=limits.cpus, memory_bytes=limits.memory_bytes,
                                pids=limits.pids)
        ledger.plans[name] = plan
    return plan


def listing(ctx: Context) -> list[Plan]:
    return ctx.read().plans.all()


def check_min_minutes(value: int | None) -> int | None:
    """``--min-minutes``: from 1 to a year of minutes."""
    if value is not None and not 1 <= value <= 8784 * 60:
        raise BadValue(f"--min-minutes must be from 1 to {8784 * 60}, got {value}")
    return value


def check_target(target: str | None) -> str | None:
    """``--target``: a cluster member's name or ``@group`` (BadValue otherwise)."""
    if target is None:
        return None
    from cloudlease.config.provision import check_target as problem_of

    problem = problem_of(target)
    if problem:
        raise BadValue(f"--target {problem}, got {target!r}")
    return target


def edit(ctx: Context, name: str, *, target: str | None = None,
         no_target: bool = False, min_minutes: int | None = None,
         l402: bool | None = None) -> Plan:
    """Change where a plan's machines are placed (``--target`` / ``--no-target``; the
    machines already made stay where they are), the fewest minutes a pro-rated first
    payment buys (``--min-minutes``), or whether its rentals answer with L402."""
    if target is not None and no_target:
        raise BadValue("--target and --no-target exclude each other")
    if target is None and not no_target and min_minutes is None and l402 is None:
        raise BadValue("nothing to change: give --target MEMBER|@GROUP or --no-target, "
                       "--min-minutes N, or --l402/--no-l402")
    target = check_target(target)
    min_minutes = check_min_minutes(min_minutes)
    with ctx.transaction(f"plan edit {name}") as ledger:
        plan = ledger.plan(name)
        if target is not None or no_target:
            plan = plan.replace(target=None if no_target else target)
        if min_minutes is not None:
            plan = plan.replace(min_minutes=min_minutes)
        if l402 is not None:
            plan = plan.replace(l402=True if l402 else None)
        ledger.plans[plan.name] = plan
    return plan
