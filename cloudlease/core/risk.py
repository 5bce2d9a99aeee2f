"""Risk and reward (pure): funding, runway, start-up, stakes, shares, payouts.

The model (docs/design.md, "Risk and reward"):

- Funding level = settled contributions + revenue − accrued running cost − payouts.
  Runway = funding level / cost per hour. Running cost accrues only while the pool runs
  (``core/running.py``).
- Start-up lasts from the pool's creation to the end of the first calendar month (UTC)
  in which it ran and whose revenue covered its cost. Investments settled in start-up
  weigh ``startup_weight``.
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
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction

from cloudlease.core import running
from cloudlease.core.errors import BadValue, Conflict
from cloudlease.core.money import plain, split
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


# -- running cost: core/running.py (a pool costs only while it runs) ----------------------
accrue = running.accrue
cost_per_hour_sats = running.cost_per_hour_sats


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
    """End start-up after the first complete month in which the pool ran (accrued cost)
    and whose revenue covered that cost. A month it stood idle proves nothing."""
    if pool.startup_ended_at is not None:
        return pool
    month = datetime(pool.created_at.year, pool.created_at.month, 1, tzinfo=UTC)
    while next_month(month) <= now:
        key = month_key(month)
        cost = pool.cost_months.get(key, 0)
        if cost > 0 and pool.revenue_months.get(key, 0) >= cost and \
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

