"""Ports are the operator's: a local user (``nobody``, or a tenant from its own login) who
binds ports of the provisioning range does not make leases fail while a port is left, and
when none is, the lease's machine fails at once with a reason naming the squatters (the
lease stays paid; the next tick retries). ssh-account as root, real sshds and logins."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from cloudlease.provision import ports
from cloudlease.provision.base import Machine, State
from tests.provision_parts import (
    Leases,
    Squatter,
    free_range,
    keypair,
    need,
    ssh,
    ssh_account_host,
)

pytestmark = [pytest.mark.provision]
NOBODY = 65534


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    need("sshd", "ssh", "ssh-keygen", "useradd", "userdel", "setpriv")
    base = tmp_path_factory.mktemp("ports")
    with ssh_account_host(base, "cl-ports") as host:
        host["keys"] = {n: keypair(base / "keys", n) for n in ("a", "b", "c")}
        yield host


@pytest.fixture
def lease(host: dict) -> Iterator[Leases]:
    leases = Leases(host, host["keys"])
    yield leases
    assert leases.release_all() == []


def in_range(size: int) -> dict:
    low, high = free_range(size)
    return {"port_min": low, "port_max": high}


def login(host: dict, tenant: str, machine: Machine, command: str = "id -un"):
    return ssh(host["keys"][tenant][0], machine.ssh["port"], machine.ssh["user"], command)


def squatted_by(who: int, taken: list[int]) -> str:
    named = ", ".join(f"{p} by uid {who}" for p in taken[:3])
    return named + (", …" if len(taken) > 3 else "")


def test_nobody_squatting_most_of_the_range_leaves_leases_their_ports(host, lease):
    span = in_range(6)
    low = span["port_min"]
    with Squatter(range(low, low + 4)) as nobody:
        assert nobody.held == list(range(low, low + 4))
        machines = []
        for tenant in ("a", "b"):
            driver, spec = lease(tenant, **span)
            machine = driver.provision(spec, None)
            assert machine.state is State.READY, machine.error
            assert login(host, tenant, machine).returncode == 0
            machines.append(machine)
        assert sorted(m.ssh["port"] for m in machines) == [low + 4, low + 5]
        driver, spec = lease("c", **span)
        failed = driver.provision(spec, None)  # returns at once: nothing is waited for
        assert failed.state is State.FAILED
        assert failed.error == (f"port range {low}-{low + 5} exhausted: 2 held by leases, 4 in "
                                f"use by other programs ({squatted_by(NOBODY, nobody.held)})")
    again = driver.provision(spec, failed)  # the squatter is gone: the next tick gets one
    assert again.state is State.READY, again.error
    assert low <= again.ssh["port"] < low + 4


def test_a_squatter_that_wins_the_race_costs_one_try_not_the_lease(host, lease,
                                                                   monkeypatch):
    """A squatter may bind a port between the moment it is found free and the moment
    sshd binds it: sshd then fails on it, and the driver moves on to the next port."""
    span = in_range(6)
    low = span["port_min"]
    monkeypatch.setattr(ports, "port_free", lambda address, port: True)  # the race, always
    with Squatter(range(low, low + 4)):
        driver, spec = lease("a", **span)
        machine = driver.provision(spec, None)
        assert machine.state is State.READY, machine.error
        assert machine.ssh["port"] == low + 4
        log = (driver.state_dir / machine.ssh["user"] / "sshd.log").read_text()
        assert log.count("Cannot bind any address") == 4
        assert login(host, "a", machine).returncode == 0


def test_the_tries_are_bounded_when_every_port_is_squatted(host, lease, monkeypatch):
    span = in_range(12)
    low = span["port_min"]
    monkeypatch.setattr(ports, "port_free", lambda address, port: True)
    with Squatter(range(low, low + 12)) as nobody:
        driver, spec = lease("a", **span)
        failed = driver.provision(spec, None)
    tried = nobody.held[:ports.MAX_STARTS]
    assert failed.state is State.FAILED
    assert failed.error == (f"port range {low}-{low + 11} exhausted: 0 held by leases, "
                            f"{ports.MAX_STARTS} in use by other programs "
                            f"({squatted_by(NOBODY, tried)}); {ports.MAX_STARTS} ports were "
                            "taken by others while starting on them")


SQUAT_FROM_LOGIN = """
import socket, sys, time
held = []
for port in map(int, sys.argv[1:]):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port)); s.listen(); held.append(s)
    except OSError:
        pass
