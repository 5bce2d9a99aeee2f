"""A pool costs only while it runs (pure): running time over lease stretches and an explicit
start, accrual that is the same in any steps, and a pool that has not run is never
throttled or low on funds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlease.core import poolpolicy, risk, running
from cloudlease.model import Consideration, Lease, LeaseStatus, Pool

T0 = datetime(2026, 1, 31, 20, 0, tzinfo=UTC)  # a month edge within reach


def new_pool(**kw) -> Pool:
    base = dict(name="gpu", created_at=T0, slots=2, consideration=Consideration.OWNERSHIP,
                investor_pct=Decimal(10), min_runway_hours=24, target_runway_hours=72,
                cost_sats=1_000, accrued_until=T0)
    base.update(kw)
    return Pool(**base)


def lease(status: LeaseStatus, start: int | None, end: int | None, suspended: int | None = None
          ) -> Lease:
    def at(s: int | None) -> datetime | None:
        return None if s is None else T0 + timedelta(seconds=s)

    return Lease(id="L-1", status=status, hours=1, plan="p", created_at=T0,
                 starts_at=at(start), ends_at=at(end), suspended_at=at(suspended), pool="gpu")


def test_a_new_pool_is_never_throttled_or_low_and_accrues_nothing_while_idle():
    p = new_pool()
    later = T0 + timedelta(days=40)
    idle = running.accrue(p, later)
    assert idle.cost_months == {} and idle.run_seconds == 0 and idle.accrued_until == later
    d = poolpolicy.decide(idle, 0, 1_000, later)
    assert d.change == "none" and d.events == () and d.topup_sats == 0
    assert not d.pool.throttled and not d.pool.low_funds
    assert poolpolicy.has_room(d.pool, 0)


def test_only_the_time_a_lease_held_it_costs():
    runs = running.lease_runs([
        lease(LeaseStatus.ACTIVE, 3_600, 7_200),                 # 1 h
        lease(LeaseStatus.ENDED, 5_400, 9_000),                  # overlaps: +30 min
        lease(LeaseStatus.SUSPENDED, 20_000, 30_000, 21_800),    # 30 min, then frozen
        lease(LeaseStatus.AWAITING_PAYMENT, None, None),         # never ran
        lease(LeaseStatus.CANCELLED, None, None),
    ])
    p = running.accrue(new_pool(), T0 + timedelta(days=1), runs=runs)
    assert p.run_seconds == 3_600 + 1_800 + 1_800
    assert sum(p.cost_months.values()) == 2_000
    # booked to the month it was spent in: February starts 4 h after T0 (20:00)
    assert p.cost_months == {"2026-01": 1_500, "2026-02": 500}


def test_an_explicit_start_runs_it_until_stopped():
    p = new_pool(started_at=T0 + timedelta(hours=1))
    p = running.accrue(p, T0 + timedelta(hours=3))
    assert p.run_seconds == 7_200 and sum(p.cost_months.values()) == 2_000
    stopped = p.replace(started_at=None)
    assert running.accrue(stopped, T0 + timedelta(hours=9)).cost_months == p.cost_months


def test_a_pool_from_before_the_meter_ran_from_its_creation():
    legacy = new_pool(accrued_until=T0 + timedelta(hours=2),
                      cost_months={"2026-01": 2_000})
    assert running.meter(legacy) == 7_200 and running.has_run(legacy)
    p = running.accrue(legacy, T0 + timedelta(hours=5))  # idle since: nothing more
    assert p.cost_months == {"2026-01": 2_000} and p.run_seconds == 7_200


stretch = st.tuples(st.integers(0, 200_000), st.integers(1, 100_000))


@settings(max_examples=80, deadline=None)
@given(st.lists(stretch, max_size=6), st.lists(st.integers(1, 40_000), min_size=1,
                                               max_size=25),
       st.integers(1, 5_000), st.booleans())
def test_accrual_in_any_steps_books_the_covered_time_once(stretches, gaps, cost, fiat):
    """Whatever the tick schedule: the same sats per month as one step, and in all the
    cost of the time covered by at least one stretch (overlaps once)."""
    runs = [(T0 + timedelta(seconds=a), T0 + timedelta(seconds=a + n)) for a, n in stretches]
    kind = dict(cost_sats=None, cost_fiat=Decimal(cost) / 100, currency="USD") if fiat \
        else dict(cost_sats=cost)
    rate = Decimal("65432.10")
    p = new_pool(**kind)
    t = T0
    for gap in gaps:
        t += timedelta(seconds=gap, microseconds=gap % 7 * 1000)
        p = running.accrue(p, t, rate, runs)
    once = running.accrue(new_pool(**kind), t, rate, runs)
    assert p.cost_months == once.cost_months and p.run_seconds == once.run_seconds
    covered = set()
    for a, n in stretches:
        covered.update(range(a, a + n))
    end = int((t - T0).total_seconds())
    seconds = len({s for s in covered if s < end})
    assert p.run_seconds == seconds
    if not fiat:
        assert sum(p.cost_months.values()) == cost * seconds // 3600


@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)), max_size=8),
       st.integers(0, 20_000), st.integers(0, 20_000), st.integers(0, 20_000))
def test_run_seconds_is_additive(spans, a, b, c):
    a, b, c = sorted((a, b, c))
    runs = [(T0 + timedelta(seconds=x), T0 + timedelta(seconds=x + n)) for x, n in spans]
    def at(s: int) -> datetime:
        return T0 + timedelta(seconds=s)

    assert running.run_seconds(runs, at(a), at(b)) + running.run_seconds(runs, at(b), at(c)) \
        == running.run_seconds(runs, at(a), at(c))


@given(st.integers(-10**9, 10**9), st.integers(0, 10**7))
def test_throttled_only_once_it_has_run(funding, ran):
    p = new_pool(run_seconds=ran)
    d = poolpolicy.decide(p, funding, 1_000, T0)
    assert (d.change == "throttle") == (funding <= 0 and ran > 0)
    if ran == 0:
        assert not d.pool.low_funds and d.topup_sats == 0


def test_startup_needs_a_month_in_which_it_ran():
    idle_january = new_pool(created_at=datetime(2026, 1, 5, tzinfo=UTC),
                            accrued_until=datetime(2026, 3, 2, tzinfo=UTC),
                            revenue_months={"2026-02": 5_000},
                            cost_months={"2026-02": 4_000})
    ended = risk.update_startup(idle_january, datetime(2026, 3, 2, tzinfo=UTC))
    assert ended.startup_ended_at == datetime(2026, 3, 1, tzinfo=UTC)  # not February 1


# -- a ledger from before the meter (schema 1) -------------------------------------------
def test_a_schema_1_ledger_is_upgraded_and_its_self_throttled_pool_freed(cli, isolated,
                                                                         monkeypatch):
    """tests/data/ledger-v1-pools was written by schema 1: pool gpu (no lease, no money)
    throttled itself one hour after its creation; pool funded holds the investments of
    alice, Alice and Zoë Ltd. (names schema 1 allowed).
    The first command upgrades it in one audited write: gpu's idle cost is forgotten and
    its throttle lifted; funded keeps what it booked and keeps running (marked started)."""
    import shutil
    import sqlite3

    from cloudlease.ledger.schema import SCHEMA_VERSION
    from tests.conftest import REPO

    shutil.copytree(REPO / "tests/data/ledger-v1-pools", isolated)
    (isolated / "keys.toml").chmod(0o600)
    (isolated / "config.toml").chmod(0o600)
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-01-06T00:00:00Z")
    gpu, funded = sorted(cli.json("pool", "list"), key=lambda p: p["name"] != "gpu")
    assert gpu["throttled"] is False and gpu["funding_sats"] == 0 and gpu["run_seconds"] == 0
    # funded had money in it: it ran all the time under schema 1, and still does (started)
    assert funded["started_at"] == "2026-01-05T00:00:00Z" and funded["run_seconds"] == 86_400
    assert funded["funding_sats"] == 80_000 - 24 * 100 and gpu["started_at"] is None
    db = sqlite3.connect(isolated / "ledger.db")
    try:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() \
            == (str(SCHEMA_VERSION),)
        commands = [r[0] for r in db.execute("SELECT command FROM audit ORDER BY seq")]
    finally:
        db.close()
    # every step in one audited write: plans.target, the meter, pay as you go
    assert commands[-1] == f"ledger upgrade: schema 1 -> {SCHEMA_VERSION}"
    cli("rent", "--hours", "1", "--plan", "gpu-hour", "--no-wait")  # no longer refused
    cli("verify", "--full")
