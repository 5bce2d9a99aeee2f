"""The lxd driver's settings, a plan's placement, the ledger upgrade that gave plans one,
and the driver's pure parts (limits, capacity arithmetic). No cluster needed."""

from __future__ import annotations

import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from cloudlease.config.provision import parse_section
from cloudlease.core.errors import LedgerError
from cloudlease.provision.base import Limits
from cloudlease.provision.lxd import cpu_allowance, limits_config
from cloudlease.provision.lxd_fit import eligible, no_room, used_ports
from tests.lxd_parts import configure

DATA = Path(__file__).parent / "data"
CLUSTER = {"url": "/run/lxd-test/unix.socket", "image": "img"}


def bad(raw: dict, where: str = "config.toml") -> str:
    with pytest.raises(LedgerError) as err:
        parse_section(raw, where)
    assert err.value.exit_code == 5
    return err.value.message


def test_defaults_and_a_full_table():
    s = parse_section({"driver": "lxd", "port_min": 23000, "port_max": 23010,
                       "lxd": {"image": "cl-debian"}})
    assert s.lxd.url == "/var/lib/lxd/unix.socket" and s.lxd.project == "default"
    assert (s.lxd.port_min, s.lxd.port_max) == (23000, 23010)  # from [provision]
    assert s.lxd.profiles == ("default",) and s.lxd.target == "" and not s.check_capacity
    s = parse_section({"driver": "lxd", "check_capacity": True, "lxd": {
        "image": "a38c199cc1f5", "project": "tenants", "profiles": [], "target": "@fast",
        "ssh_listen": "0.0.0.0", "port_min": 2000, "port_max": 2001}})
    assert s.check_capacity and s.lxd.profiles == () and s.lxd.target == "@fast"


@pytest.mark.parametrize("raw, says", [
    ({"driver": "lxd"}, "provision.lxd.image: is empty but provision.driver = \"lxd\""),
    ({"lxd": {"imag": "x"}}, "provision.lxd.imag: unknown key (allowed: client_cert"),
    ({"lxd": "x"}, "provision.lxd: must be a table"),
    ({"lxd": {"url": "http://h:8443"}}, "provision.lxd.url: must be the path of LXD's unix"),
    ({"lxd": {"url": "relative.socket"}}, "provision.lxd.url: must be the path"),
    ({"lxd": {"url": "https://u:p@h:8443"}}, "provision.lxd.url: must be https://host:port"),
    ({"lxd": {"url": "https://h:8443"}}, "provision.lxd.client_cert: is required"),
    ({"lxd": {"client_key": "k.pem"}}, "provision.lxd.client_key: only applies to an https"),
    ({"lxd": {"project": "a b"}}, "provision.lxd.project: must be an LXD project name"),
    ({"lxd": {"image": "bad image"}}, "provision.lxd.image: must be an image alias"),
    ({"lxd": {"profiles": "default"}}, "provision.lxd.profiles: must be a list of names"),
    ({"lxd": {"profiles": ["ok", "no way"]}}, "provision.lxd.profiles: must be a list"),
    ({"lxd": {"target": "@"}}, "provision.lxd.target: must be empty (the cluster places)"),
    ({"lxd": {"ssh_listen": "localhost"}}, "provision.lxd.ssh_listen: must be an IP"),
    ({"lxd": {"port_min": 80}}, "provision.lxd.port_min: must be from 1024 to 65535"),
    ({"lxd": {"port_min": 3000, "port_max": 2000}}, "provision.lxd.port_min: 3000 is more"),
    ({"lxd": {"port_max": "9"}}, "provision.lxd.port_max: must be a whole number"),
    ({"check_capacity": "yes"}, "provision.check_capacity: must be true or false"),
])
def test_a_bad_key_is_exit_5_naming_it(raw, says):
    message = bad(raw)
    assert message.startswith(f"config.toml:{says}"), message
    assert "\n" not in message


def test_https_needs_0600_pem_files_relative_to_the_config(tmp_path: Path):
    cfg = tmp_path / "config.toml"
    for name in ("client.crt", "client.key", "server.crt"):
        (tmp_path / name).write_text("-----BEGIN CERTIFICATE-----\nx\n")
        (tmp_path / name).chmod(0o600)
    raw = {"driver": "lxd", "lxd": {"image": "i", "url": "https://10.0.0.1:8443",
                                    "client_cert": "client.crt", "client_key": "client.key",
                                    "server_cert": "server.crt"}}
    s = parse_section(raw, str(cfg))
    assert s.lxd.https and s.lxd.client_key == str(tmp_path / "client.key")
    (tmp_path / "client.key").chmod(0o644)
    assert bad(raw, str(cfg)) == (
        f"{cfg}:provision.lxd.client_key: {tmp_path / 'client.key'} can be read by others "
        f"(mode 0644); run `chmod 600 {tmp_path / 'client.key'}`")
    (tmp_path / "client.key").chmod(0o600)
    (tmp_path / "server.crt").write_text("not a certificate")
    assert bad(raw, str(cfg)).endswith("server.crt is not a PEM file")
    (tmp_path / "server.crt").unlink()
    (tmp_path / "server.crt").symlink_to(tmp_path / "client.crt")
    assert "is not a regular file (a symlink is refused)" in bad(raw, str(cfg))
    os.unlink(tmp_path / "client.crt")
    assert bad(raw, str(cfg)).endswith("client.crt does not exist")