open(sys.argv[0] + ".held", "w").write(str(len(held)))
time.sleep(900)
"""


def squat_from_login(host: dict, machine: Machine, ports_: list[int]) -> int:
    """Tenant ``a`` binds ``ports_`` from its own login (a process left running)."""
    code = base64.b64encode(SQUAT_FROM_LOGIN.encode()).decode()
    command = (f"echo {code} | base64 -d > ~/squat.py && "
               f"(nohup python3 ~/squat.py {' '.join(map(str, ports_))} "
               ">/dev/null 2>&1 </dev/null &) && "
               "until [ -s ~/squat.py.held ]; do sleep 0.05; done; cat ~/squat.py.held")
    out = login(host, "a", machine, command)
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


def test_a_tenant_squatting_from_its_login_stops_nobody_for_long(host, lease):
    span = in_range(4)
    low, high = span["port_min"], span["port_max"]
    a_driver, a_spec = lease("a", **span)
    a = a_driver.provision(a_spec, None)
    assert a.state is State.READY, a.error
    others = [p for p in range(low, high + 1) if p != a.ssh["port"]]
    assert squat_from_login(host, a, others[:2]) == 2  # most of what is left
    b_driver, b_spec = lease("b", **span)
    b = b_driver.provision(b_spec, None)
    assert b.state is State.READY and b.ssh["port"] == others[2], b.error
    c_driver, c_spec = lease("c", **span)
    c = c_driver.provision(c_spec, None)  # all taken: a clear failure naming the tenant
    assert c.state is State.FAILED
    assert c.error == (f"port range {low}-{high} exhausted: 2 held by leases, 2 in use by "
                       f"other programs ({squatted_by(a.details['uid'], others[:2])})")
    assert a_driver.release(a_spec, a).state is State.RELEASED  # its squatter dies with it
    c = c_driver.provision(c_spec, c)
    assert c.state is State.READY, c.error
    assert login(host, "c", c).returncode == 0


def test_a_port_taken_while_the_lease_was_suspended_is_replaced(host, lease):
    span = in_range(3)
    driver, spec = lease("a", **span)
    machine = driver.provision(spec, None)
    assert machine.state is State.READY, machine.error
    suspended = driver.suspend(spec, machine)  # its sshd stops: the port is free a while
    assert suspended.state is State.SUSPENDED, suspended.error
    with Squatter([machine.ssh["port"]]) as nobody:
        assert nobody.held == [machine.ssh["port"]]
        resumed = driver.resume(spec, suspended)
        assert resumed.state is State.READY, resumed.error
        assert resumed.ssh["port"] != machine.ssh["port"]
        assert login(host, "a", resumed).returncode == 0


def test_a_tenant_cannot_touch_what_provisioning_runs_on(host, lease):
    """The state dir (its lock, the uid mark, every lease's files) is root's alone: a
    tenant can neither hold the lock that serialises provisioning nor fill the folder."""
    driver, spec = lease("a", **in_range(2))
    machine = driver.provision(spec, None)
    assert machine.state is State.READY, machine.error
    state = driver.state_dir
    assert oct(state.stat().st_mode & 0o777) == "0o700" and state.stat().st_uid == 0
    tries = login(host, "a", machine,
                  f"flock -n {state}/.lock true || echo no-lock; "
                  f"cat {state}/uids || echo no-mark; "
                  f"touch {state}/x || echo no-file; "
                  f"ls {state} || echo no-list")
    for word in ("no-lock", "no-mark", "no-file", "no-list"):
        assert word in tries.stdout, tries.stdout + tries.stderr
    assert tries.stderr.count("Permission denied") >= 4, tries.stderr
