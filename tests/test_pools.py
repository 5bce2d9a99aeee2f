"""Pools through the CLI: bad inputs, funding, payouts once, and a time-driven scenario
on the simulated chain from start-up through low funds, top-up, throttling and recovery."""

from __future__ import annotations

import json

import pytest

POOL = ["pool", "add", "gpu", "--slots", "2", "--cost-per-hour", "1000 sat",
        "--consideration", "revenue_share", "--investor-pct", "20", "--period-months", "3"]


@pytest.fixture
def pooled(cli, home, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-01-01T00:00:00Z")
    cli(*POOL)
    cli("plan", "add", "gpu-hour", "--price-per-hour", "2000 sat", "--pool", "gpu")
    for name in ("alice", "bob"):
        cli("tenant", "add", name)
    return home


def settle(cli, request_id):
    cli("devchain", "pay", request_id)
    cli("devchain", "mine")
    return cli.json("tick")


@pytest.mark.parametrize("args,code,fragment", [
    (["pool", "show", "nope"], 3, "no pool"),
    (["pool", "fund", "nope", "--tenant", "alice", "--amount", "1000 sat"], 3, "no pool"),
    (["pool", "fund", "gpu", "--amount", "1000 sat"], 2, "investors must be named"),
    (["pool", "fund", "gpu", "--tenant", "zed", "--amount", "1000 sat"], 3, "no tenant"),
    (["pool", "fund", "gpu", "--tenant", "alice", "--amount", "0 sat"], 2, "more than zero"),
    (["pool", "fund", "gpu", "--tenant", "alice", "--amount", "-5 sat"], 2, "not an amount"),
    (["pool", "fund", "gpu", "--tenant", "alice", "--amount", "100 sat", "--method",
      "onchain"], 2, "dust"),
    (["pool", "fund", "gpu", "--tenant", "alice", "--amount", "1000 sat", "--kind", "gift"],
     2, "investment or donation"),
    (["pool", "add", "x", "--slots", "1", "--cost-per-hour", "1 sat", "--consideration",
      "ownership", "--investor-pct", "101"], 2, "0 to 100"),
    (["pool", "add", "x", "--slots", "1", "--cost-per-hour", "1 sat", "--consideration",
      "ownership", "--investor-pct", "-1"], 2, "0 to 100"),
    (["pool", "add", "x", "--slots", "1", "--cost-per-hour", "1 sat", "--consideration",
      "fixed_return", "--investor-pct", "10", "--return-multiple", "0.9"], 2, "at least 1"),
    (["pool", "add", "x", "--slots", "1", "--cost-per-hour", "1 sat", "--consideration",
      "fixed_return", "--investor-pct", "10"], 2, "--return-multiple"),
    (["pool", "add", "x", "--slots", "0", "--cost-per-hour", "1 sat", "--consideration",
      "ownership", "--investor-pct", "10"], 2, "--slots"),
    (["pool", "add", "x", "--slots", "1", "--cost-per-hour", "0 sat", "--consideration",
      "ownership", "--investor-pct", "10"], 2, "more than zero"),
    (["pool", "add", "x", "--slots", "1", "--cost-per-hour", "1 sat", "--consideration",
      "shares", "--investor-pct", "10"], 2, "--consideration"),
    (["pool", "add", "x", "--slots", "1", "--cost-per-hour", "1 sat", "--consideration",
      "ownership", "--investor-pct", "nan"], 2, "is not a percentage"),
    (["pool", "add", "gpu", "--slots", "1", "--cost-per-hour", "1 sat", "--consideration",
      "ownership", "--investor-pct", "10"], 4, "already exists"),
    (["plan", "add", "p2", "--price-per-hour", "1000 sat", "--pool", "nope"], 3, "no pool"),
    (["payout", "--pool", "gpu", "--period", "2026-01"], 4, "not over"),
    (["payout", "--pool", "gpu", "--period", "2026/01"], 2, "YYYY-MM"),
    (["payout", "--pool", "nope", "--period", "2025-12"], 3, "no pool"),
    (["risk", "--pool", "nope"], 3, "no pool"),
    (["risk", "--as-of", "yesterday"], 2, "ISO 8601"),
    (["rent", "--hours", "1", "--plan", "gpu-hour", "--invest", "5000 sat"], 2, "--tenant"),
    (["rent", "--hours", "1", "--plan", "standard", "--tenant", "alice", "--invest",
      "5000 sat"], 2, "no pool"),
    (["pool", "remove", "gpu"], 4, "plan"),
])
def test_bad_input(cli, pooled, args, code, fragment):
    before = cli.ledger_snapshot()
    err = cli.json(*args, code=code)
    assert fragment in err["message"], err
    assert cli.ledger_snapshot() == before


def test_pool_with_leases_cannot_be_removed(cli, pooled):
    cli("rent", "--hours", "1", "--plan", "gpu-hour")
    err = cli.json("pool", "remove", "gpu", code=4)
    assert "has leases" in err["message"]
    cli("pool", "add", "spare", "--slots", "1", "--cost-per-hour", "1 sat",
        "--consideration", "ownership", "--investor-pct", "10")
    cli("pool", "remove", "spare")
    assert [p["name"] for p in cli.json("pool", "list")] == ["gpu"]


def test_full_pool_says_when_a_slot_frees(cli, pooled):
    cli("rent", "--hours", "1", "--plan", "gpu-hour")
    cli("rent", "--hours", "1", "--plan", "gpu-hour")
    err = cli.json("rent", "--hours", "1", "--plan", "gpu-hour", code=4)
    assert "full (2/2 slots)" in err["message"] and "2026-01-01T00:15:00" in err["message"]


def test_rent_with_investment_in_one_payment(cli, pooled):
    lease = cli.json("rent", "--hours", "2", "--plan", "gpu-hour", "--tenant", "alice",
                     "--invest", "50000 sat")
    pay = lease["payment"]
    assert pay["amount_sats"] == 54_000 and pay["invest_sats"] == 50_000
    assert lease["price_sats"] == 4_000
    settle(cli, pay["id"])
    shown = cli.json("pool", "show", "gpu")
    assert shown["contributions"][0]["status"] == "settled"
    assert shown["contributions"][0]["startup"] is True
    assert shown["current_month"]["revenue_sats"] == 4_000
    assert shown["funding_sats"] == 54_000
    risk = cli.json("risk")[0]
    assert risk["tenants"][0]["principal_sats"] == 50_000
    assert risk["tenants"][0]["stake_sats"] == "75000"


def test_payout_is_recorded_once(cli, pooled, monkeypatch):
    fund = cli.json("pool", "fund", "gpu", "--tenant", "alice", "--amount", "100000 sat")
    settle(cli, fund["payment"]["id"])
    lease = cli.json("rent", "--hours", "10", "--plan", "gpu-hour", "--tenant", "bob")
    settle(cli, lease["payment"]["id"])
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-02-01T00:00:00Z")
    dry = cli.json("payout", "--pool", "gpu", "--period", "2026-01", "--dry-run")
    assert dry["distributable_sats"] == 4_000 and dry["recorded"] is False
    first = cli.json("payout", "--pool", "gpu", "--period", "2026-01")
    assert first["shares"] == {"alice": 4_000} and first["recorded"] is True
    before = cli.ledger_snapshot()
    again = cli.json("payout", "--pool", "gpu", "--period", "2026-01")
    assert again["recorded"] is False and again["shares"] == first["shares"]
    assert cli.ledger_snapshot() == before
    cli("verify")


def test_time_driven_scenario(cli, home, tmp_path, monkeypatch):
    """Start-up, low funds and a top-up, throttling, recovery, the end of start-up."""
    log = tmp_path / "events"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\necho "$CLOUDLEASE_EVENT" >> {log}\n')
    hook.chmod(0o755)
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace("[hooks]\n", "[hooks]\n" + "".join(
        f'{e} = "{hook}"\n' for e in ("pool_low_funds", "pool_throttled", "pool_restored"))))

    def at(when: str) -> None:
        monkeypatch.setenv("CLOUDLEASE_NOW", when)

    at("2026-01-01T00:00:00Z")
    cli("pool", "add", "gpu", "--slots", "2", "--cost-per-hour", "1000 sat",
        "--consideration", "revenue_share", "--investor-pct", "20", "--period-months", "3",
        "--min-runway-hours", "24", "--target-runway-hours", "48", "--suspend-on-throttle")
    started = cli.json("pool", "start", "gpu")  # its cost counts from now, rented or not
    assert started["changed"] is True and started["started_at"] == "2026-01-01T00:00:00Z"
    assert cli.json("pool", "start", "gpu")["changed"] is False
    cli("plan", "add", "gpu-hour", "--price-per-hour", "2000 sat", "--pool", "gpu")
    cli("tenant", "add", "alice")
    cli("tenant", "add", "bob")
    fund = cli.json("pool", "fund", "gpu", "--tenant", "alice", "--amount", "60000 sat")
    settle(cli, fund["payment"]["id"])
    show = cli.json("pool", "show", "gpu")
    assert show["phase"] == "start-up" and show["runway_hours"] == "60.00"

    at("2026-01-02T16:00:00Z")  # 40 h later: 20,000 sat left, 20 h of runway
    tick = cli.json("tick")
    assert "pool_low_funds pool:gpu" in tick["events"]
    show = cli.json("pool", "show", "gpu")
    assert show["funding_sats"] == 20_000 and show["low_funds"] is True
    topups = [c for c in show["contributions"] if c["topup"]]
    assert len(topups) == 1 and topups[0]["amount_sats"] == 28_000  # back to 48 h
    cli("tick")
    assert len([c for c in cli.json("pool", "show", "gpu")["contributions"] if c["topup"]]) == 1

    at("2026-01-03T12:00:00Z")  # 60 h: the money is gone
    said = cli("tick", "--quiet").stdout
    assert "pool gpu throttled: funding ran out (0 sat): new rentals refused" in said
    show = cli.json("pool", "show", "gpu")
    assert show["throttled"] is True and show["funding_sats"] == 0
    err = cli.json("rent", "--hours", "1", "--plan", "gpu-hour", code=4)
    assert "throttled" in err["message"]

    at("2026-01-03T13:00:00Z")  # alice tops up: 28,000 − 1,000 = 27,000 → 27 h
    cli("devchain", "pay", topups[0]["request"])
    cli("devchain", "mine")
    said = cli("tick", "--quiet").stdout
    assert "pool gpu restored: runway back to 27.00 h (above 24 h)" in said
    show = cli.json("pool", "show", "gpu")
    assert show["throttled"] is False and show["funding_sats"] == 27_000
    assert show["low_funds"] is False
    # bob rents enough in January to cover January's cost, which ends start-up
    lease = cli.json("rent", "--hours", "400", "--plan", "gpu-hour", "--tenant", "bob")
    settle(cli, lease["payment"]["id"])
    assert cli.json("pool", "show", "gpu")["current_month"]["revenue_sats"] == 800_000

    at("2026-02-01T00:05:00Z")
    cli("tick")
    show = cli.json("pool", "show", "gpu")
    assert show["phase"] == "running" and show["startup_ended_at"] == "2026-02-01T00:00:00Z"
    assert show["last_month"] == {"revenue_sats": 800_000, "cost_sats": 744_000,
                                  "month": "2026-01"}
    payout = cli.json("payout", "--pool", "gpu", "--period", "2026-01")
    assert payout["shares"] == {"alice": 160_000}
    events = log.read_text().split()
    assert events == ["pool_low_funds", "pool_throttled", "pool_restored"]
    risk = cli.json("risk")[0]
    (alice,) = risk["tenants"]
    assert alice["principal_sats"] == 88_000 and alice["paid_sats"] == 160_000
    assert alice["at_risk_sats"] == 0 and alice["share"] == "1/1"
    cli("verify")
    assert json.loads(cli("risk", "--json").stdout)[0]["totals"]["paid_sats"] == 160_000


