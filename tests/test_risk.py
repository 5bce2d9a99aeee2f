"""Risk and reward, pure: worked examples computed by hand, and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlease.core import risk
from cloudlease.core.errors import BadValue, Conflict
from cloudlease.model import (
    Consideration,
    Contribution,
    ContributionKind,
    ContributionStatus,
    Pool,
)

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)
APR = datetime(2026, 4, 1, tzinfo=UTC)


def pool(consideration: Consideration, **kw) -> Pool:
    base = dict(name="gpu", created_at=JAN, slots=4, consideration=consideration,
                investor_pct=Decimal(20), cost_sats=1000, startup_ended_at=FEB,
                revenue_months={"2026-01": 800_000, "2026-02": 1_000_000},
                cost_months={"2026-01": 744_000, "2026-02": 672_000})
    if consideration == Consideration.REVENUE_SHARE:
        base["period_months"] = 6
    if consideration == Consideration.FIXED_RETURN:
        base["return_multiple"] = Decimal("1.2")
    base.update(kw)
    return Pool(**base)


def inv(cid: str, tenant: str, sats: int, when: datetime, startup: bool,
        kind: ContributionKind = ContributionKind.INVESTMENT) -> Contribution:
    return Contribution(id=cid, pool="gpu", tenant=tenant, kind=kind, amount_sats=sats,
                        created_at=when, settled_at=when, startup=startup,
                        status=ContributionStatus.SETTLED)


# The worked example of the README: alice 600k and bob 400k in start-up (weight 1.5),
# carol 500k after it. Stakes 900k / 600k / 500k of 2M: shares 45% / 30% / 25%.
CONTRIBUTIONS = [
    inv("C-1", "alice", 600_000, JAN + timedelta(days=4), True),
    inv("C-2", "bob", 400_000, JAN + timedelta(days=5), True),
    inv("C-3", "carol", 500_000, FEB, False),
    inv("C-4", "dave", 250_000, FEB, False, ContributionKind.DONATION),
]


def test_stakes_and_shares_of_the_worked_example():
    p = pool(Consideration.REVENUE_SHARE)
    stake = risk.stakes(p, CONTRIBUTIONS, MAR)
    assert stake == {"alice": 900_000, "bob": 600_000, "carol": 500_000}
    assert risk.shares(stake) == {"alice": Fraction(9, 20), "bob": Fraction(3, 10),
                                  "carol": Fraction(1, 4)}
    assert "dave" not in stake  # a donation carries no stake


def test_revenue_share_worked_example():
    # 20% of February's 1,000,000 sat revenue = 200,000: 90,000 / 60,000 / 50,000
    p = pool(Consideration.REVENUE_SHARE)
    out = risk.compute_payout(p, "2026-02", CONTRIBUTIONS, [], MAR)
    assert out.basis_sats == 1_000_000 and out.distributable_sats == 200_000
    assert out.shares == {"alice": 90_000, "bob": 60_000, "carol": 50_000}
    rows = {r.tenant: r for r in risk.table(p, CONTRIBUTIONS, [out], MAR + timedelta(days=1))}
    assert rows["alice"].at_risk == 510_000 and rows["bob"].at_risk == 340_000
    assert rows["carol"].at_risk == 450_000 and rows["dave"].earned == 0
    assert rows["dave"].donated == 250_000 and rows["dave"].principal == 0
    # the window closes period_months after start-up ends (Feb 1 + 6 months = Aug 1)
    late = p.replace(revenue_months={**p.revenue_months, "2026-08": 500_000})
    assert risk.compute_payout(late, "2026-08", CONTRIBUTIONS, [],
                               datetime(2026, 9, 1, tzinfo=UTC)).distributable_sats == 0


def test_ownership_worked_example():
    # 20% of February's net revenue 1,000,000 − 672,000 = 328,000 → 65,600
    out = risk.compute_payout(pool(Consideration.OWNERSHIP), "2026-02", CONTRIBUTIONS, [], MAR)
    assert out.basis_sats == 328_000 and out.distributable_sats == 65_600
    assert out.shares == {"alice": 29_520, "bob": 19_680, "carol": 16_400}
    loss = pool(Consideration.OWNERSHIP, revenue_months={"2026-02": 100_000})
    assert risk.compute_payout(loss, "2026-02", CONTRIBUTIONS, [], MAR).distributable_sats == 0


def test_fixed_return_worked_example_with_caps():
    # caps at 1.2× principal: alice 720,000, bob 480,000, carol 600,000
    p = pool(Consideration.FIXED_RETURN,
             revenue_months={"2026-02": 1_000_000, "2026-03": 7_500_000,
                             "2026-04": 10_000_000})
    feb = risk.compute_payout(p, "2026-02", CONTRIBUTIONS, [], MAR)
    assert feb.shares == {"alice": 90_000, "bob": 60_000, "carol": 50_000}
    # March: 20% of 7.5M = 1.5M. alice's 45% (675,000) passes her remaining 630,000: she
    # gets 630,000; the rest is split 6:5 between bob and carol; bob is capped at 420,000;
    # carol takes the remaining 450,000 (under her 550,000).
    mar = risk.compute_payout(p, "2026-03", CONTRIBUTIONS, [feb], APR)
    assert mar.shares == {"alice": 630_000, "bob": 420_000, "carol": 450_000}
    assert mar.distributable_sats == 1_500_000
    # April: only carol has room (100,000 left); everyone else is repaid in full
    apr = risk.compute_payout(p, "2026-04", CONTRIBUTIONS, [feb, mar],
                              datetime(2026, 5, 1, tzinfo=UTC))
    assert apr.shares == {"alice": 0, "bob": 0, "carol": 100_000}
    rows = {r.tenant: r for r in risk.table(p, CONTRIBUTIONS, [feb, mar, apr],
                                            datetime(2026, 5, 2, tzinfo=UTC))}
    assert rows["alice"].paid == 720_000 and rows["alice"].at_risk == 0


def test_investment_counts_from_its_settlement():
    # carol settles half-way through March: she weighs half for March
    mid = MAR + timedelta(days=15, hours=12)
    contributions = [inv("C-1", "alice", 100_000, JAN, False),
                     inv("C-2", "carol", 100_000, mid, False)]
    p = pool(Consideration.REVENUE_SHARE, revenue_months={"2026-03": 300_000})
    out = risk.compute_payout(p, "2026-03", contributions, [], APR)
    assert out.shares == {"alice": 40_000, "carol": 20_000}


def test_payout_for_a_month_not_over_is_refused():
    with pytest.raises(Conflict, match="not over"):
        risk.compute_payout(pool(Consideration.OWNERSHIP), "2026-03", CONTRIBUTIONS, [],
                            MAR + timedelta(days=3))
    with pytest.raises(BadValue):
        risk.parse_period("2026-13")
    with pytest.raises(BadValue):
        risk.parse_period("March")


def test_accrual_is_exact_in_any_steps_and_booked_by_month():
    p = Pool(name="gpu", created_at=JAN + timedelta(days=30, hours=12), slots=1,
             consideration=Consideration.OWNERSHIP, investor_pct=Decimal(10), cost_sats=999,
             accrued_until=JAN + timedelta(days=30, hours=12),
             started_at=JAN + timedelta(days=30, hours=12))  # runs all the time
    end = FEB + timedelta(hours=10, minutes=7)
    one = risk.accrue(p, end)
    steps = p
    t = p.created_at
    while t < end:
        t = min(t + timedelta(minutes=7, seconds=13), end)
        steps = risk.accrue(steps, t)
    assert one.cost_months == steps.cost_months
    assert one.cost_months == {"2026-01": 999 * 12, "2026-02": 999 * 10 + 999 * 7 // 60}


def test_startup_ends_after_the_first_month_that_covers_its_cost():
    p = Pool(name="gpu", created_at=JAN + timedelta(days=10), slots=1,
             consideration=Consideration.OWNERSHIP, investor_pct=Decimal(10), cost_sats=1000,
             accrued_until=MAR + timedelta(days=2),
             revenue_months={"2026-01": 100, "2026-02": 700_000},
             cost_months={"2026-01": 528_000, "2026-02": 672_000})
    assert risk.update_startup(p, FEB + timedelta(days=3)).startup_ended_at is None
    assert risk.update_startup(p, MAR + timedelta(days=2)).startup_ended_at == MAR


names = st.sampled_from(["alice", "bob", "carol", "dave", "erin", "frank"])
contribution_lists = st.lists(
    st.tuples(names, st.integers(1_000, 10**9), st.integers(0, 58 * 24),
              st.booleans(), st.sampled_from(list(ContributionKind))),
    min_size=1, max_size=12)


def _contributions(raw) -> list[Contribution]:
    return [inv(f"C-{i}", n, s, JAN + timedelta(hours=h), startup, kind)
            for i, (n, s, h, startup, kind) in enumerate(raw)]


@given(contribution_lists)
def test_shares_sum_to_exactly_one(raw):
    p = pool(Consideration.OWNERSHIP)
    share = risk.shares(risk.stakes(p, _contributions(raw), MAR))
    if share:
        assert sum(share.values()) == 1
        assert all(0 < s <= 1 for s in share.values())


@settings(max_examples=60)
@given(contribution_lists, st.sampled_from(list(Consideration)),
       st.lists(st.integers(0, 10**10), min_size=3, max_size=3),
       st.decimals(min_value=0, max_value=100, places=2))
def test_payouts_sum_to_distributable_caps_hold_donations_never_earn(raw, kind, revenue,
                                                                      pct):
    contributions = _contributions(raw)
    months = {"2026-02": revenue[0], "2026-03": revenue[1], "2026-04": revenue[2]}
    p = pool(kind, investor_pct=pct, revenue_months=months,
             return_multiple=Decimal("1.5") if kind == Consideration.FIXED_RETURN else None)
    done = []
    for period, now in (("2026-02", MAR), ("2026-03", APR),
                        ("2026-04", datetime(2026, 5, 1, tzinfo=UTC))):
        out = risk.compute_payout(p, period, contributions, done, now)
        assert sum(out.shares.values()) == out.distributable_sats
        assert out.distributable_sats <= risk.pct_of(out.basis_sats, pct)
        investors = {c.tenant for c in contributions if c.kind == "investment"}
        assert set(out.shares) <= investors
        done.append(out)
    if kind == Consideration.FIXED_RETURN:
        paid = risk.paid_so_far(done, "gpu")
        for name, sats in paid.items():
            assert sats <= risk.principal(p, contributions, name) * Decimal("1.5")


@given(st.integers(0, 10**12), st.dictionaries(names, st.integers(1, 10**9), min_size=1),
       st.dictionaries(names, st.integers(0, 10**12)))
def test_capped_split_never_passes_a_cap_and_loses_nothing(total, weights, limits):
    w = {n: Fraction(v) for n, v in weights.items()}
    out = risk.capped_split(total, w, limits)
    assert all(out[n] <= limits.get(n, 0) for n in out)
    assert sum(out.values()) == min(total, sum(limits.get(n, 0) for n in w))
