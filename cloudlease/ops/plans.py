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
        limits: Limits | None = None) -> Plan:
    name = validate.name(name, "plan name")
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
                    pool=pool)
        if limits is not None:
            plan = plan.replace(cpus=limits.cpus, memory_bytes=limits.memory_bytes,
                                pids=limits.pids)
        ledger.plans[name] = plan
    return plan


def listing(ctx: Context) -> list[Plan]:
    return ctx.read().plans.all()