def test_a_new_pool_funds_itself_from_its_first_rental(cli, home, monkeypatch):
    """No investor, no explicit start: ticks leave it alone until a lease runs, its first
    rental is never refused, and it costs only while the lease is active."""
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-01-10T00:00:00Z")
    cli(*POOL)
    cli("plan", "add", "gpu-hour", "--price-per-hour", "2000 sat", "--pool", "gpu")
    for when in ("2026-01-10T00:00:00Z", "2026-01-12T00:00:00Z"):
        monkeypatch.setenv("CLOUDLEASE_NOW", when)
        tick = cli.json("tick")
        assert tick["events"] == [] and not tick["problems"]
    (row,) = cli.json("pool", "list")
    assert row["funding_sats"] == 0 and row["runway_hours"] == "0.00"
    assert row["throttled"] is False and row["low_funds"] is False and row["running"] is False
    assert "idle" in cli("pool", "list").stdout
    show = cli.json("pool", "show", "gpu")
    assert show["last_month"] is None  # December: before the pool existed
    assert "2025-12" not in cli("pool", "show", "gpu").stdout
    lease = cli.json("rent", "--hours", "3", "--plan", "gpu-hour", "--no-wait")
    settle(cli, lease["payment"]["id"])
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-01-12T02:00:00Z")
    show = cli.json("pool", "show", "gpu")
    assert show["running"] is True and show["funding_sats"] == 6_000 - 2_000
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-01-20T00:00:00Z")  # long after it ended
    cli("tick")
    show = cli.json("pool", "show", "gpu")
    assert show["running"] is False and show["funding_sats"] == 3_000
    assert show["throttled"] is False and show["run_seconds"] == 3 * 3600
    cli("verify")


def test_pool_start_and_stop(cli, pooled, monkeypatch):
    assert cli.json("pool", "stop", "gpu")["changed"] is False
    cli("pool", "start", "gpu")
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-01-01T05:00:00Z")
    stopped = cli.json("pool", "stop", "gpu")
    assert stopped["changed"] is True and stopped["started_at"] is None
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-01-03T00:00:00Z")
    show = cli.json("pool", "show", "gpu")
    assert show["funding_sats"] == -5_000 and show["run_seconds"] == 5 * 3600
    for args, code in ((["pool", "start", "nope"], 3), (["pool", "stop", "nope"], 3)):
        before = cli.ledger_snapshot()
        cli(*args, code=code)
        assert cli.ledger_snapshot() == before


def test_risk_says_no_pools(cli, home):
    assert "no pools" in cli("risk").stdout
    assert cli.json("risk") == []
