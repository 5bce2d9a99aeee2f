"""init, tenant, plan, rent, lease: happy paths, --json shapes, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

MAINNET = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
REGTEST_BAD_CHECKSUM = "bcrt1qtf7ll5anqznlvl5m0dcwn4mgjvx0er8md34rg9"


def test_init_and_refuse_overwrite(cli):
    out = cli.json("init")
    assert out["network"] == "regtest" and out["backend"] == "devchain"
    assert out["starter_plan"] == "standard"
    err = cli.json("init", code=4)
    assert "--force" in err["message"]
    cli("init", "--force", "--yes")  # no leases yet: allowed
    cli("rent", "--hours", "1")
    err = cli.json("init", "--force", "--yes", code=4)
    assert "holds leases" in err["message"]


def test_config_is_commented_and_never_rewritten(cli, home):
    config = (home / "config.toml").read_text()
    assert config.count("#") > 10
    cli("rent", "--hours", "1")
    assert (home / "config.toml").read_text() == config


@pytest.mark.parametrize("args,code", [
    (["--network", "moon"], 2),
    (["--network", "mainnet"], 2),  # mainnet needs a watch-only wallet
    (["--network", "testnet", "--backend", "devchain"], 2),
    (["--currency", "dollars"], 2),
    (["--esplora-url", "ftp://x"], 2),
])
def test_init_bad_values(cli, args, code):
    err = cli.json("init", *args, code=code)
    assert err["message"]
    assert not (cli.home / "ledger.db").exists()


def test_init_refuses_what_config_toml_could_not_read_before_making_anything(cli):
    """Every option is checked as config.toml will be read, before the home, the ledger
    or the config is made; all problems at once, each naming its option."""
    err = cli.json("init", "--backend", "bitcoind", "--rpc-url", "ftp://x", code=2)
    assert err["message"] == "--rpc-url: URL must start with http:// or https://"
    assert not cli.home.exists()
    err = cli.json("init", "--currency", "dollars", "--esplora-url", "http://a b",
                   "--rpc-url", "ftp://x", code=2)
    assert [p.split(":")[0] for p in err["problems"]] == ["--currency", "--esplora-url",
                                                          "--rpc-url"]
    assert err["message"].startswith("3 options cannot be used: --currency: ")
    human = cli("init", "--network", "testnet", "--backend", "devchain", code=2)
    assert "--backend: devchain is a simulated regtest chain" in human.stderr
    assert not cli.home.exists()


def test_explicit_home_must_exist(cli, tmp_path):
    err = cli.json("lease", "list", "--home", str(tmp_path / "nowhere"), code=5)
    assert "no cloudlease ledger" in err["message"]
    assert not (tmp_path / "nowhere").exists()


def test_default_home_is_made_only_by_init_or_the_quick_start(monkeypatch, tmp_path):
    """A script or cron job (no terminal) never makes the default home: exit 5 naming it.
    ``init`` makes it (and ``rent`` at a terminal: tests/test_small_items.py)."""
    monkeypatch.delenv("CLOUDLEASE_HOME")
    default = tmp_path / "user" / "data" / "cloudlease"
    proc = run_cli("rent", "--hours", "2", "--json", "--no-wait")
    assert proc.returncode == 5 and str(default) in proc.stderr
    assert not default.exists()
    assert run_cli("init").returncode == 0
    proc = run_cli("rent", "--hours", "2", "--json", "--no-wait")
    assert proc.returncode == 0, proc.stderr
    lease = json.loads(proc.stdout)
    assert lease["status"] == "awaiting_payment" and lease["payment"]["amount_sats"] == 2000
    assert (default / "ledger.db").exists()


def test_tenants(cli, home):
    t = cli.json("tenant", "add", "alice", "--email", "a@example.com")
    assert t == {"name": "alice", "email": "a@example.com", "refund_address": None,
                 "created_at": t["created_at"], "ssh_keys": [], "billing_name": None,
                 "address": [], "country": None, "vat_id": None, "credit_sats": 0}
    cli("tenant", "add", "bob")
    assert [x["name"] for x in cli.json("tenant", "list")] == ["alice", "bob"]
    cli("rent", "--hours", "1", "--tenant", "alice")
    shown = cli.json("tenant", "show", "alice")
    assert len(shown["leases"]) == 1
    err = cli.json("tenant", "remove", "alice", code=4)
    assert "open leases" in err["message"]
    cli("tenant", "remove", "bob", "--yes")
    assert [x["name"] for x in cli.json("tenant", "list")] == ["alice"]
    cli("tenant", "add", "bob")  # a removed name can come back


@pytest.mark.parametrize("args,code,fragment", [
    (["tenant", "add", "alice"], 4, "already exists"),
    (["tenant", "add", "bad\x07name"], 2, "control characters"),
    (["tenant", "add", "tab\tname"], 2, "control characters"),
    (["tenant", "add", " "], 2, "empty"),
    (["tenant", "add", "carol", "--email", "nope"], 2, "e-mail"),
    (["tenant", "add", "carol", "--refund-address", MAINNET], 2, "mainnet"),
    (["tenant", "add", "carol", "--refund-address", REGTEST_BAD_CHECKSUM], 2, "checksum"),
    (["tenant", "show", "zed"], 3, "no tenant"),
    (["tenant", "remove", "zed"], 3, "no tenant"),
    (["plan", "add", "standard", "--price-per-hour", "1000 sat"], 4, "already exists"),
    (["plan", "add", "p", "--price-per-hour", "lots"], 2, "not an amount"),
    (["plan", "add", "p", "--price-per-hour", "0 sat"], 2, "more than zero"),
    (["plan", "add", "p", "--price-per-hour", "0.40 EUR"], 2, "USD"),
    (["rent", "--hours", "0"], 2, "at least 1"),
    (["rent", "--hours", "-3"], 2, "at least 1"),
    (["rent", "--hours", "two"], 2, "whole number"),
    (["rent", "--hours", "nan"], 2, "is not a whole number"),
    (["rent", "--hours", "inf"], 2, "is not a whole number"),
    (["rent", "--hours", "1e9"], 2, "at most"),
    (["rent", "--hours", "99999999999999999999999"], 2, "at most"),
    (["rent", "--hours", "1.5"], 2, "whole number"),
    (["rent", "--hours", "1", "--plan", "gold"], 3, "no plan"),
    (["rent", "--hours", "1", "--tenant", "zed"], 3, "no tenant"),
    (["rent", "--hours", "1", "--rate", "-5"], 2, "positive"),
    (["rent", "--hours", "1", "--idempotency-key", " x"], 2, "idempotency"),
    (["lease", "show", "L-99"], 3, "no lease"),
    (["lease", "cancel", "L-99"], 3, "no lease"),
    (["lease", "list", "--status", "paid"], 2, "unknown status"),
    (["lease", "list", "--tenant", "zed"], 3, "no tenant"),
])
def test_bad_input_clear_error_and_ledger_unchanged(cli, home, args, code, fragment):
    cli("tenant", "add", "alice")
    before = cli.ledger_snapshot()
    err = cli.json(*args, code=code)
    assert fragment in err["message"], err
    assert err["code"] and "\n" not in err["message"]
    assert cli.ledger_snapshot() == before
    human = cli(*args, code=code)
    assert human.stdout == "" and "Traceback" not in human.stderr
    assert human.stderr.startswith("error: ") and human.stderr.count("\n") == 1


def test_rent_json_shape(cli, home):
    lease = cli.json("rent", "--hours", "2")
    for key in ("id", "status", "hours", "tenant", "plan"):
        assert key in lease
    for key in ("address", "amount_sats", "uri", "expires_at", "status"):
        assert key in lease["payment"]
    assert lease["payment"]["status"] == "new"
    assert lease["payment"]["uri"].startswith(f"bitcoin:{lease['payment']['address']}?amount=")
    assert "qr" not in lease["payment"]
    shown = cli.json("lease", "show", lease["id"])
    assert "starts_at" in shown and "ends_at" in shown


def test_rent_human_output_has_qr_and_uri(cli, home):
    out = cli("rent", "--hours", "2").stdout
    assert "bitcoin:bcrt1" in out and "simulated" in out
    assert "▀" not in out  # not a terminal: no QR code unless asked
    assert "▀" in cli("rent", "--hours", "2", "--qr").stdout
    assert "\x1b[" not in out  # no ANSI when not a terminal


def test_rent_fiat_plan_locks_the_rate(cli, home):
    cli("plan", "add", "gpu", "--price-per-hour", "0.40 USD")
    lease = cli.json("rent", "--hours", "3", "--plan", "gpu")
    pay = lease["payment"]
    assert pay["fiat_amount"] == "1.20" and pay["rate"] == "100000"
    assert pay["rate_source"] == "fixed" and pay["amount_sats"] == 1200
    lease = cli.json("rent", "--hours", "1", "--plan", "gpu", "--rate", "30000")
    assert lease["payment"]["amount_sats"] == 1334  # 0.40/30000 BTC rounded up
    assert lease["payment"]["rate_source"] == "override"


def test_several_plans_need_a_choice(cli, home):
    cli("plan", "add", "gpu", "--price-per-hour", "5000 sat")
    err = cli.json("rent", "--hours", "1", code=2)
    assert "--plan" in err["message"]


def test_idempotency_key_returns_the_same_lease(cli, home):
    a = cli.json("rent", "--hours", "2", "--idempotency-key", "job-42")
    b = cli.json("rent", "--hours", "2", "--idempotency-key", "job-42")
    assert a["id"] == b["id"] and b["created"] is False
    assert a["payment"]["address"] == b["payment"]["address"]
    err = cli.json("rent", "--hours", "3", "--idempotency-key", "job-42", code=4)
    assert "job-42" in err["message"]
    assert len(cli.json("lease", "list")) == 1


def test_dry_run_writes_nothing(cli, home):
    before = cli.ledger_snapshot()
    out = cli.json("rent", "--hours", "5", "--dry-run")
    assert out["dry_run"] is True and out["price_sats"] == 5000
    assert cli.ledger_snapshot() == before
    assert not (home / "keys.toml").exists()


def test_lease_list_filters_and_cancel(cli, home):
    cli("tenant", "add", "alice")
    a = cli.json("rent", "--hours", "1", "--tenant", "alice")
    cli("rent", "--hours", "1")
    assert len(cli.json("lease", "list", "--tenant", "alice")) == 1
    cancelled = cli.json("lease", "cancel", a["id"], "--yes")
    assert cancelled["status"] == "cancelled" and cancelled["closed_at"]
    assert [x["id"] for x in cli.json("lease", "list", "--status", "cancelled")] == [a["id"]]
    assert cli.json("lease", "show", a["id"].lower())["payments"][0]["status"] == "expired"
    err = cli.json("lease", "cancel", a["id"], "--yes", code=4)
    assert "only a lease awaiting payment" in err["message"]
    assert len(cli.json("lease", "list", "--open")) == 1


def test_corrupt_ledger_is_exit_5_without_traceback(cli, home):
    (home / "ledger.db").write_bytes(b"this is not a database" * 100)
    proc = run_cli("lease", "list", env={"CLOUDLEASE_HOME": str(home)})
    assert proc.returncode == 5
    assert "not a valid cloudlease ledger" in proc.stderr and "Traceback" not in proc.stderr


def test_keystore_is_private(cli, home):
    cli("rent", "--hours", "1")
    keys = home / "keys.toml"
    assert keys.stat().st_mode & 0o777 == 0o600
    keys.chmod(0o644)
    before = cli.ledger_snapshot()
    err = cli.json("rent", "--hours", "1", code=5)
    assert "readable by others" in err["message"]
    assert cli.ledger_snapshot() == before


def test_version_and_help(cli):
    assert run_cli("--version").stdout.startswith("cloudlease ")
    out = cli("--help").stdout
    for group in ("rent", "lease", "tenant", "plan", "init", "verify"):
        assert group in out


def test_private_keys_never_in_output(cli, home):
    out = cli("rent", "--hours", "1", "--json").stdout + cli("lease", "list", "--json").stdout
    wifs = [line.split('"')[1] for line in (home / "keys.toml").read_text().splitlines()
            if line.strip().startswith("wif")]
    assert wifs and not any(w in out for w in wifs)
    stored = (home / "ledger.db").read_bytes() + cli.ledger_snapshot().encode()
    assert not any(w.encode() in stored for w in wifs)


def test_home_flag_on_the_command_and_globally(cli, tmp_path):
    other = tmp_path / "other"
    cli("init", "--home", str(other))
    cli("--home", str(other), "rent", "--hours", "1")
    assert len(cli.json("lease", "list", "--home", str(other))) == 1
    assert Path(other / "ledger.db").exists()
