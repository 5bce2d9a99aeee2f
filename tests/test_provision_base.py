"""Pure parts of provisioning: key and limit checks, [provision] settings, the Machine
record and reconcile's choice of method."""

from __future__ import annotations

import base64
import json
import struct
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cloudlease.config.provision import ProvisionSettings, parse_section
from cloudlease.core import machine_inputs as keys
from cloudlease.core.errors import BadValue, ExitCode, LedgerError
from cloudlease.provision.base import (
    Limits,
    Machine,
    MachineSpec,
    State,
    Want,
    make_driver,
    one_line,
    reconcile,
)
from cloudlease.provision.cgroups import cpu_quota_us


def _blob(*fields: bytes) -> str:
    return base64.b64encode(b"".join(struct.pack(">I", len(f)) + f for f in fields)).decode()


ED = f"ssh-ed25519 {_blob(b'ssh-ed25519', bytes(32))} alice@laptop"
SK = f"sk-ssh-ed25519@openssh.com {_blob(b'sk-ssh-ed25519@openssh.com', bytes(32), b'ssh:')}"
SK_EC = ("sk-ecdsa-sha2-nistp256@openssh.com "
         + _blob(b"sk-ecdsa-sha2-nistp256@openssh.com", b"nistp256", b"\x04" + bytes(64),
                 b"ssh:"))


# --- SSH keys -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, bits", [("ed25519", None), ("rsa", "3072"), ("ecdsa", "256"),
                                        ("ecdsa", "384"), ("ecdsa", "521")])
def test_real_keys_of_each_type_pass(tmp_path: Path, kind: str, bits: str | None):
    key = tmp_path / "k"
    args = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "me@host", "-f", str(key)]
    subprocess.run(args + (["-b", bits] if bits else []), check=True, timeout=60)
    line = key.with_suffix(".pub").read_text()
    assert keys.ssh_public_key(line) == line.strip()
    assert keys.authorized_keys_line(line) == "restrict,pty " + line.strip()


def test_security_key_types_pass():
    assert keys.ssh_public_key(SK) == SK
    assert keys.ssh_public_key(SK_EC) == SK_EC


@pytest.mark.parametrize("text, message", [
    ("", "must not be empty"),
    (f'command="/bin/sh" {ED}', "options (command=, environment=, from=...) are not allowed"),
    (f'environment="LD_PRELOAD=/x" {ED}', "are not allowed"),
    (f"from=\"10.0.0.1\",no-pty {ED}", "are not allowed"),
    (f"{ED}\n{ED}", "must be one line"),
    (f"{ED}\rrestrict", "must be one line"),
    (f"{ED} \x1b[31mred", "control characters"),
    ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "known type"),
    ("ssh-ed25519", "no base64 body"),
    ("ssh-ed25519 not*base64", "not base64"),
    ("ssh-ed25519 QUFBQQ=", "not valid base64"),
    (f"ssh-rsa {_blob(b'ssh-ed25519', bytes(32))}", "holds a 'ssh-ed25519' key"),
    (f"ssh-ed25519 {_blob(b'ssh-ed25519', bytes(31))}", "wrong length"),
    (f"ssh-ed25519 {_blob(b'ssh-ed25519', bytes(32), b'x')}", "wrong shape"),
    (f"ecdsa-sha2-nistp256 {_blob(b'ecdsa-sha2-nistp256', b'nistp384', bytes(97))}",
     "names another curve"),
    ("ssh-rsa " + _blob(b"ssh-rsa", bytes([1, 0, 1]), bytes([0]) + bytes([0xff]) * 128),
     "at least 2048 bits"),
    ("ssh-ed25519 " + base64.b64encode(b"\x00\x00\x00\xffssh").decode(), "truncated"),
    (f"{ED} {'c' * 201}", "comment must be at most 200"),
])
def test_bad_keys_are_refused_with_one_line(text: str, message: str):
    with pytest.raises(BadValue) as exc:
        keys.ssh_public_key(text)
    assert message in exc.value.message and "\n" not in exc.value.message
    assert exc.value.exit_code == ExitCode.USAGE


def test_a_trailing_newline_is_fine():
    assert keys.ssh_public_key(ED + "\n") == ED
    assert keys.ssh_public_key(ED + "\r\n") == ED


