"""What machines are made from, through the CLI: the [provision] table of config.toml,
tenants' SSH keys (tenant add|edit --ssh-key/--ssh-key-file) and plans' limits (plan add
--cpus/--memory/--pids), with every bad input refused (exit 2 or 5) and nothing stored."""

from __future__ import annotations

import json

import pytest

from tests.machine_helpers import OTHER, PUB, set_provision


# --- config ------------------------------------------------------------------------------
def test_the_templates_provision_table_is_the_packages_defaults(home):
    """init's config.toml shows [provision] with the values the drivers default to, so
    the file and the code never tell two stories."""
    import tomllib

    from cloudlease import config
    from cloudlease.config.provision import ProvisionSettings

    table = tomllib.loads((home / "config.toml").read_text())["provision"]
    assert table["driver"] == "none" and len(table) >= 8
    settings = config.load(home / "config.toml")
    assert settings.provision == ProvisionSettings()


@pytest.mark.parametrize("raw,fragment", [
    ({"driver": "vm"}, "provision.driver: got 'vm'; expected one of"),
    ({"driver": "command"}, 'provision.command: is empty but provision.driver = "command"'),
    ({"driver": "ssh-account", "port_min": 80}, "provision.port_min: got 80; expected a whole "
                                                "number from 1024"),
    ({"driver": "none", "colour": "red"}, "provision.colour: unknown key"),
    ({"driver": "ssh-account", "uid_min": 1000},
     "provision.uid_min: got 1000; expected a whole number from 65536 to"),
    ({"driver": "ssh-account", "uid_max": 2**32},
     "provision.uid_max: got 4294967296; expected a whole number from 65536 to"),
    ({"driver": "ssh-account", "uid_min": 3_000_000, "uid_max": 2_000_000},
     "provision.uid_min: 3000000 is more than provision.uid_max (2000000)"),
    ({"driver": "ssh-account", "uid_min": "1000000"},
     "provision.uid_min: got '1000000'; expected a whole number"),
])
def test_a_bad_provision_table_is_refused_naming_the_key(cli, home, raw, fragment):
    set_provision(home, **raw)
    err = cli.json("lease", "list", code=5)
    assert err["code"] == "config_invalid" and fragment in err["message"]
    assert "config.toml:provision." in err["message"]


# --- tenant keys ---------------------------------------------------------------------------
def test_tenant_keys_are_stored_shown_and_replaced(cli, home, tmp_path):
    t = cli.json("tenant", "add", "alice", "--ssh-key", PUB)
    assert [k["key"] for k in t["ssh_keys"]] == [PUB]
    assert t["ssh_keys"][0]["type"] == "ssh-ed25519"
    assert t["ssh_keys"][0]["fingerprint"].startswith("SHA256:")
    keyfile = tmp_path / "bob.pub"
    keyfile.write_text(OTHER + "\n")
    t = cli.json("tenant", "edit", "alice", "--ssh-key-file", str(keyfile), "--ssh-key", PUB,
                 "--ssh-key", PUB)  # the same key twice counts once
    assert [k["key"] for k in t["ssh_keys"]] == [PUB, OTHER]
    assert "ssh key ssh-ed25519 SHA256:" in cli("tenant", "show", "alice").stdout
    t = cli.json("tenant", "edit", "alice", "--no-ssh-keys")
    assert t["ssh_keys"] == []
    via_stdin = cli("tenant", "add", "carol", "--ssh-key-file", "-", "--json", input=PUB)
    assert json.loads(via_stdin.stdout)["ssh_keys"][0]["key"] == PUB


PRIVATE = ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"
           "AAAAAAAAABAAAAMwAAAAtzc2gtZWQ\n-----END OPENSSH PRIVATE KEY-----\n")


@pytest.mark.parametrize("key,fragment", [
    (f'command="/bin/sh" {PUB}', "options"),
    (f"environment=\"A=1\" {PUB}", "options"),
    (f"{PUB}\n{OTHER}", "one line"),
    (PUB.replace(" t@x", " t\x07x"), "control characters"),
    ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "known type"),
    ("ssh-ed25519 not!base64", "not base64"),
    ("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAAAgQC", "key"),
    ("", "empty"),
    (PRIVATE, "private key"),
])
def test_bad_keys_are_refused_with_exit_2_and_nothing_stored(cli, home, key, fragment):
    cli("tenant", "add", "alice")
    before = cli.ledger_snapshot()
    for args in (["tenant", "add", "bob", "--ssh-key", key],
                 ["tenant", "edit", "alice", "--ssh-key", key]):
        err = cli.json(*args, code=2)
        assert fragment in err["message"], err["message"]
        assert "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU" not in err["message"]  # never echoed
    assert cli.ledger_snapshot() == before


def test_key_files_and_edit_usage_errors(cli, home, tmp_path):
    cli("tenant", "add", "alice")
    before = cli.ledger_snapshot()
    private = tmp_path / "id_ed25519"
    private.write_text(PRIVATE)
    binary = tmp_path / "blob"
    binary.write_bytes(b"\xff\xfe\x00junk")
    big = tmp_path / "big.pub"
    big.write_text("x" * 70_000)
    cases = [(["--ssh-key-file", str(tmp_path / "missing.pub")], "cannot read"),
             (["--ssh-key-file", str(private)], "private key"),
             (["--ssh-key-file", str(binary)], "not a text file"),
             (["--ssh-key-file", str(big)], "larger than"),
             (["--no-ssh-keys", "--ssh-key", PUB], "cannot go with"),
             ([], "nothing to change")]
    for args, fragment in cases:
        err = cli.json("tenant", "edit", "alice", *args, code=2)
        assert fragment in err["message"], (args, err["message"])
    assert cli.json("tenant", "edit", "nobody", "--ssh-key", PUB, code=3)["code"] == "not_found"
    assert cli.ledger_snapshot() == before


# --- plan limits ---------------------------------------------------------------------------
def test_plan_limits_are_stored_and_listed(cli, home):
    p = cli.json("plan", "add", "small", "--price-per-hour", "1000 sat", "--cpus", "0.5",
                 "--memory", "256M", "--pids", "64")
    assert p["limits"] == {"cpus": "0.5", "memory_bytes": 256 * 2**20, "pids": 64}
    listed = {x["name"]: x["limits"] for x in cli.json("plan", "list")}
    assert listed["small"] == p["limits"]
    assert listed["standard"] == {"cpus": None, "memory_bytes": None, "pids": None}
    assert "256M" in cli("plan", "list").stdout
    out = cli("plan", "add", "big", "--price-per-hour", "9000 sat", "--memory", "2G").stdout
    assert "machines limited to 2G memory" in out
    out = cli("plan", "add", "tiny", "--price-per-hour", "900 sat", "--cpus", "0.25",
              "--pids", "32", "--memory", "64M").stdout
    assert "machines limited to 0.25 CPU, 64M memory, 32 processes" in " ".join(out.split())


@pytest.mark.parametrize("args,fragment", [
    (["--cpus", "0"], "--cpus must be from"), (["--cpus", "half"], "--cpus must be"),
    (["--cpus", "NaN"], "--cpus must be"), (["--memory", "1.5G"], "--memory must be"),
    (["--memory", "1M"], "from 16M"), (["--pids", "-1"], "--pids must be"),
    (["--pids", "3"], "--pids must be from"),
])
def test_bad_plan_limits_are_refused(cli, home, args, fragment):
    before = cli.ledger_snapshot()
    err = cli.json("plan", "add", "small", "--price-per-hour", "1000 sat", *args, code=2)
    assert fragment in err["message"]
    assert cli.ledger_snapshot() == before
