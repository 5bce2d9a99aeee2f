"""Risk and reward (pure): funding, runway, start-up, stakes, shares, payouts.

The model (docs/design.md, "Risk and reward"):

- Funding level = settled contributions + revenue − accrued running cost − payouts.
  Runway = funding level / cost per hour.
- Start-up lasts from the pool's creation to the end of the first calendar month (UTC)
  whose revenue covers its cost. Investments settled in start-up weigh ``startup_weight``.
- Stake = weighted investments; risk share = stake / total stake (exact fractions).
- A month's payout: the pool's consideration gives the amount for investors, which is
  split by *time-weighted* stake over that month — an investment counts from the moment
  it settled — with the largest-remainder method, so the parts add up to the sat.
  Under ``fixed_return`` no investor is paid past ``return_multiple`` × principal; what a
  capped investor cannot take goes to those still under their cap.
- Donations fund the pool and never earn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction

from cloudlease.core.errors import BadValue, Conflict
from cloudlease.core.money import fiat_to_sats, plain, split
from cloudlease.model import (
    Consideration,
    Contribution,
    ContributionKind,
    Payout,
    Pool,
)


# -- months -----------------------------------------------------------------------------
def month_key(when: datetime) -> str:
    return f"{when.year:04d}-{when.month:02d}"


def month_start(key: str) -> datetime:
    try:
        year, month = (int(x) for x in key.split("-"))
        return datetime(year, month, 1, tzinfo=UTC)
    except ValueError:
        raise BadValue(f"not a month: {key!r} (use YYYY-MM)") from None


def next_month(start: datetime) -> datetime:
    return datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=UTC)


def parse_period(text: str) -> str:
    from cloudlease.core.clock import parse_period as parse

    return parse(text)


def add_months(when: datetime, months: int) -> datetime:
    m = when.month - 1 + months
    return datetime(when.year + m // 12, m % 12 + 1, 1, tzinfo=UTC)


# -- running cost -----------------------------------------------------------------------
# Accrual is computed from totals, so how often it runs never changes the result:
# - a sat cost: cost since creation at ``t`` is ``cost_sats × seconds // 3600``; a step
#   books total(end) − total(start).
# - a fiat cost: the pool keeps ``cost_fiat_booked``, the fiat value of what it booked so
#   far (each step's sats at that step's rate). A step books the fiat spent since creation
#   and not yet booked, converted at the step's rate with ``money.fiat_to_sats`` (the one
#   conversion: rounded up, so cost is never understated), and adds that booking's exact
#   fiat value. At a constant rate the total is exactly fiat_to_sats(cost since creation)
#   whatever the tick schedule; the sub-sat part carries over instead of being lost.
#   Arithmetic is in fiat × seconds so the only division is the final one.
def _sat_cost_until(pool: Pool, t: datetime) -> int:
    seconds = int((t - pool.created_at).total_seconds())
    return pool.cost_sats * seconds // 3600  # type: ignore[operator]


def _fiat_seconds(pool: Pool, t: datetime) -> Decimal:
    """Fiat spent from creation to ``t``, times 3600 (exact)."""
    with localcontext() as c:
        c.prec = 60
        return pool.cost_fiat * int((t - pool.created_at).total_seconds())  # type: ignore[operator]


def _booked_start(pool: Pool, start: datetime) -> Decimal:
    """``cost_fiat_booked`` of a pool accrued before it was kept: the fiat spent up to
    ``start``, rounded up at 1e-12 (never books a spurious sat)."""
    if pool.cost_fiat_booked is not None:
        return pool.cost_fiat_booked
    with localcontext() as c:
        c.prec = 60
        return (_fiat_seconds(pool, start) / 3600).quantize(Decimal("1e-12"),
                                                            rounding=ROUND_CEILING)


def _fiat_step(pool: Pool, booked: Decimal, until: datetime, rate: Decimal
               ) -> tuple[int, Decimal]:
    """Sats for the fiat cost spent by ``until`` and not yet booked, and the new booked
    fiat value."""
    with localcontext() as c:
        c.prec = 60
        unbooked = _fiat_seconds(pool, until) - booked * 3600  # fiat × seconds
        if unbooked <= 0:
            return 0, booked
        sats = fiat_to_sats(unbooked, rate * 3600)
        return sats, booked + (Decimal(sats) * rate).scaleb(-8)


def accrue(pool: Pool, now: datetime, rate: Decimal | None = None) -> Pool:
    """Accrue running cost up to ``now``, booked to the calendar month it was spent in."""
    start = pool.accrued_until or pool.created_at
    if now <= start:
        return pool
    if pool.cost_sats is None and (rate is None or pool.cost_fiat is None):
        return pool  # a fiat cost with no rate right now: catch up next time
    months = dict(pool.cost_months)
    booked = _booked_start(pool, start) if pool.cost_sats is None else None
    cursor = start
    while cursor < now:
        edge = min(next_month(datetime(cursor.year, cursor.month, 1, tzinfo=UTC)), now)
        key = month_key(cursor)
        if booked is None:
            sats = _sat_cost_until(pool, edge) - _sat_cost_until(pool, cursor)
        else:
            sats, booked = _fiat_step(pool, booked, edge, rate)  # type: ignore[arg-type]
        months[key] = months.get(key, 0) + sats
        cursor = edge
    return pool.replace(cost_months=months, accrued_until=now, cost_fiat_booked=booked)


def cost_per_hour_sats(pool: Pool, rate: Decimal | None) -> int | None:
    """The running cost of an hour in sats; None when a fiat cost has no rate (unknown)."""
    if pool.cost_sats is not None:
        return pool.cost_sats
    if pool.cost_fiat is None or rate is None:
        return None
    return fiat_to_sats(pool.cost_fiat, rate)


# -- funding and start-up -----------------------------------------------------------------
def settled(contributions: Iterable[Contribution], pool: str,
            until: datetime | None = None) -> list[Contribution]:
    return [c for c in contributions
            if c.pool == pool and c.status == "settled" and c.settled_at is not None
            and (until is None or c.settled_at <= until)]


def funding_level(pool: Pool, contributions: Iterable[Contribution],
                  payouts: Iterable[Payout]) -> int:
    funded = sum(c.amount_sats for c in settled(contributions, pool.name))
    paid = sum(p.distributable_sats for p in payouts if p.pool == pool.name)
    return (funded + sum(pool.revenue_months.values()) - sum(pool.cost_months.values())
            - paid)


def runway_hours(funding: int, cost_per_hour: int | None) -> Decimal | None:
    if not cost_per_hour:
        return None
    return (Decimal(funding) / cost_per_hour).quantize(Decimal("0.01"))


def update_startup(pool: Pool, now: datetime) -> Pool:
    """End start-up after the first complete month whose revenue covered its cost."""
    if pool.startup_ended_at is not None:
        return pool
    month = datetime(pool.created_at.year, pool.created_at.month, 1, tzinfo=UTC)
    while next_month(month) <= now:
        key = month_key(month)
        if pool.revenue_months.get(key, 0) >= pool.cost_months.get(key, 0) and \
                (pool.accrued_until or pool.created_at) >= next_month(month):
            return pool.replace(startup_ended_at=next_month(month))
        month = next_month(month)
    return pool


def in_startup(pool: Pool, when: datetime) -> bool:
    return pool.startup_ended_at is None or when < pool.startup_ended_at


# -- stakes and shares -------------------------------------------------------------------
def weight(pool: Pool, c: Contribution) -> Fraction:
    if c.kind != ContributionKind.INVESTMENT:
        return Fraction(0)
    return Fraction(pool.startup_weight) if c.startup else Fraction(1)


def stakes(pool: Pool, contributions: Iterable[Contribution],
           as_of: datetime | None = None) -> dict[str, Fraction]:
    """Weighted investments per tenant, settled by ``as_of``."""
    out: dict[str, Fraction] = {}
    for c in settled(contributions, pool.name, as_of):
        if c.kind == ContributionKind.INVESTMENT:
            out[c.tenant] = out.get(c.tenant, Fraction(0)) + c.amount_sats * weight(pool, c)
    return out


def shares(stake: Mapping[str, Fraction]) -> dict[str, Fraction]:
    """Risk shares: exact fractions that sum to exactly 1 (or empty without stakes)."""
    whole = sum(stake.values(), Fraction(0))
    if whole == 0:
        return {}
    return {name: s / whole for name, s in stake.items()}


def time_weighted_stakes(pool: Pool, contributions: Iterable[Contribution], start: datetime,
                         end: datetime) -> dict[str, Fraction]:
    """Stakes over [start, end), each investment counting from its settlement."""
    span = Fraction(int((end - start).total_seconds()))
    out: dict[str, Fraction] = {}
    for c in settled(contributions, pool.name, end):
        if c.kind != ContributionKind.INVESTMENT or c.settled_at is None:
            continue
        since = max(c.settled_at, start)
        part = Fraction(int((end - since).total_seconds())) / span
        if part > 0:
            out[c.tenant] = out.get(c.tenant, Fraction(0)) + c.amount_sats * weight(pool, c) \
                * part
    return out


def principal(pool: Pool, contributions: Iterable[Contribution], tenant: str,
              kind: ContributionKind = ContributionKind.INVESTMENT,
              as_of: datetime | None = None) -> int:
    return sum(c.amount_sats for c in settled(contributions, pool.name, as_of)
               if c.tenant == tenant and c.kind == kind)


# -- payouts -----------------------------------------------------------------------------
def pct_of(amount: int, pct: Decimal) -> int:
    """``pct`` percent of ``amount`` sats, rounded down (never more than promised)."""
    return int((Decimal(amount) * pct / 100).to_integral_value(rounding=ROUND_FLOOR))


def basis(pool: Pool, period: str) -> int:
    """What the consideration's percentage applies to in ``period`` (0 outside its term)."""
    revenue = pool.revenue_months.get(period, 0)
    if pool.consideration == Consideration.OWNERSHIP:
        return max(0, revenue - pool.cost_months.get(period, 0))
    if pool.consideration == Consideration.REVENUE_SHARE:
        if pool.startup_ended_at is not None:
            end = add_months(pool.startup_ended_at, pool.period_months or 0)
            if month_start(period) >= end:
                return 0
        return revenue
    return revenue  # fixed_return: capped per investor below