# --- limits ---------------------------------------------------------------------------------
def test_limits_parse():
    assert keys.parse_limits("0.5", "256M", "64") == Limits(Decimal("0.5"), 256 * 2**20, 64)
    assert keys.parse_limits() == Limits()
    assert keys.parse_cpus("2") == Decimal(2) and str(keys.parse_cpus("10")) == "10"
    assert str(keys.parse_cpus("0.50")) == "0.5"
    assert keys.parse_memory("1g") == 2**30 and keys.parse_memory("512MiB") == 512 * 2**20
    assert keys.parse_memory("16777216") == 16 * 2**20
    assert keys.format_memory(256 * 2**20) == "256M"


@pytest.mark.parametrize("cpus, memory, pids, message", [
    ("0", None, None, "--cpus must be from 0.01"), ("-1", None, None, "--cpus must be a"),
    ("1e3", None, None, "--cpus must be a"), ("NaN", None, None, "--cpus must be a"),
    ("٣", None, None, "--cpus must be a"), ("0.0001", None, None, "--cpus must be a"),
    ("2000", None, None, "--cpus must be from"), (None, "1M", None, "--memory must be from 16M"),
    (None, "12X", None, "--memory must be a size"), (None, "1.5G", None, "--memory must be"),
    (None, "99T", None, "--memory must be from"), (None, None, "4", "--pids must be from 8"),
    (None, None, "6.5", "--pids must be a whole"), (None, None, "١٠", "--pids must be a whole"),
])
def test_bad_limits(cpus, memory, pids, message):
    with pytest.raises(BadValue, match=message.replace(".", r"\.")):
        keys.parse_limits(cpus, memory, pids)


def test_cpu_quota_in_whole_microseconds():
    assert cpu_quota_us(Decimal("0.5")) == 50_000
    assert cpu_quota_us(Decimal("0.333")) == 33_300
    assert cpu_quota_us(Decimal("0.01")) == 1_000
    assert cpu_quota_us(Decimal("2")) == 200_000


# --- settings -------------------------------------------------------------------------------
def test_settings_defaults_and_a_full_table():
    assert parse_section(None) == ProvisionSettings()
    s = parse_section({"driver": "podman", "image": "localhost/t:1", "network": "podman",
                       "ssh_host": "vm.example.net", "timeout_seconds": 5, "port_min": 30000,
                       "port_max": 30009, "runtime": "runc"})
    assert (s.driver, s.public_host, s.timeout_seconds) == ("podman", "vm.example.net", 5.0)
    assert s.state_path("/h") == Path("/h/provision")
    assert parse_section({"state_dir": "/srv/cl"}).state_path("/h") == Path("/srv/cl")
    assert parse_section({"state_dir": "machines"}).state_path("/h") == Path("/h/machines")


@pytest.mark.parametrize("raw, message", [
    ({"drivr": "none"}, "provision.drivr: unknown key (did you mean 'driver'?"),
    ({"driver": "vm"}, "provision.driver: got 'vm'; expected one of none, command, "
                       "ssh-account, podman"),
    ({"driver": "command"}, 'provision.command: is empty but provision.driver = "command"'),
    ({"driver": "podman"}, "provision.image: is empty but provision.driver = \"podman\""),
    ({"port_min": "22000"}, "provision.port_min: got '22000'; expected a whole number"),
    ({"port_min": True}, "provision.port_min: got true; expected a whole number"),
    ({"port_min": 80}, "provision.port_min: got 80; expected a whole number from 1024 to "
                       "65535"),
    ({"port_min": 30000, "port_max": 29999},
     "provision.port_min: 30000 is more than provision.port_max (29999)"),
    ({"listen_address": "localhost"}, "provision.listen_address: got 'localhost'; expected "
                                      "an IP address"),
    ({"timeout_seconds": 0}, "provision.timeout_seconds: got 0; expected seconds, more than 0 "
                             "and at most 3600"),
    ({"state_dir": "~/cl"}, "provision.state_dir: got '~/cl'; ~ is not expanded"),
    ({"state_dir": "/tmp/cl"}, "provision.state_dir: /tmp/cl is under /tmp"),
    ({"state_dir": "/dev/shm"}, "provision.state_dir: /dev/shm is under /dev/shm"),
    ({"cgroup": "v3"}, "provision.cgroup: got 'v3'; expected one of auto, v1, v2"),
    ({"cgroup_parent": "../escape"}, "provision.cgroup_parent: got '../escape'; expected a "
                                     "relative cgroup path"),
    ({"network": "--privileged"}, "provision.network: got '--privileged'; expected none or a "
                                  "podman network"),
    ({"private_tmp": "yes"}, "provision.private_tmp: got 'yes'; expected true or false"),
    ({"ulimit_nofile": 10}, "provision.ulimit_nofile: got 10; expected a whole number from 64"),
    ({"command": "x 'y"}, "provision.command: cannot be split into words"),
])
def test_bad_settings_name_the_key(raw, message):
    with pytest.raises(LedgerError) as exc:
        parse_section(raw)
    assert exc.value.message.startswith("config.toml:provision")
    assert message in exc.value.message, exc.value.message
    assert exc.value.exit_code == ExitCode.LEDGER


