"""The smaller things a new operator trips on: paid hours and total in lease list, watch
saying it started and stopping with 130 as rent does, pool fund --no-wait, a second host
told it attached, draft titles said once, a sats-priced invoice explaining its missing
fiat total, a missing home that is exit 5 and never created, and each host's own devchain
on a shared ledger said out loud."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.conftest import VPUB, run_cli
from tests.terminal_parts import Pty


def test_lease_list_shows_paid_hours_and_total_after_an_extension(cli, home):
    cli("rent", "--hours", "2", "--method", "onchain")
    cli("devchain", "pay", "P-1")
    cli("devchain", "mine")
    cli("tick")
    cli("lease", "extend", "L-1", "--hours", "3", "--method", "onchain")
    cli("devchain", "pay", "P-2")
    cli("devchain", "mine")
    cli("tick")
    cli("rent", "--hours", "1")
    rows = cli.json("lease", "list")
    assert (rows[0]["paid_hours"], rows[0]["paid_sats"]) == (5, 5_000)
    assert (rows[1]["paid_hours"], rows[1]["paid_sats"]) == (0, 0)
    lines = [line.split("\t") for line in cli("lease", "list").stdout.splitlines()]
    assert lines[1][2:4] == ["5", "5,000 sat"] and lines[2][2:4] == ["1", "- of 1,000 sat"]


def test_watch_says_it_started_and_ctrl_c_is_130(cli, home):
    w = run_cli("watch", "--count", "1", "--interval", "7",
                env={**os.environ, "CLOUDLEASE_HOME": str(home)})
    assert w.returncode == 0 and "watching: a tick every 7 s, 1 in all; Ctrl-C stops" \
        in w.stderr
    p = Pty([sys.executable, "-m", "cloudlease", "watch", "--interval", "0.5", "--quiet"],
            {**os.environ, "CLOUDLEASE_HOME": str(home), "NO_COLOR": "1"})
    p.read_until("Ctrl-C stops", timeout=120)
    p.send(b"\x03")
    code = p.wait(120)
    assert code == 130, (code, p.text()[-2000:])
    assert "stopped after" in p.text() and "Traceback" not in p.text()


def test_pool_fund_takes_no_wait(cli, home):
    cli("tenant", "add", "alice")
    cli("pool", "add", "gpu", "--slots", "1", "--cost-per-hour", "1 sat", "--consideration",
        "ownership", "--investor-pct", "10")
    fund = cli.json("pool", "fund", "gpu", "--tenant", "alice", "--amount", "5000 sat",
                    "--no-wait")
    assert fund["payment"]["amount_sats"] == 5000


def test_invoices_say_draft_once_and_why_no_fiat_total(cli, home, monkeypatch):
    from tests.test_invoices import set_operator

    set_operator(home, "Rack & Stack", "1 Main St")
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-03-01T10:00:00Z")
    cli("tenant", "add", "alice")
    cli("rent", "--hours", "1", "--tenant", "alice", "--method", "onchain")
    cli("devchain", "pay", "P-1")
    cli("devchain", "mine")
    cli("tick")
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-04-02T10:00:00Z")
    out = cli("invoice", "create", "--tenant", "alice", "--period", "2026-03").stdout
    first = out.splitlines()[0]
    assert first.startswith("Draft invoice D-1: alice") and first.count("raft") == 1
    assert "no fiat total: priced in bitcoin, with no exchange rate locked" in out
    md = cli("invoice", "show", "D-1", "--format", "md").stdout
    assert "No total in fiat: the prices were in bitcoin" in md


def test_a_missing_home_is_exit_5_and_never_made(tmp_path, monkeypatch):
    user = tmp_path / "user"
    monkeypatch.delenv("CLOUDLEASE_HOME")
    env = {k: v for k, v in os.environ.items() if k != "CLOUDLEASE_HOME"}
    env.update(HOME=str(user), XDG_DATA_HOME=str(user / "data"))
    default = user / "data" / "cloudlease"
    for args in (["tick"], ["verify"], ["lease", "list"], ["pay", "check"],
                 ["rent", "--hours", "2"]):  # rent off a terminal: not the quick start
        proc = run_cli(*args, env=env)
        assert proc.returncode == 5, (args, proc.stderr)
        assert str(default) in proc.stderr and proc.stderr.count("\n") == 1
    assert not default.exists()
    explicit = tmp_path / "there"
    proc = run_cli("tick", env={**env, "CLOUDLEASE_HOME": str(explicit)})
    assert proc.returncode == 5 and str(explicit) in proc.stderr and not explicit.exists()
    p = Pty([sys.executable, "-m", "cloudlease", "rent", "--hours", "1"], env)
    p.read_until("Ctrl-C stops waiting", timeout=120)  # the quick start makes it
    p.send(b"\x03")
    assert p.wait(120) == 130 and (default / "ledger.db").exists()


def test_a_second_host_is_told_it_attached_and_that_its_devchain_is_its_own(
        cli, pg_database, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_LEDGER_URL", pg_database)
    first = cli("init", "--xpub", VPUB).stdout
    assert "made the shared ledger" in first and "this host's own" in first
    monkeypatch.setenv("CLOUDLEASE_HOME", str(tmp_path / "host2"))
    second = cli("init", "--xpub", VPUB).stdout
    assert "attached to the shared ledger" in second and "this host's own" in second
    cli("rent", "--hours", "1", "--method", "onchain")
    paid = cli("devchain", "pay", "P-1")
    assert "other hosts on the shared ledger never see this payment" in paid.stderr
    assert Path(tmp_path / "host2" / "config.toml").exists()
