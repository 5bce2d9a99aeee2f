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
from cloudlease.provision import uids
from cloudlease.provision.base import Limits, MachineSpec, State, Want, reconcile
from cloudlease.provision.podman import USERNS_SIZE, PodmanDriver
from tests.provision_parts import (
    build_image,
    cleanup_host,
    ensure_container_subids,
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
    ensure_container_subids()
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


# --- root in the container is not root on the host ----------------------------------------
CAP_BITS = {"CHOWN": 0, "FOWNER": 3, "SETGID": 6, "SETUID": 7, "NET_BIND_SERVICE": 10,
            "SYS_CHROOT": 18}


def host_uids(pid: int) -> set[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return {int(x) for x in line.split()[1:]}
    raise AssertionError(f"no Uid line for {pid}")


def test_root_in_the_container_is_a_high_uid_on_the_host_with_sshds_capabilities(parts,
                                                                                   lease):
    subuid = [r for r in uids.subid_ranges("/etc/subuid") if r[0] == "containers"][0]
    first, count = subuid[1], subuid[2]
    made = []
    for _ in range(2):
        driver, spec = lease(Limits(pids=64))
        machine = driver.provision(spec, None)
        assert machine.state is State.READY, machine.error
        made.append(machine)
    maps = []
    for machine in made:
        inside = login(parts, machine, "id -u; cat /proc/self/uid_map; "
                                       "grep CapEff /proc/self/status")
        assert inside.returncode == 0, inside.stderr
        lines = inside.stdout.splitlines()
        zero, base, size = map(int, lines[1].split())
        assert lines[0] == "0" and zero == 0 and size == USERNS_SIZE  # root in there ...
        assert first <= base and base + size <= first + count  # ... a high uid out here
        assert machine.details["uid_map"] == f"0 {base} {size}"
        pid = inspect(machine.details["container"])["State"]["Pid"]
        assert host_uids(pid) == {base}
        keys = parts["settings"].state_path(parts["home"]) / machine.details["container"]
        assert (keys / "authorized_keys").stat().st_uid == base  # owned by its root
        # what a login may do is what sshd needed, no more
        want = sum(1 << CAP_BITS[c] for c in ("SETUID", "SETGID", "SYS_CHROOT",
                                              "NET_BIND_SERVICE"))
        assert int(lines[2].split()[1], 16) == want
        tries = login(parts, machine, "touch /tmp/f; chown 1 /tmp/f || echo no-chown; "
                                      "mknod /tmp/n c 1 3 || echo no-mknod; "
                                      "mount -t tmpfs t /mnt || echo no-mount; "
                                      "cat /proc/1/environ >/dev/null 2>&1; echo done")
        for word in ("no-chown", "no-mknod", "no-mount", "done"):
            assert word in tries.stdout, tries.stdout + tries.stderr
        maps.append(range(base, base + size))
    assert not set(maps[0]) & set(maps[1])  # two containers never share a host uid


def test_without_subordinate_ids_for_containers_the_machine_fails_clearly(parts, lease,
                                                                          monkeypatch,
                                                                          tmp_path):
    files = (tmp_path / "subuid", tmp_path / "subgid")
    for f in files:
        f.write_text("root:100000:65536\n")
    monkeypatch.setattr(uids, "SUBID_FILES", tuple(map(str, files)))
    driver, spec = lease()
    machine = driver.provision(spec, None)
    assert machine.state is State.FAILED
    assert machine.error.startswith("podman runs each container in a user namespace of its "
                                    "own (--userns=auto), which needs subordinate ids for "
                                    f"'containers' in {files[0]}: add a line such as")
    files[0].write_text("root:100000:65536\ncontainers:160000:65536\n")
    files[1].write_text("containers:2147483647:2147483648\n")
    machine = driver.provision(spec, machine)
    assert machine.state is State.FAILED
    assert machine.error == (f"{files[0]}'s range for containers (160000-225535) overlaps "
                             f"{files[0]}'s range for root (100000-165535): a container's "
                             "root could be someone else on this host")
    assert subprocess.run(["podman", "container", "exists",
                           "cl-" + spec.lease_id.lower()]).returncode == 1  # nothing made
