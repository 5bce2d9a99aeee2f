"""Leases become containers on a real two-member LXD cluster (scripts/lxd-cluster), driven
through the CLI: placement on each member, a real ssh login through the proxy device (run
inside the cluster's network namespace), limits that bite, freeze while suspended, delete
at the end, and the faults (image, member, instance gone behind our back, no room).

Leases are numbered from a random start, so container names never meet another test's;
every machine a home recorded is released at the end, and a sweep deletes the rest.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from cloudlease.core import clock
from tests.lxd_parts import (
    configure,
    delete_behind_our_back,
    instance,
    kill_member,
    login,
    need_lxd,
    revive,
    ssh,
    sweep,
)
from tests.machine_helpers import pay, release_all, start_lease_ids_at
from tests.provision_parts import keypair

pytestmark = [pytest.mark.lxd]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    found = need_lxd()
    keys = tmp_path_factory.mktemp("lxd-keys")
    found["alice"], found["alice_pub"] = keypair(keys, "alice")
    found["bob"], found["bob_pub"] = keypair(keys, "bob")
    try:
        yield found
    finally:
        revive(found)
        sweep(found)


@pytest.fixture
def lxd_home(cli, home: Path, cluster: dict) -> Iterator[Path]:
    configure(home, cluster)
    start_lease_ids_at(home, random.randrange(100_000, 999_999))
    try:
        yield home
    finally:
        release_all(home)


def active(cli, tenant: str, plan: str, hours: int = 1) -> tuple[str, dict]:
    """Rent, pay, tick: (lease id, its machine as lease show --json has it)."""
    lease = cli.json("rent", "--hours", str(hours), "--tenant", tenant, "--plan", plan)
    pay(cli, lease["payment"]["id"])
    cli("tick")
    return lease["id"], cli.json("lease", "show", lease["id"])["machine"]


def test_two_leases_on_two_members_login_limits_freeze_and_delete(cli, lxd_home, cluster,
                                                                  monkeypatch):
    m1, m2 = cluster["members"]
    cli("pool", "add", "gpu", "--slots", "4", "--cost-per-hour", "2500 sat",
        "--consideration", "revenue_share", "--investor-pct", "20", "--period-months", "3",
        "--suspend-on-throttle")
    cli("plan", "add", "one", "--price-per-hour", "1000 sat", "--pool", "gpu", "--cpus", "0.5",
        "--memory", "128M", "--pids", "64", "--target", m1)
    cli("plan", "add", "two", "--price-per-hour", "1000 sat", "--target", m2)
    cli("tenant", "add", "alice", "--ssh-key-file", f"{cluster['alice']}.pub")
    cli("tenant", "add", "bob", "--ssh-key-file", f"{cluster['bob']}.pub")
    first, a = active(cli, "alice", "one", hours=100)
    second, b = active(cli, "bob", "two")
    name = f"cl-{first.lower()}"
    assert (a["state"], a["driver"], a["error"]) == ("ready", "lxd", None)
    assert (b["state"], b["error"]) == ("ready", None)
    assert (a["details"]["member"], b["details"]["member"]) == (m1, m2)
    assert a["details"]["container"] == name and a["ssh"]["user"] == "root"
    assert 24000 <= a["ssh"]["port"] <= 24999 and a["ssh"]["port"] != b["ssh"]["port"]
    assert a["details"]["host_key_fingerprint"].startswith("SHA256:")
    human = " ".join(cli("lease", "show", first).stdout.split())
    assert f"machine ready (lxd on member {m1}): log in with {a['login']}" in human

    out = login(cluster, cluster["alice"], a, "hostname; cat /root/.ssh/authorized_keys; "
                "cat /proc/net/dev | tail -n +3 | cut -d: -f1; "
                "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max")
    assert out.returncode == 0, out.stderr
    lines = [x.strip() for x in out.stdout.splitlines()]
    assert lines == [name, f"restrict,pty {cluster['alice_pub']}", "lo", str(128 * 2**20),
                     "64"]
    cpu = Path(f"/sys/fs/cgroup/cpu/lxc.payload.{name}")  # both members share this kernel
    assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "50000"
    assert (cpu / "cpu.cfs_period_us").read_text().strip() == "100000"
    keyscan = subprocess.run(["nsenter", f"--net={cluster['netns']}", "ssh-keyscan", "-t",
                              "ed25519", "-p", str(a["ssh"]["port"]), "127.0.0.1"],
                             capture_output=True, text=True, timeout=30)
    seen = subprocess.run(["ssh-keygen", "-lf", "-"], input=keyscan.stdout,
                          capture_output=True, text=True, timeout=30).stdout.split()
    assert seen[1] == a["details"]["host_key_fingerprint"]  # its own key, as recorded
    assert ssh(cluster, cluster["bob"], a["ssh"]["port"], "true").returncode == 255
    assert login(cluster, cluster["bob"], b, "hostname").stdout.strip() == f"cl-{second.lower()}"

    # limits bite: 40 MB fits in 128 MB, 300 MB is killed; no more than 64 processes
    mem = ssh(cluster, cluster["alice"], a["ssh"]["port"],
              "dd if=/dev/zero of=/dev/null bs=40M count=1 2>/dev/null; echo rc=$?; "
              "dd if=/dev/zero of=/dev/null bs=300M count=1 2>/dev/null; echo rc=$?")
    assert mem.stdout.split() == ["rc=0", "rc=137"], mem.stdout + mem.stderr
    # a counter the tenant leaves running, read on the member's disk (no login needed)
    counter = Path(cluster["dirs"][0], "containers", name, "rootfs", "root", "counter")
    assert ssh(cluster, cluster["alice"], a["ssh"]["port"],
               "nohup sh -c 'i=0; while :; do i=$((i+1)); echo $i > /root/counter; "
               "sleep 0.2; done' >/dev/null 2>&1 &").returncode == 0
    forks = ssh(cluster, cluster["alice"], a["ssh"]["port"],
                "sh -c 'for i in $(seq 100); do sleep 5 >/dev/null 2>&1 & done' 2>&1 | head -1")
    assert "Cannot fork" in forks.stdout, forks.stdout + forks.stderr

    def count() -> int:
        for _ in range(50):  # the counter may be caught mid-write
            text = counter.read_text().strip()
            if text.isdigit():
                return int(text)
            time.sleep(0.1)
        raise AssertionError(f"no count in {counter}")

    # the pool runs dry: suspended, the container frozen, logins hang; b's lease has ended
    later = clock.now() + timedelta(hours=60)
    monkeypatch.setenv("CLOUDLEASE_NOW", later.isoformat())
    tick = cli.json("tick")
    assert {(m["lease"], m["state"]) for m in tick["machines"]} == {
        (first, "suspended"), (second, "released")}
    assert instance(cluster, name)["status"] == "Frozen"
    assert instance(cluster, f"cl-{second.lower()}") is None
    frozen_at = count()
    started = time.monotonic()
    assert ssh(cluster, cluster["alice"], a["ssh"]["port"], "true").returncode == 255
    assert time.monotonic() - started >= 3  # accepted by the proxy, then no answer
    assert count() == frozen_at  # the counter stopped with everything else

    monkeypatch.setenv("CLOUDLEASE_NOW", (later + timedelta(minutes=5)).isoformat())
    fund = cli.json("pool", "fund", "gpu", "--tenant", "alice", "--amount", "300000 sat")
    pay(cli, fund["payment"]["id"])
    cli("tick")
    shown = cli.json("lease", "show", first)
    assert shown["status"] == "active" and shown["machine"]["state"] == "ready"
    assert login(cluster, cluster["alice"], a, "echo back").stdout.strip() == "back"
    deadline = time.monotonic() + 60
    while count() == frozen_at:  # thawed: counting again
        assert time.monotonic() < deadline, "the counter did not resume"
        time.sleep(0.2)

    monkeypatch.setenv("CLOUDLEASE_NOW", shown["ends_at"])
    tick = cli.json("tick")
    assert tick["machines"] == [{"lease": first, "action": "release", "state": "released",
                                 "error": None}]
    assert instance(cluster, name) is None
    assert ssh(cluster, cluster["alice"], a["ssh"]["port"], "true").returncode == 255


def test_an_image_that_does_not_exist_fails_the_machine_not_the_lease(cli, lxd_home,
                                                                      cluster):
    configure(lxd_home, cluster, image="no-such-image")
    cli("plan", "add", "p", "--price-per-hour", "1000 sat")
    cli("tenant", "add", "alice", "--ssh-key-file", f"{cluster['alice']}.pub")
    lid, m = active(cli, "alice", "p")
    shown = cli.json("lease", "show", lid)
    assert shown["status"] == "active" and shown["payment"]["status"] == "settled"
    assert m["state"] == "failed" and not m["blocked"]
    assert m["error"] == ("image 'no-such-image' is not on LXD (project default): import it, "
                          "or fix [provision.lxd] image")
    assert cli.json("tick")["machines"][0]["state"] == "failed"  # retried every tick
    configure(lxd_home, cluster)
    assert cli.json("tick")["machines"][0]["state"] == "ready"
    m = cli.json("lease", "show", lid)["machine"]
    assert m["attempts"] == 0 and login(cluster, cluster["alice"], m, "true").returncode == 0


def test_a_missing_or_refusing_socket_fails_the_machine_and_rent_says_why(cli, lxd_home,
                                                                          cluster, tmp_path):
    import socket

    cli("plan", "add", "p", "--price-per-hour", "1000 sat", "--memory", "64M")
    cli("tenant", "add", "alice", "--ssh-key-file", f"{cluster['alice']}.pub")
    configure(lxd_home, cluster, url=str(tmp_path / "none.socket"))
    lid, m = active(cli, "alice", "p")
    assert m["state"] == "failed"
    assert m["error"] == (f"LXD's socket {tmp_path / 'none.socket'} does not exist (is LXD "
                          "running? see [provision.lxd] url)")
    dead = tmp_path / "dead.socket"
    with socket.socket(socket.AF_UNIX) as s:  # bound, never listening: connect is refused
        s.bind(str(dead))
        configure(lxd_home, cluster, url=str(dead), provision={"check_capacity": True})
        assert cli.json("tick")["machines"][0]["state"] == "failed"
        m = cli.json("lease", "show", lid)["machine"]
        assert m["error"] == f"cannot reach LXD at {dead}: connection refused"
        before = cli.ledger_snapshot()
        err = cli.json("rent", "--hours", "1", "--plan", "p", code=6)
        assert err["message"].startswith("cannot check whether plan p fits: cannot reach LXD")
        assert cli.ledger_snapshot() == before
    assert cli.json("lease", "show", lid)["status"] == "active"
    configure(lxd_home, cluster)
    assert cli.json("tick")["machines"][0]["state"] == "ready"


def test_capacity_refuses_a_plan_that_fits_nowhere_and_stores_nothing(cli, lxd_home,
                                                                       cluster):
    cli("plan", "add", "huge", "--price-per-hour", "1000 sat", "--memory", "16T")
    cli("plan", "add", "cores", "--price-per-hour", "1000 sat", "--cpus", "512")
    cli("plan", "add", "lost", "--price-per-hour", "1000 sat", "--target", "m9")
    cli("plan", "add", "fine", "--price-per-hour", "1000 sat", "--memory", "64M",
        "--cpus", "0.25", "--target", cluster["members"][1])
    cli("tenant", "add", "alice", "--ssh-key-file", f"{cluster['alice']}.pub")
    # without the check, such a lease is paid and its machine fails, saying why
    lid, m = active(cli, "alice", "huge")
    assert m["state"] == "failed" and m["error"].startswith(
        "no room on the cluster for 16777216 MiB memory (m1: ")
    assert cli.json("lease", "show", lid)["status"] == "active"
    configure(lxd_home, cluster, provision={"check_capacity": True})
    before = cli.ledger_snapshot()
    for plan, says in (("huge", "no room on the cluster for 16777216 MiB memory"),
                       ("cores", "no room on the cluster for 512 CPUs"),
                       ("lost", "no online member for target m9 (members: m1 (online), "
                                "m2 (online))")):
        err = cli.json("rent", "--hours", "1", "--plan", plan, "--tenant", "alice", code=4)
        assert err["message"].startswith(f"plan {plan} does not fit: {says}"), err
        assert err["message"].endswith("; nothing was rented")
        plain = cli("rent", "--hours", "1", "--plan", plan, code=4)
        assert "Traceback" not in plain.stderr and len(plain.stderr.strip().splitlines()) == 1
    assert cli.ledger_snapshot() == before
    ok = cli.json("rent", "--hours", "1", "--plan", "fine", "--tenant", "alice")
    assert ok["status"] == "awaiting_payment"


def test_a_member_that_goes_offline_mid_create_fails_then_recovers(cli, lxd_home, cluster):
    m2 = cluster["members"][1]
    cli("plan", "add", "p", "--price-per-hour", "1000 sat", "--target", m2)
    cli("tenant", "add", "alice", "--ssh-key-file", f"{cluster['alice']}.pub")
    lease = cli.json("rent", "--hours", "1", "--tenant", "alice", "--plan", "p")
    pay(cli, lease["payment"]["id"])
    lid = lease["id"]
    name = f"cl-{lid.lower()}"
    tick = subprocess.Popen([sys.executable, "-m", "cloudlease", "tick", "--json", "--home",
                             str(lxd_home)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        while instance(cluster, name) is None and tick.poll() is None:
            assert time.monotonic() < deadline, "the instance never appeared"
            time.sleep(0.05)
        kill_member(cluster, m2)  # the instance exists; its member's daemon dies
        out, err = tick.communicate(timeout=300)
    finally:
        if tick.poll() is None:
            tick.kill()
            tick.communicate()
    assert tick.returncode in (0, 9), err
    shown = cli.json("lease", "show", lid)
    assert shown["status"] == "active" and shown["payment"]["status"] == "settled"
    if shown["machine"]["state"] == "failed":  # the usual outcome: it says which call failed
        assert name in shown["machine"]["error"] or m2 in shown["machine"]["error"]
        again = cli.json("tick")["machines"][0]  # the member is still down: fails again
        assert again["state"] == "failed"
    revive(cluster)
    for _ in range(3):  # the member is back: the next tick finishes the job
        if cli.json("lease", "show", lid)["machine"]["state"] == "ready":
            break
        cli("tick")
    m = cli.json("lease", "show", lid)["machine"]
    assert m["state"] == "ready" and m["details"]["member"] == m2, m["error"]
    assert login(cluster, cluster["alice"], m, "hostname").stdout.strip() == name


def test_an_instance_deleted_behind_our_back_is_made_again_and_released_anyway(
        cli, lxd_home, cluster, monkeypatch):
    cli("plan", "add", "p", "--price-per-hour", "1000 sat", "--memory", "64M")
    cli("tenant", "add", "alice", "--ssh-key-file", f"{cluster['alice']}.pub")
    lid, m = active(cli, "alice", "p")
    other, _ = active(cli, "alice", "p")
    name = f"cl-{lid.lower()}"
    assert m["state"] == "ready"
    delete_behind_our_back(cluster, name)
    delete_behind_our_back(cluster, f"cl-{other.lower()}")
    tick = cli.json("tick")
    assert {(x["lease"], x["action"], x["state"]) for x in tick["machines"]} == {
        (lid, "provision", "ready"), (other, "provision", "ready")}
    again = cli.json("lease", "show", lid)["machine"]
    assert again["details"]["note"].startswith(f"instance {name} was gone (deleted outside "
                                               "cloudlease); made again ")
    assert again["details"]["remade"] == 1
    assert "note: instance" in " ".join(cli("lease", "show", lid).stdout.split())
    assert login(cluster, cluster["alice"], again, "hostname").stdout.strip() == name
    assert cli.json("tick")["machines"] == []  # there again: nothing to do
    delete_behind_our_back(cluster, name)
    monkeypatch.setenv("CLOUDLEASE_NOW", cli.json("lease", "show", other)["ends_at"])
    tick = cli.json("tick")  # both end; one is already gone: released all the same
    assert {(x["lease"], x["state"], x["error"]) for x in tick["machines"]} == {
        (lid, "released", None), (other, "released", None)}
    assert instance(cluster, f"cl-{other.lower()}") is None
