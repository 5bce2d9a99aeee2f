"""The podman driver with real parts, as root: a tiny image (busybox and Debian's sshd)
imported from a tarball, a container per lease with limits, a real ``ssh`` login."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cloudlease.config.provision import parse_section
from cloudlease.provision.base import Limits, MachineSpec, State, Want, reconcile
from cloudlease.provision.podman import PodmanDriver
from tests.provision_parts import (
    build_image,
    cleanup_host,
    free_range,
    keypair,
    lease_id,
    need,
    ssh,
)

pytestmark = [pytest.mark.provision]


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    need("podman", "runc", "busybox", "sshd", "ssh", "ssh-keygen")
    base = tmp_path_factory.mktemp("podman")
    image = build_image(base)
    state = Path(f"/var/lib/cl-test-podman-{os.getpid()}")
    low, high = free_range(100)
    raw = {"driver": "podman", "state_dir": str(state), "image": image, "network": "podman",
           "runtime": "runc", "port_min": low, "port_max": high, "timeout_seconds": 60}
    settings = parse_section(raw)
    key, pub = keypair(base / "keys", "alice")
    try:
        yield {"settings": settings, "raw": raw, "home": base, "key": key, "pub": pub}
    finally:
        cleanup_host(settings, base)
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def lease(parts: dict) -> Iterator[Callable[..., tuple[PodmanDriver, MachineSpec]]]:
    made: list[tuple[PodmanDriver, MachineSpec]] = []

    def make(limits: Limits = Limits(), **raw) -> tuple[PodmanDriver, MachineSpec]:
        driver = PodmanDriver(parse_section({**parts["raw"], **raw}), parts["home"])
        spec = MachineSpec(lease_id(), "alice", (parts["pub"],), limits,
                           datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1),
                           "small")
        made.append((driver, spec))
        return driver, spec

    yield make
    for driver, spec in made:
        assert driver.release(spec, None).state is State.RELEASED


def login(parts: dict, machine, command: str, attempts: int = 50):
    """ssh into the container, waiting for its sshd to come up (it starts with it)."""
    for _ in range(attempts):
        out = ssh(parts["key"], machine.ssh["port"], machine.ssh["user"], command, timeout=20)
        if out.returncode != 255:
            return out
        import time
        time.sleep(0.1)
    return out


def inspect(name: str) -> dict:
    return json.loads(subprocess.run(["podman", "container", "inspect", name],
                                     capture_output=True, check=True).stdout)[0]


def test_container_with_limits_login_suspend_resume_release(parts, lease):
    driver, spec = lease(Limits(cpus=Decimal("0.5"), memory_bytes=100 * 2**20, pids=32))
    machine = driver.provision(spec, None)
    assert machine.state is State.READY, machine.error
    assert machine.ssh == {"host": "127.0.0.1", "port": machine.details["port"], "user": "root"}
    out = login(parts, machine, "hostname; cat /root/.ssh/authorized_keys")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [machine.details["container"],
                                       f"restrict,pty {parts['pub']}"]
    hc = inspect(machine.details["container"])["HostConfig"]
    assert (hc["CpuQuota"], hc["CpuPeriod"]) == (50000, 100000)
    assert hc["Memory"] == 100 * 2**20 and hc["PidsLimit"] == 32
    # dd's buffer is one block: 40 MB fits under 100 MB, 300 MB is killed
    mem = login(parts, machine, "dd if=/dev/zero of=/dev/null bs=40M count=1 2>/dev/null; "
                "echo rc=$?; dd if=/dev/zero of=/dev/null bs=300M count=1 2>/dev/null; "
                "echo rc=$?")
    assert mem.stdout.split() == ["rc=0", "rc=137"], mem.stdout
    forks = login(parts, machine, "for i in $(seq 40); do sleep 5 & done 2>&1 | head -1")
    said = forks.stdout + forks.stderr  # the shell itself may be the one that cannot fork
    assert "can't fork" in said or "Resource" in said, said
    assert driver.provision(spec, machine).details["port"] == machine.details["port"]
    suspended = reconcile(driver, spec, machine, Want.SUSPENDED)
    assert suspended.state is State.SUSPENDED, suspended.error
    assert inspect(machine.details["container"])["State"]["Status"] == "paused"
    assert ssh(parts["key"], machine.ssh["port"], "root", "true").returncode == 255
    resumed = reconcile(driver, spec, suspended, Want.READY)
    assert resumed.state is State.READY, resumed.error
    assert login(parts, resumed, "echo back").stdout.strip() == "back"
    released = reconcile(driver, spec, resumed, Want.RELEASED)
    assert released.state is State.RELEASED, released.error
    gone = subprocess.run(["podman", "container", "exists", machine.details["container"]])
    assert gone.returncode == 1
    assert ssh(parts["key"], machine.ssh["port"], "root", "true").returncode == 255
    assert driver.release(spec, released).state is State.RELEASED


def test_network_none_is_the_default_and_gives_no_network(parts, lease):
    driver, spec = lease(network="none")
    machine = driver.provision(spec, None)
    assert machine.state is State.READY, machine.error
    assert machine.ssh is None  # no network: no ssh; the operator reaches it with podman exec
    links = subprocess.run(["podman", "exec", machine.details["container"], "ip", "-o", "link"],
                           capture_output=True, text=True, check=True).stdout
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"]
    assert parse_section({"driver": "podman", "image": "x"}).network == "none"


def test_podman_missing_is_a_failed_state_then_recovers(parts, lease):
    driver, spec = lease()
    missing = PodmanDriver(driver.settings, parts["home"], program="/nonexistent/podman")
    machine = missing.provision(spec, None)
    assert machine.state is State.FAILED
    assert machine.error == "/nonexistent/podman is not installed (apt-get install podman)"
    fixed = driver.provision(spec, machine)
    assert fixed.state is State.READY, fixed.error


def test_port_range_exhausted_is_a_failed_state(parts, lease):
    port, _ = free_range(1)
    first_driver, first = lease(port_min=port, port_max=port)
    assert first_driver.provision(first, None).state is State.READY
    driver, spec = lease(port_min=port, port_max=port)
    machine = driver.provision(spec, None)
    assert machine.state is State.FAILED
    assert machine.error == (f"port range {port}-{port} exhausted: 1 held by leases, "
                             "0 in use by other programs")
    first_driver.release(first, None)
    assert driver.provision(spec, machine).state is State.READY
