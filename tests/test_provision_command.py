"""The command driver: real programs (small scripts, and the example podman driver in
examples/provision/ run for real against podman)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cloudlease.config.provision import parse_section
from cloudlease.provision.base import Limits, MachineSpec, State, Want, make_driver, reconcile
from tests.conftest import REPO
from tests.provision_parts import build_image, cleanup_host, keypair, lease_id, need, ssh

EXAMPLE = REPO / "examples" / "provision" / "podman-machine.py"
PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVr1l0y5hG4y4Tx0fQ3y8lN8lX6cR9n3B4Gk2JtY0nV t@x"
SPEC = MachineSpec("L-7", "alice", (PUB,), Limits(Decimal("0.5"), 256 * 2**20, 64),
                   datetime(2030, 1, 1, 12, tzinfo=UTC), "small")


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "machine.py"
    path.write_text(f"#!{sys.executable}\nimport json, os, sys\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def driver_for(tmp_path: Path, command: str, timeout: int = 10):
    settings = parse_section({"driver": "command", "command": command,
                              "timeout_seconds": timeout})
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return make_driver(settings, home)


def test_the_event_on_stdin_a_clean_environment_and_access_details(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_RPC_URL", "http://user:secret@127.0.0.1:8332")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nope")
    out = tmp_path / "seen.json"
    body = (f"event = json.load(sys.stdin)\n"
            f"open({str(out)!r}, 'w').write(json.dumps({{'event': event, 'env': dict(os.environ),"
            f" 'cwd': os.getcwd()}}))\n"
            "print(json.dumps({'ssh': {'host': 'vm.example.net', 'port': 2201, 'user': 'alice'},"
            " 'details': {'vm': 'vm-7'}}))")
    driver = driver_for(tmp_path, script(tmp_path, body))
    machine = driver.provision(SPEC, None)
    assert machine.state is State.READY, machine.error
    assert machine.ssh == {"host": "vm.example.net", "port": 2201, "user": "alice"}
    assert machine.details == {"vm": "vm-7", "ends_at": "2030-01-01T12:00:00Z"}
    seen = json.loads(out.read_text())
    assert seen["event"] == {"action": "provision", "lease_id": "L-7", "tenant": "alice",
                             "ssh_keys": [PUB], "limits": {"cpus": "0.5",
                                                           "memory_bytes": 268435456,
                                                           "pids": 64},
                             "ends_at": "2030-01-01T12:00:00Z", "plan": "small",
                             "current": None}
    env = seen["env"]
    assert env["CLOUDLEASE_ACTION"] == "provision" and env["CLOUDLEASE_LEASE_ID"] == "L-7"
    assert env["CLOUDLEASE_TENANT"] == "alice"
    assert "CLOUDLEASE_RPC_URL" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert set(env) <= {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "CLOUDLEASE_ACTION",
                        "CLOUDLEASE_LEASE_ID", "CLOUDLEASE_TENANT", "CLOUDLEASE_HOME", "PWD"}
    assert seen["cwd"] == str(tmp_path / "home")
    # the next call hands the recorded machine back; details survive, ssh stays when silent
    quiet = driver_for(tmp_path, script(tmp_path, "json.load(sys.stdin)"))
    suspended = quiet.suspend(SPEC, machine)
    assert suspended.state is State.SUSPENDED and suspended.ssh == machine.ssh
    assert suspended.details["vm"] == "vm-7"
    assert quiet.release(SPEC, suspended).ssh is None


@pytest.mark.parametrize("body, error", [
    ("sys.stderr.write('boom\\nno capacity left\\n'); sys.exit(3)",
     "provision: command exit 3: no capacity left"),
    ("print('not json')", "provision: command printed something that is not a JSON object"),
    ("print('[1]')", "provision: command printed JSON that is not an object"),
    ("print(json.dumps({'ssh': {'host': 'h', 'port': 0, 'user': 'u'}}))",
     "provision: command's ssh.port must be from 1 to 65535: 0"),
    ("print(json.dumps({'ssh': {'host': 'h;rm', 'port': 22, 'user': 'u'}}))",
     "provision: command's ssh.host is not a host name or address: 'h;rm'"),
    ("print(json.dumps({'ssh': {'host': 'h', 'port': 22}}))",
     "provision: command's ssh must be an object with host, port and user"),
    ("print(json.dumps({'password': 'x'}))",
     "provision: command printed an unknown key 'password' (known: ssh, details)"),
    ("print(json.dumps({'details': {'n': 1.5}}))",
     "provision: command's details must be an object of strings, whole numbers, booleans"),
    ("import time; time.sleep(5)", "provision: command timed out after 1s"),
])
def test_failures_are_a_failed_state_with_one_line(tmp_path, body, error):
    driver = driver_for(tmp_path, script(tmp_path, body), timeout=1)
    machine = driver.provision(SPEC, None)
    assert (machine.state, machine.error) == (State.FAILED, error)
    fixed = driver_for(tmp_path, script(tmp_path, "json.load(sys.stdin)"))
    assert reconcile(fixed, SPEC, machine, Want.READY).state is State.READY


def test_a_missing_program_is_a_failed_state(tmp_path):
    machine = driver_for(tmp_path, "/nonexistent/machine --flag").provision(SPEC, None)
    assert machine.state is State.FAILED
    assert machine.error == "provision: could not start '/nonexistent/machine': No such file " \
                            "or directory"


@pytest.mark.provision
def test_the_example_podman_driver_runs_for_real(tmp_path):
    need("podman", "runc", "busybox", "sshd", "ssh", "ssh-keygen")
    image = build_image(tmp_path / "image")
    key, pub = keypair(tmp_path / "keys")
    keys_dir = Path(f"/var/lib/cl-test-example-{os.getpid()}")
    command = (f"{sys.executable} {EXAMPLE} --image {image} --network podman --runtime runc "
               f"--port-min 22400 --port-max 22409 --keys-dir {keys_dir}")
    driver = driver_for(tmp_path, command, timeout=60)
    spec = MachineSpec(lease_id(), "alice", (pub,), Limits(Decimal("0.5"), 128 * 2**20, 64),
                       datetime.now(UTC) + timedelta(hours=1), "small")
    try:
        machine = reconcile(driver, spec, None, Want.READY)
        assert machine.state is State.READY, machine.error
        assert machine.ssh["host"] == "127.0.0.1" and 22400 <= machine.ssh["port"] <= 22409
        out = _login(key, machine)
        assert out.returncode == 0 and out.stdout.strip() == "hello", out.stderr
        assert reconcile(driver, spec, machine, Want.READY) is None  # nothing to do
        again = driver.provision(spec, machine)  # idempotent: the same container and port
        assert again.ssh == machine.ssh
        suspended = reconcile(driver, spec, machine, Want.SUSPENDED)
        assert suspended.state is State.SUSPENDED, suspended.error
        resumed = reconcile(driver, spec, suspended, Want.READY)
        assert resumed.state is State.READY and _login(key, resumed).returncode == 0
        released = reconcile(driver, spec, resumed, Want.RELEASED)
        assert released.state is State.RELEASED, released.error
        assert ssh(key, machine.ssh["port"], "root", "true").returncode == 255
        assert driver.release(spec, released).state is State.RELEASED
    finally:
        driver.release(spec, None)
        cleanup_host(parse_section({"driver": "podman", "image": image}), tmp_path)
        shutil.rmtree(keys_dir, ignore_errors=True)


def _login(key: Path, machine):
    import time
    for _ in range(50):
        out = ssh(key, machine.ssh["port"], machine.ssh["user"], "echo hello", timeout=20)
        if out.returncode != 255:
            return out
        time.sleep(0.1)
    return out