def paid_so_far(payouts: Iterable[Payout], pool: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in payouts:
        if p.pool == pool:
            for name, sats in p.shares.items():
                out[name] = out.get(name, 0) + sats
    return out


def caps(pool: Pool, contributions: list[Contribution], payouts: Iterable[Payout],
         names: Iterable[str], as_of: datetime) -> dict[str, int]:
    """fixed_return: how much more each investor may still be paid."""
    paid = paid_so_far(payouts, pool.name)
    multiple = pool.return_multiple or Decimal(1)
    out = {}
    for name in names:
        cap = int((multiple * principal(pool, contributions, name, as_of=as_of))
                  .to_integral_value(rounding=ROUND_FLOOR))
        out[name] = max(0, cap - paid.get(name, 0))
    return out


def capped_split(total: int, weights: Mapping[str, Fraction], limit: Mapping[str, int]
                 ) -> dict[str, int]:
    """Split ``total`` by weight, never giving anyone more than ``limit``; what a capped
    investor cannot take is split again among the rest. Sum = min(total, sum(limits))."""
    result = {name: 0 for name in weights}
    open_ = {n: w for n, w in weights.items() if w > 0 and limit.get(n, 0) > 0}
    left = min(total, sum(limit.get(n, 0) for n in open_))
    while left > 0 and open_:
        parts = split(left, open_)
        over = {n for n, p in parts.items() if result[n] + p >= limit[n]}
        if not over:
            for n, p in parts.items():
                result[n] += p
            break
        for n in over:
            left -= limit[n] - result[n]
            result[n] = limit[n]
            del open_[n]
    return result


def compute_payout(pool: Pool, period: str, contributions: list[Contribution],
                   payouts: list[Payout], now: datetime) -> Payout:
    start = month_start(period)
    end = next_month(start)
    if end > now:
        raise Conflict(f"{period} is not over yet; payouts are for complete months")
    if end <= pool.created_at:
        raise Conflict(f"pool {pool.name} did not exist in {period} (it was created on "
                       f"{pool.created_at:%Y-%m-%d}); there is nothing to pay out")
    base = basis(pool, period)
    amount = pct_of(base, pool.investor_pct)
    weights = time_weighted_stakes(pool, contributions, start, end)
    weights = {n: w for n, w in weights.items() if w > 0}
    if not weights:
        parts: dict[str, int] = {}
        amount = 0
    elif pool.consideration == Consideration.FIXED_RETURN:
        limit = caps(pool, contributions, payouts, weights, end)
        parts = capped_split(amount, weights, limit)
        amount = sum(parts.values())
    else:
        parts = split(amount, weights)
    return Payout(id=f"{pool.name}/{period}", pool=pool.name, period=period,
                  consideration=pool.consideration, basis_sats=base,
                  distributable_sats=amount, created_at=now,
                  shares={n: s for n, s in sorted(parts.items())})


# -- the risk table ----------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One tenant's position in a pool (all amounts in sats)."""

    tenant: str
    principal: int
    donated: int
    stake: Fraction
    share: Fraction
    at_risk: int
    earned: int
    paid: int


def table(pool: Pool, contributions: list[Contribution], payouts: list[Payout],
          as_of: datetime) -> list[Row]:
    stake = stakes(pool, contributions, as_of)
    share = shares(stake)
    paid = paid_so_far([p for p in payouts if month_start(p.period) < as_of], pool.name)
    current = month_key(as_of)
    projected: dict[str, int] = {}
    if current not in {p.period for p in payouts if p.pool == pool.name}:
        start = month_start(current)
        weights = time_weighted_stakes(pool, contributions, start, max(as_of, start +
                                                                      timedelta(seconds=1)))
        amount = pct_of(basis(pool, current), pool.investor_pct)
        if weights and any(w > 0 for w in weights.values()):
            if pool.consideration == Consideration.FIXED_RETURN:
                projected = capped_split(amount, weights,
                                         caps(pool, contributions, payouts, weights, as_of))
            else:
                projected = split(amount, {n: w for n, w in weights.items()})
    names = sorted({c.tenant for c in settled(contributions, pool.name, as_of)} | set(paid))
    rows = []
    for name in names:
        p = principal(pool, contributions, name, as_of=as_of)
        rows.append(Row(
            tenant=name, principal=p,
            donated=principal(pool, contributions, name, ContributionKind.DONATION, as_of),
            stake=stake.get(name, Fraction(0)), share=share.get(name, Fraction(0)),
            at_risk=max(0, p - paid.get(name, 0)), earned=paid.get(name, 0)
            + projected.get(name, 0), paid=paid.get(name, 0)))
    return rows


def describe_consideration(pool: Pool) -> str:
    pct = f"{format(plain(pool.investor_pct), 'f')}%"
    if pool.consideration == Consideration.REVENUE_SHARE:
        until = ("until " + month_key(add_months(pool.startup_ended_at, pool.period_months or 0))
                 if pool.startup_ended_at else
                 f"until {pool.period_months} months after start-up ends")
        return f"{pct} of revenue {until}"
    if pool.consideration == Consideration.OWNERSHIP:
        return f"{pct} of each month's positive net revenue"
    multiple = format(plain(pool.return_multiple or Decimal(1)), "f")
    return f"{pct} of revenue until paid {multiple}× principal"

