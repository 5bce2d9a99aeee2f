"""Leases become real machines through the CLI, as root: Unix accounts behind a private
sshd (ssh-account) and containers (podman), logged into with a real ``ssh`` and the
tenant's key during the lease, refused after it. No hook is configured anywhere here: the
machines come from ``[provision]``, driven by ``tick`` and ``pay check``.

Leases are numbered from a random start (``cl-l-<n>`` names never meet another test's),
and every machine a test home recorded is released at the end, whatever happened.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from cloudlease.core import clock
from cloudlease.provision import accounts
from tests.conftest import run_cli
from tests.machine_helpers import pay, release_all, set_provision, start_lease_ids_at
from tests.provision_parts import (
    Squatter,
    build_image,
    ensure_container_subids,
    free_range,
    keypair,
    need,
    ssh,
)

pytestmark = [pytest.mark.provision]
PARENT = "cl-wire"
GROUP = "cl-wire-tenants"


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    need("sshd", "ssh", "ssh-keygen", "useradd", "userdel", "chage")
    base = tmp_path_factory.mktemp("wire")
    state = Path(f"/var/lib/cl-wire-{os.getpid()}")  # not under /tmp (private per sshd)
    alice, alice_pub = keypair(base / "keys", "alice")
    bob, bob_pub = keypair(base / "keys", "bob")
    try:
        yield {"state": state, "alice": alice, "alice_pub": alice_pub, "bob": bob,
               "bob_pub": bob_pub, "base": base, "ports": free_range(100)}
    finally:
        from cloudlease.provision.cgroups import detect

        for root in set(detect()[1].values()):
            try:
                (root / PARENT).rmdir()
            except OSError:
                pass
        subprocess.run(["groupdel", GROUP], capture_output=True)
        shutil.rmtree(state, ignore_errors=True)


def configure(home: Path, parts: dict, **extra) -> None:
    settings = {"driver": "ssh-account", "state_dir": str(parts["state"] / "ssh"),
                "port_min": parts["ports"][0], "port_max": parts["ports"][1],
                "cgroup_parent": PARENT,
                "tenant_group": GROUP, "timeout_seconds": 30, **extra}
    set_provision(home, **settings)
    start_lease_ids_at(home, random.randrange(100_000, 999_999))


@pytest.fixture
def ssh_home(cli, home: Path, parts: dict) -> Iterator[Path]:
    configure(home, parts)
    try:
        yield home
    finally:
        release_all(home)


@pytest.fixture
def ssh_engine_home(cli, engine_home: Path, parts: dict) -> Iterator[Path]:
    configure(engine_home, parts)
    try:
        yield engine_home
    finally:
        release_all(engine_home)


def active_machine(cli, tenant: str, hours: int = 1, plan: str | None = None) -> tuple:
    """Rent, pay, tick: (lease id, its machine as lease show --json has it)."""
    args = ["rent", "--hours", str(hours), "--tenant", tenant] + (["--plan", plan] if plan
                                                                  else [])
    lease = cli.json(*args)
    pay(cli, lease["payment"]["id"])
    cli("tick")
    return lease["id"], cli.json("lease", "show", lease["id"])["machine"]


def login(parts: dict, m: dict, command: str, key: str = "alice"):
    return ssh(parts[key], m["ssh"]["port"], m["ssh"]["user"], command)


def live_pids(uid: int) -> set[int]:
    return {p for p in accounts.user_pids(uid) if not accounts._zombie(p)}


def test_the_tenant_logs_in_during_the_lease_and_not_after(cli, ssh_engine_home, parts,
                                                           monkeypatch):
    from cloudlease.provision.cgroups import detect

    cli("plan", "add", "small", "--price-per-hour", "1000 sat", "--cpus", "0.5",
        "--memory", "128M", "--pids", "64")
    cli("tenant", "add", "alice", "--ssh-key-file", f"{parts['alice']}.pub")
    lid, m = active_machine(cli, "alice", plan="small")
    user = f"cl-{lid.lower()}"
    assert (m["state"], m["driver"], m["error"]) == ("ready", "ssh-account", None)
    assert m["ssh"]["host"] == "127.0.0.1" and m["ssh"]["user"] == user
    assert parts["ports"][0] <= m["ssh"]["port"] <= parts["ports"][1]
    assert m["login"] == f"ssh -p {m['ssh']['port']} {user}@127.0.0.1"
    assert m["details"]["host_key_fingerprint"].startswith("SHA256:")
    human = " ".join(cli("lease", "show", lid).stdout.split())
    assert f"log in with ssh -p {m['ssh']['port']} {user}@127.0.0.1" in human

    out = login(parts, m, "id -un; cat /proc/self/cgroup; "
                "nohup sleep 600 >/dev/null 2>&1 & setsid sleep 600 </dev/null >/dev/null 2>&1 &"
                " echo started")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{user}\n") and f"/{PARENT}/{user}" in out.stdout
    version, roots = detect()
    if version == 1:  # the plan's limits are on the lease's cgroup
        group = roots["pids"] / PARENT / user
        assert (group / "pids.max").read_text().strip() == "64"
        assert (roots["memory"] / PARENT / user / "memory.limit_in_bytes").read_text(
            ).strip() == str(128 * 2**20)
        assert (roots["cpu"] / PARENT / user / "cpu.cfs_quota_us").read_text().strip() \
            == "50000"
    assert login(parts, m, "true", key="bob").returncode == 255  # not bob's machine
    keys = (parts["state"] / "ssh" / user / "authorized_keys").read_text()
    assert keys == f"restrict,pty {parts['alice_pub']}\n"
    uid = accounts.lookup(user).pw_uid
    assert live_pids(uid)  # the nohup and setsid sleeps

    ends = cli.json("lease", "show", lid)["ends_at"]
    monkeypatch.setenv("CLOUDLEASE_NOW", ends)
    tick = cli.json("tick")
    assert {"id": lid, "from": "active", "to": "ended"} in tick["transitions"]
    assert tick["machines"] == [{"lease": lid, "action": "release", "state": "released",
                                 "error": None}]
    assert login(parts, m, "true").returncode == 255
    assert accounts.lookup(user) is None
    assert not live_pids(uid)  # nothing of the tenant's survives: not nohup, not setsid
    assert not (parts["state"] / "ssh" / user).exists()


def test_suspension_extension_and_resumption_reach_the_account(cli, ssh_home, parts,
                                                               monkeypatch):
    cli("pool", "add", "gpu", "--slots", "2", "--cost-per-hour", "2500 sat",
        "--consideration", "revenue_share", "--investor-pct", "20", "--period-months", "3",
        "--suspend-on-throttle")
    cli("plan", "add", "small", "--price-per-hour", "1000 sat", "--pool", "gpu")
    cli("tenant", "add", "alice", "--ssh-key", parts["alice_pub"])
    lid, m = active_machine(cli, "alice", hours=100, plan="small")
    user = m["ssh"]["user"]
    assert login(parts, m, "true").returncode == 0

    ext = cli.json("lease", "extend", lid, "--hours", "48")
    pay(cli, ext["payment"]["id"])
    assert cli.json("tick")["machines"][0]["action"] == "extend"
    extended = cli.json("lease", "show", lid)
    assert extended["machine"]["details"]["ends_at"] == extended["ends_at"]
    new_end = clock.parse_utc(extended["ends_at"])
    assert accounts.expiry(user) == (new_end.date() + timedelta(days=1)).isoformat()

    later = clock.now() + timedelta(hours=60)  # 150,000 sat of cost > 148,000 paid
    monkeypatch.setenv("CLOUDLEASE_NOW", later.isoformat())
    cli("tick")
    shown = cli.json("lease", "show", lid)
    assert shown["status"] == "suspended" and shown["machine"]["state"] == "suspended"
    assert login(parts, m, "true").returncode == 255  # no sshd, account locked
    assert accounts.password_field(user).startswith("!")

    monkeypatch.setenv("CLOUDLEASE_NOW", (later + timedelta(minutes=5)).isoformat())
    fund = cli.json("pool", "fund", "gpu", "--tenant", "alice", "--amount", "300000 sat")
    pay(cli, fund["payment"]["id"])
    cli("tick")
    shown = cli.json("lease", "show", lid)
    assert shown["status"] == "active" and shown["machine"]["state"] == "ready"
    assert login(parts, m, "id -un").stdout.strip() == user


def test_a_squatted_port_range_fails_the_machine_not_the_lease_nor_tick(cli, ssh_home,
                                                                        parts):
    """``nobody`` holds every port of the range: tick (a real process) says so at once, the
    lease stays paid and active, and the next tick after the squatter left makes it."""
    port, _ = free_range(1)
    configure(ssh_home, parts, port_min=port, port_max=port)
    cli("tenant", "add", "alice", "--ssh-key", parts["alice_pub"])
    lease = cli.json("rent", "--hours", "1", "--tenant", "alice")
    pay(cli, lease["payment"]["id"])
    with Squatter([port]) as nobody:
        assert nobody.held == [port]
        tick = run_cli("tick", "--json", timeout=300)  # returns: nothing waits on a port
        assert tick.returncode == 0, tick.stderr
        assert json.loads(tick.stdout)["machines"][0]["state"] == "failed"
    shown = cli.json("lease", "show", lease["id"])
    assert shown["status"] == "active" and shown["payment"]["status"] == "settled"
    m = shown["machine"]
    assert m["state"] == "failed" and not m["blocked"]
    assert m["error"] == (f"port range {port}-{port} exhausted: 0 held by leases, 1 in use "
                          f"by other programs ({port} by uid 65534)")
    tick = cli.json("tick")  # the squatter is gone: retried, made
    assert tick["machines"][0]["state"] == "ready"
    m = cli.json("lease", "show", lease["id"])["machine"]
    assert m["ssh"]["port"] == port and m["attempts"] == 0
    assert login(parts, m, "true").returncode == 0


def test_a_key_added_later_makes_the_machine_and_a_removed_one_is_revoked(cli, ssh_home,
                                                                          parts):
    cli("tenant", "add", "bob")
    lid, m = active_machine(cli, "bob", hours=2)
    assert m["state"] == "failed" and m["blocked"] and "no SSH key for tenant bob" in m["error"]
    cli("tenant", "edit", "bob", "--ssh-key-file", f"{parts['bob']}.pub")
    cli("tick")
    m = cli.json("lease", "show", lid)["machine"]
    assert m["state"] == "ready", m["error"]
    assert login(parts, m, "id -un", key="bob").stdout.strip() == f"cl-{lid.lower()}"
    cli("tenant", "edit", "bob", "--no-ssh-keys")
    cli("tick")
    shown = cli.json("lease", "show", lid)
    assert shown["status"] == "active"
    assert shown["machine"]["state"] == "failed" and shown["machine"]["blocked"]
    assert login(parts, m, "true", key="bob").returncode == 255  # revoked at once


# --- podman ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def image(parts: dict) -> str:
    need("podman", "runc", "busybox", "sshd")
    ensure_container_subids()
    return build_image(parts["base"] / "image")


def test_a_lease_becomes_a_container_and_is_removed_at_its_end(cli, home, parts, image,
                                                               monkeypatch):
    set_provision(home, driver="podman", image=image, network="podman", runtime="runc",
                  state_dir=str(parts["state"] / "podman"), port_min=parts["ports"][0],
                  port_max=parts["ports"][1],
                  timeout_seconds=60)
    start_lease_ids_at(home, random.randrange(100_000, 999_999))
    try:
        cli("plan", "add", "small", "--price-per-hour", "1000 sat", "--memory", "128M",
            "--pids", "64")
        cli("tenant", "add", "alice", "--ssh-key", parts["alice_pub"])
        lid, m = active_machine(cli, "alice", plan="small")
        name = f"cl-{lid.lower()}"
        assert (m["state"], m["driver"], m["ssh"]["user"]) == ("ready", "podman", "root")
        out = None
        for _ in range(50):  # the container's sshd starts with it
            out = login(parts, m, "hostname")
            if out.returncode == 0:
                break
            time.sleep(0.1)
        assert out.returncode == 0 and out.stdout.strip() == name, out.stderr
        monkeypatch.setenv("CLOUDLEASE_NOW", cli.json("lease", "show", lid)["ends_at"])
        cli("tick")
        assert cli.json("lease", "show", lid)["machine"]["state"] == "released"
        exists = subprocess.run(["podman", "container", "exists", name])
        assert exists.returncode == 1
    finally:
        release_all(home)