def test_a_bad_lxd_table_stops_every_command_with_exit_5(cli, home: Path):
    configure(home, CLUSTER, image="bad image")
    err = cli.json("lease", "list", code=5)
    assert err["message"].endswith("config.toml:provision.lxd.image: must be an image alias or "
                                   "fingerprint, got 'bad image'")
    assert cli.json("verify", code=5)["code"] == "config_invalid"


def test_plan_target_add_edit_and_bad_values(cli, home: Path):
    plan = cli.json("plan", "add", "small", "--price-per-hour", "1000 sat", "--target", "m2")
    assert plan["target"] == "m2"
    assert "placed on m2" in cli("plan", "add", "b", "--price-per-hour", "1000 sat",
                                 "--target", "m2").stdout
    assert cli.json("plan", "edit", "small", "--target", "@fast")["target"] == "@fast"
    assert cli.json("plan", "edit", "small", "--no-target")["target"] is None
    before = cli.ledger_snapshot()
    for args, says in ((["--target", "two words"], "--target must be a cluster member's"),
                       (["--target", "@"], "--target must be a cluster member's"),
                       ([], "nothing to change"),
                       (["--target", "m1", "--no-target"], "exclude each other")):
        err = cli.json("plan", "edit", "small", *args, code=2)
        assert says in err["message"]
    assert cli.json("plan", "edit", "nope", "--target", "m1", code=3)["code"] == "not_found"
    assert cli.json("plan", "add", "c", "--price-per-hour", "1000 sat", "--target", "a/b",
                    code=2)["message"].startswith("--target must be")
    assert cli.ledger_snapshot() == before


def test_a_schema_1_ledger_is_upgraded_once_and_verifies(cli, isolated: Path):
    shutil.copytree(DATA / "ledger-v1", isolated)
    for f in isolated.iterdir():
        f.chmod(0o600)
    plans = {p["name"]: p for p in cli.json("plan", "list")}
    assert plans["small"]["limits"]["pids"] == 64 and plans["small"]["target"] is None
    assert cli.json("plan", "edit", "small", "--target", "m1")["target"] == "m1"
    assert cli.json("lease", "show", "L-1")["status"] == "awaiting_payment"
    cli("verify", "--full")
    import sqlite3

    con = sqlite3.connect(isolated / "ledger.db")
    try:
        commands = [r[0] for r in con.execute("SELECT command FROM audit ORDER BY seq")]
        version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    finally:
        con.close()
    from cloudlease.ledger.schema import SCHEMA_VERSION

    assert version == (str(SCHEMA_VERSION),)
    assert commands.count(f"ledger upgrade: schema 1 -> {SCHEMA_VERSION}") == 1


def test_limits_in_lxd_terms():
    assert cpu_allowance(Decimal("0.5")) == "50ms/100ms"
    assert cpu_allowance(Decimal("2")) == "200ms/100ms"
    assert cpu_allowance(Decimal("0.333")) == "333ms/1000ms"
    assert limits_config(Limits(Decimal("0.25"), 64 * 2**20, 32)) == {
        "limits.cpu.allowance": "25ms/100ms", "limits.memory": str(64 * 2**20),
        "limits.memory.swap": "false", "limits.processes": "32"}
    assert limits_config(Limits())["limits.memory"] == ""  # unset: no limit


class FakeCluster:
    """What no_room reads: members, instances, resources."""

    def __init__(self, members, instances, resources):
        self._members, self._instances, self._resources = members, instances, resources

    def members(self):
        return self._members

    def instances(self):
        return self._instances

    def resources(self, member):
        return self._resources[member]


def test_room_counts_what_instances_were_promised():
    gib = 2**30
    members = [{"server_name": "m1", "status": "Online", "groups": ["default"]},
               {"server_name": "m2", "status": "Online", "groups": ["default", "fast"]},
               {"server_name": "m3", "status": "Offline", "groups": ["fast"]}]
    instances = [{"location": "m1", "config": {"limits.memory": str(3 * gib),
                                               "limits.cpu.allowance": "150ms/100ms"},
                  "devices": {"ssh": {"type": "proxy", "listen": "tcp:0.0.0.0:22001"}}},
                 {"location": "m2", "config": {}, "devices": {"root": {"type": "disk"}}}]
    res = {"m1": {"memory": {"total": 4 * gib, "used": gib}, "cpu": {"total": 2}},
           "m2": {"memory": {"total": 4 * gib, "used": 3 * gib}, "cpu": {"total": 2}}}
    api = FakeCluster(members, instances, res)
    assert [m["server_name"] for m in eligible(members, "@fast")] == ["m2"]
    assert [m["server_name"] for m in eligible(members, "m1")] == ["m1"]
    assert eligible(members, "m3") == []
    assert no_room(api, Limits(memory_bytes=gib), "") is None  # m1: 1 GiB left of promises
    assert no_room(api, Limits(memory_bytes=gib, cpus=Decimal(1)), "") is None  # m2
    assert no_room(api, Limits(memory_bytes=2 * gib), "") == (
        "no room on the cluster for 2048 MiB memory (m1: 1024 MiB memory free; m2: 1024 MiB "
        "memory free)")
    assert no_room(api, Limits(cpus=Decimal(1)), "m1") == (
        "no room on target m1 for 1 CPUs (m1: 0.5 CPUs free)")
    assert no_room(api, Limits(), "m3") == (
        "no online member for target m3 (members: m1 (online), m2 (online), m3 (offline))")
    assert used_ports(instances) == {22001}