def test_make_driver_is_lazy_and_none_means_none(tmp_path):
    assert make_driver(ProvisionSettings(), tmp_path) is None
    driver = make_driver(parse_section({"driver": "command", "command": "true"}), tmp_path)
    assert driver.name == "command"


def test_importing_the_package_stays_light():
    """config.py reads [provision] on every command: that must not load the drivers."""
    def loaded(statement: str) -> list[str]:
        code = (f"import sys; {statement}; "
                "print(sorted(m for m in sys.modules if m.startswith(('rich', 'typer', "
                "'requests', 'cloudlease.provision.'))))")
        out = subprocess.run([__import__("sys").executable, "-c", code], capture_output=True,
                             text=True, check=True).stdout
        return json.loads(out.replace("'", '"'))

    assert loaded("import cloudlease.provision") == []
    assert loaded("import cloudlease.config as c; c.parse({})") == []
    assert loaded("from cloudlease.provision.base import Want") == [
        "cloudlease.provision.base"]


# --- the record -----------------------------------------------------------------------------
def test_machine_round_trips_as_json():
    m = Machine("ssh-account", State.READY, {"host": "h", "port": 22001, "user": "cl-l-7"},
                None, {"port": 22001, "ends_at": "2030-01-01T00:00:00Z"},
                datetime(2030, 1, 1, tzinfo=UTC))
    raw = json.loads(json.dumps(m.to_dict()))
    assert raw["state"] == "ready" and raw["updated_at"] == "2030-01-01T00:00:00Z"
    assert Machine.from_dict(raw) == m
    assert Machine.pending("podman").state is State.PENDING
    assert one_line("a\nb\tc\x1b" + "x" * 400).startswith("a b c") and \
        len(one_line("x" * 400)) == 300


class Recorder:
    name = "fake"

    def __init__(self):
        self.calls = []

    def __getattr__(self, action):
        def call(spec, current):
            self.calls.append(action)
            return Machine("fake", State.READY, details={"ends_at": "x"})
        return call


SPEC = MachineSpec("L-1", None, (), Limits(), datetime(2030, 1, 1, tzinfo=UTC), "p")


@pytest.mark.parametrize("state, want, expected", [
    (None, Want.READY, "provision"), (State.PENDING, Want.READY, "provision"),
    (State.FAILED, Want.READY, "provision"), (State.SUSPENDED, Want.READY, "resume"),
    (State.READY, Want.SUSPENDED, "suspend"), (State.FAILED, Want.SUSPENDED, "suspend"),
    (State.SUSPENDED, Want.SUSPENDED, None), (State.READY, Want.RELEASED, "release"),
    (State.FAILED, Want.RELEASED, "release"), (State.PENDING, Want.RELEASED, "release"),
    (State.RELEASED, Want.RELEASED, None), (None, Want.RELEASED, None),
])
def test_reconcile_picks_the_method(state, want, expected):
    driver = Recorder()
    current = None if state is None else Machine("fake", state,
                                                  details={"ends_at": "2030-01-01T00:00:00Z"})
    out = reconcile(driver, SPEC, current, want)
    assert driver.calls == ([expected] if expected else [])
    assert (out is None) == (expected is None)


def test_reconcile_extends_when_the_end_moved():
    driver = Recorder()
    current = Machine("fake", State.READY, details={"ends_at": "2030-01-01T00:00:00Z"})
    assert reconcile(driver, SPEC, current, Want.READY) is None
    later = MachineSpec(**{**SPEC.__dict__, "ends_at": SPEC.ends_at + timedelta(hours=2)})
    reconcile(driver, later, current, Want.READY)
    assert driver.calls == ["extend"]


@pytest.mark.parametrize("doc", ["config", "readme"])
def test_documented_provision_tables_parse(doc):
    import re
    import tomllib

    from cloudlease.config import provision as config
    from tests.conftest import REPO

    text = (config.__doc__ if doc == "config"
            else (REPO / "examples" / "provision" / "README.md").read_text())
    block = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    raw = tomllib.loads(block, parse_float=Decimal)
    assert parse_section(raw["provision"], "doc").driver == "ssh-account"
