"""Pool policy (pure): throttle, restore, low funds, unknown runway; contributions and
revenue on a request's change; running-cost accrual that does not drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlease.core import poolpolicy, risk
from cloudlease.core.money import fiat_to_sats
from cloudlease.model import (
    Consideration,
    Contribution,
    ContributionKind,
    PaymentRequest,
    Pool,
    RequestStatus,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def pool(**kw) -> Pool:
    base = dict(name="gpu", created_at=T0, slots=2, consideration=Consideration.OWNERSHIP,
                investor_pct=Decimal(10), min_runway_hours=24, target_runway_hours=48,
                cost_sats=1_000, accrued_until=T0, run_seconds=3_600)  # it has run an hour
    base.update(kw)
    return Pool(**base)


def test_unknown_cost_changes_nothing_and_says_so():
    for p in (pool(throttled=True, throttled_at=T0, suspend_on_throttle=True),
              pool(low_funds=True), pool()):
        d = poolpolicy.decide(p, 10**9, None, T0 + timedelta(days=1))
        assert d.pool == p and d.change == "none" and not d.events
        assert not (d.suspend or d.resume or d.topup_sats) and d.known is False
        assert d.runway_hours is None and "unknown" in d.reason


def test_throttle_suspends_only_if_the_pool_says_so():
    d = poolpolicy.decide(pool(suspend_on_throttle=True), 0, 1_000, T0)
    assert d.change == "throttle" and d.pool.throttled and d.pool.throttled_at == T0
    assert d.events == ("pool_throttled", "pool_low_funds") and d.suspend
    assert d.topup_sats == 48_000
    assert not poolpolicy.decide(pool(), -5, 1_000, T0).suspend
    again = poolpolicy.decide(d.pool, -5, 1_000, T0)
    assert again.change == "none" and again.events == ()  # already throttled and low


def test_restore_needs_runway_above_the_minimum():
    throttled = pool(throttled=True, throttled_at=T0, low_funds=True)
    assert poolpolicy.decide(throttled, 24_000, 1_000, T0).change == "none"  # 24 h, not above
    d = poolpolicy.decide(throttled, 25_000, 1_000, T0)
    assert d.change == "restore" and d.resume and d.events == ("pool_restored",)
    assert not d.pool.throttled and not d.pool.low_funds and d.topup_sats == 0


def test_low_funds_fires_once_and_asks_for_the_target():
    d = poolpolicy.decide(pool(), 20_000, 1_000, T0)
    assert d.events == ("pool_low_funds",) and d.topup_sats == 28_000 and d.pool.low_funds
    assert poolpolicy.decide(d.pool, 20_000, 1_000, T0).events == ()


@given(st.integers(-10**9, 10**9), st.one_of(st.none(), st.integers(1, 10**6)),
       st.booleans(), st.booleans())
def test_unknown_is_never_good_news(funding, cph, throttled, low):
    p = pool(throttled=throttled, low_funds=low)
    d = poolpolicy.decide(p, funding, cph, T0)
    if cph is None:
        assert d.pool == p and not d.events and not d.resume
    if d.change == "restore":
        assert cph is not None and funding > 0 and d.runway_hours > p.min_runway_hours


def test_has_room():
    assert poolpolicy.has_room(None, 99)
    assert poolpolicy.has_room(pool(), 1) and not poolpolicy.has_room(pool(), 2)
    assert not poolpolicy.has_room(pool(throttled=True), 0)


def _req(**kw) -> PaymentRequest:
    base = dict(id="P-1", purpose="invest", address="a", amount_sats=50_000, created_at=T0,
                expires_at=T0 + timedelta(hours=24), status=RequestStatus.NEW, uri="x",
                contribution="C-1", pool="gpu", tenant="alice", invest_sats=50_000)
    base.update(kw)
    return PaymentRequest(**base)


def test_an_accepted_late_contribution_counts_from_its_settlement():
    c = Contribution(id="C-1", pool="gpu", tenant="alice", kind=ContributionKind.INVESTMENT,
                     amount_sats=50_000, created_at=T0, request="P-1")
    expired = _req(status=RequestStatus.EXPIRED, flags=("late",))
    c = poolpolicy.contribution_after(c, pool(), _req(), expired, T0)
    assert c.status == "cancelled"
    accepted = expired.replace(status=RequestStatus.PROCESSING, flags=("accepted", "late"))
    assert poolpolicy.contribution_after(c, pool(), expired, accepted, T0) == c
    when = T0 + timedelta(days=2)
    settled = accepted.replace(status=RequestStatus.SETTLED, settled_at=when)
    c = poolpolicy.contribution_after(c, pool(), accepted, settled, when)
    assert (c.status, c.settled_at, c.startup) == ("settled", when, True)
    assert risk.funding_level(pool(cost_sats=0), [c], []) == 50_000


def test_revenue_is_booked_once_and_never_for_an_unhonoured_settlement():
    before = _req(purpose="rent", lease="L-1", amount_sats=4_000, invest_sats=0)
    after = before.replace(status=RequestStatus.SETTLED, settled_at=T0)
    assert poolpolicy.revenue_sats(before, after) == 4_000
    assert poolpolicy.revenue_sats(after, after) == 0
    assert poolpolicy.revenue_sats(before, after.replace(flags=("unhonoured",))) == 0


# -- accrual -------------------------------------------------------------------------------
RATE = Decimal("65432.10")


def fiat_pool(cost: str = "0.40") -> Pool:
    """A pool started explicitly at T0: it runs, and costs, all the time."""
    return pool(cost_sats=None, cost_fiat=Decimal(cost), currency="USD", run_seconds=0,
                started_at=T0)


def test_fiat_cost_over_30_days_of_5_minute_ticks_does_not_drift():
    p = fiat_pool()
    end = T0 + timedelta(days=30)
    t = T0
    while t < end:
        t += timedelta(minutes=5)
        p = risk.accrue(p, t, RATE)
    once = risk.accrue(fiat_pool(), end, RATE)
    exact = fiat_to_sats(Decimal("0.40") * 24 * 30, RATE)
    assert sum(p.cost_months.values()) == sum(once.cost_months.values()) == exact
    assert p.cost_months == once.cost_months


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 200_000), min_size=1, max_size=40),
       st.sampled_from(["0.40", "1", "0.0001", "3.333", "250"]))
def test_any_tick_schedule_accrues_what_one_step_does(gaps, cost):
    p = fiat_pool(cost)
    t = T0
    for gap in gaps:
        t += timedelta(seconds=gap)
        p = risk.accrue(p, t, RATE)
    once = risk.accrue(fiat_pool(cost), t, RATE)
    assert p.cost_months == once.cost_months
    sat = pool(cost_sats=777, run_seconds=0, started_at=T0)
    stepped = sat
    t = T0
    for gap in gaps:
        t += timedelta(seconds=gap)
        stepped = risk.accrue(stepped, t)
    assert stepped.cost_months == risk.accrue(sat, t).cost_months


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 50_000), st.integers(10_000, 200_000)),
                min_size=1, max_size=30))
def test_varying_rates_book_within_a_sat_of_the_fiat_spent(steps):
    """Each step's sats are valued at its own rate; what is booked never falls behind
    the fiat spent and is ahead by less than one sat (at the dearest rate used)."""
    p = fiat_pool()
    t = T0
    dearest = 0
    for gap, rate in steps:
        t += timedelta(seconds=gap)
        dearest = max(dearest, rate)
        p = risk.accrue(p, t, Decimal(rate))
        spent = Decimal("0.40") * int((t - T0).total_seconds()) / 3600
        assert Decimal(0) <= p.cost_fiat_booked - spent < Decimal(dearest) / 10**8


def test_a_pool_accrued_before_the_booked_value_was_kept_carries_on():
    legacy = risk.accrue(fiat_pool(), T0 + timedelta(hours=1), RATE).replace(
        cost_fiat_booked=None)
    p = risk.accrue(legacy, T0 + timedelta(hours=2), RATE)
    assert sum(p.cost_months.values()) - sum(legacy.cost_months.values()) in (
        fiat_to_sats(Decimal("0.40"), RATE), fiat_to_sats(Decimal("0.40"), RATE) - 1)


def test_cost_per_hour_uses_the_one_conversion():
    assert risk.cost_per_hour_sats(fiat_pool(), RATE) == fiat_to_sats(Decimal("0.40"), RATE)
    assert risk.cost_per_hour_sats(fiat_pool(), None) is None
    assert risk.accrue(fiat_pool(), T0 + timedelta(hours=1), None) == fiat_pool()
