"""Dust is an on-chain rule: over Lightning any amount of at least 1 sat can be asked for,
a request offered both ways under the dust limit becomes Lightning only and says so, and
plans may cost less than the limit per hour when a Lightning node is configured. The
same for every command that makes a request (rent, lease extend, pool fund)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudlease.core.errors import BadValue
from cloudlease.core.money import DUST_SATS, methods_for_amount


@given(st.integers(1, 10**9), st.sampled_from([("onchain",), ("lightning",),
                                               ("onchain", "lightning")]), st.booleans())
def test_dust_is_on_chain_only(amount, methods, ln):
    if amount < DUST_SATS and methods == ("onchain",):
        with pytest.raises(BadValue, match="dust limit"):
            methods_for_amount(amount, methods, lightning_available=ln)
        return
    got = methods_for_amount(amount, methods, lightning_available=ln)
    if amount < DUST_SATS:
        assert got == ("lightning",)
    else:
        assert got == methods


@pytest.fixture
def cheap(cli, home):
    cli("plan", "add", "tiny", "--price-per-hour", "1 sat")
    cli("tenant", "add", "alice")
    cli("pool", "add", "gpu", "--slots", "2", "--cost-per-hour", "1 sat", "--consideration",
        "ownership", "--investor-pct", "10")
    return home


def test_lightning_takes_one_sat(cli, cheap):
    r = cli.json("rent", "--hours", "1", "--plan", "tiny", "--method", "lightning")
    pay = r["payment"]
    assert pay["amount_sats"] == 1 and pay["methods"] == ["lightning"]
    assert pay["address"] is None and pay["uri"].startswith("lightning:")
    cli("devchain", "ln-pay", pay["id"])
    assert cli.json("pay", "check", pay["id"])["statuses"][pay["id"]] == "settled"
    cli("verify")


@pytest.mark.parametrize("command", [
    ["rent", "--hours", "2", "--plan", "tiny", "--no-wait"],
    ["pool", "fund", "gpu", "--tenant", "alice", "--amount", "400 sat"],
])
def test_both_under_the_dust_limit_is_lightning_only_and_says_so(cli, cheap, command):
    done = cli(*command, "--json")
    assert "under the on-chain dust limit (546 sat): it can be paid over Lightning only" \
        in done.stderr
    import json

    pay = json.loads(done.stdout)["payment"]
    assert pay["methods"] == ["lightning"] and pay["address"] is None
    # on-chain only: refused, nothing written
    before = cli.ledger_snapshot()
    err = cli.json(*command, "--method", "onchain", code=2)
    assert "below the on-chain dust limit (546 sat)" in err["message"]
    assert "--method lightning" in err["message"]
    assert cli.ledger_snapshot() == before


def test_an_extension_under_the_dust_limit(cli, cheap):
    r = cli.json("rent", "--hours", "1", "--plan", "tiny", "--method", "lightning")
    cli("devchain", "ln-pay", r["payment"]["id"])
    cli("tick")
    before = cli.ledger_snapshot()
    err = cli.json("lease", "extend", r["id"], "--hours", "3", "--method", "onchain", code=2)
    assert "dust limit" in err["message"] and cli.ledger_snapshot() == before
    ext = cli("lease", "extend", r["id"], "--hours", "3")
    assert "it can be paid over Lightning only" in ext.stderr


def test_without_lightning_a_plan_under_the_dust_limit_is_refused(cli):
    cli("init", "--lightning", "none")
    before = cli.ledger_snapshot()
    err = cli.json("plan", "add", "tiny", "--price-per-hour", "100 sat", code=2)
    assert "below the on-chain dust limit" in err["message"] and "Lightning" in err["message"]
    assert cli.ledger_snapshot() == before
    cli("plan", "add", "ok", "--price-per-hour", f"{DUST_SATS} sat")
    assert cli.json("rent", "--hours", "1", "--plan", "ok")["payment"]["methods"] == ["onchain"]
