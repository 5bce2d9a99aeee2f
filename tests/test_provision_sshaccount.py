"""The ssh-account driver with real parts, as root: accounts, cgroups, a private sshd per
lease and a real ``ssh`` client. Every user, cgroup and sshd is named ``cl-t…`` and is
released (killed and removed) even when a test fails."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cloudlease.config.provision import parse_section
from cloudlease.provision import accounts
from cloudlease.provision.base import Limits, Machine, MachineSpec, State, Want, reconcile
from cloudlease.provision.cgroups import LeaseCgroup, detect
from cloudlease.provision.runner import StepFailed
from cloudlease.provision.sshaccount import SshAccountDriver
from tests.provision_parts import cleanup_host, free_range, keypair, lease_id, need, ssh

pytestmark = [pytest.mark.provision]
PARENT = "cl-test"
GROUP = "cl-test-tenants"


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    need("sshd", "ssh", "ssh-keygen", "useradd", "userdel", "chage")
    base = tmp_path_factory.mktemp("provision")
    # not under /tmp: each lease's sshd gets a private /tmp and must still see its state
    state = Path(f"/var/lib/cl-test-{os.getpid()}")
    low, high = free_range(100)
    settings = parse_section({
        "driver": "ssh-account", "state_dir": str(state), "port_min": low,
        "port_max": high, "cgroup_parent": PARENT, "tenant_group": GROUP,
        "timeout_seconds": 30})
    cleanup_host(settings, base)
    key, pub = keypair(base / "keys", "alice")
    other_key, other_pub = keypair(base / "keys", "bob")
    try:
        yield {"settings": settings, "home": base, "key": key, "pub": pub,
               "other_key": other_key, "other_pub": other_pub}
    finally:
        cleanup_host(settings, base)
        version, roots = detect()
        for root in set(roots.values()):
            try:
                (root / PARENT).rmdir()
            except OSError:
                pass
        subprocess.run(["groupdel", GROUP], capture_output=True)
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def driver(parts: dict) -> SshAccountDriver:
    return SshAccountDriver(parts["settings"], parts["home"])


@pytest.fixture
def lease(driver: SshAccountDriver, parts: dict) -> Iterator[Callable[..., MachineSpec]]:
    """Makes lease specs; releases each one at the end, whatever happened."""
    made: list[MachineSpec] = []

    def make(limits: Limits = Limits(), keys: tuple[str, ...] | None = None,
             hours: int = 2) -> MachineSpec:
        spec = MachineSpec(lease_id(), "alice", (parts["pub"],) if keys is None else keys,
                           limits, datetime.now(UTC).replace(microsecond=0)
                           + timedelta(hours=hours), "small")
        made.append(spec)
        return spec

    yield make
    for spec in made:
        released = driver.release(spec, None)
        assert released.state is State.RELEASED, released.error


def login(parts: dict, machine: Machine, command: str, key: str = "key"):
    assert machine.ssh is not None
    return ssh(parts[key], machine.ssh["port"], machine.ssh["user"], command)


def ready(driver: SshAccountDriver, spec: MachineSpec) -> Machine:
    machine = driver.provision(spec, None)
    assert machine.state is State.READY, machine.error
    return machine


def live_pids(uid: int) -> set[int]:
    return {p for p in accounts.user_pids(uid) if not accounts._zombie(p)}


# --- the happy path -----------------------------------------------------------------------
def test_tenant_logs_in_with_its_key_and_runs_a_command(driver, lease, parts):
    spec = lease()
    machine = ready(driver, spec)
    user = machine.ssh["user"]
    assert user == "cl-" + spec.lease_id.lower()
    assert machine.ssh == {"host": "127.0.0.1", "port": machine.details["port"], "user": user}
    out = login(parts, machine, "id -un; umask; stat -c %a ~; cat /proc/self/cgroup")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:3] == [user, "0077", "700"]
    assert f"/{PARENT}/{user}" in out.stdout  # the login runs inside the lease's cgroup
    entry = accounts.lookup(user)
    assert accounts.password_field(user) == "*"  # no password at all
    assert accounts.expiry(user) == (spec.ends_at.date() + timedelta(days=1)).isoformat()
    assert accounts.is_ours(entry, spec.lease_id, GROUP)
    # a password never works, root never logs in, the other tenant's key is refused
    assert login(parts, machine, "true", key="other_key").returncode == 255
    again = driver.provision(spec, machine)  # idempotent: the same machine
    assert (again.state, again.ssh, again.details["port"]) == (State.READY, machine.ssh,
                                                               machine.details["port"])
    assert reconcile(driver, spec, again, Want.READY) is None


def test_sshd_is_hardened(driver, lease, parts):
    machine = ready(driver, lease())
    state = parts["settings"].state_path(parts["home"]) / machine.ssh["user"]
    effective = subprocess.run(["sshd", "-T", "-f", str(state / "sshd_config")],
                               capture_output=True, text=True, check=True).stdout
    for line in ("passwordauthentication no", "permitrootlogin no", "usepam no",
                 "allowtcpforwarding no", "allowagentforwarding no", "x11forwarding no",
                 "permittunnel no", "allowstreamlocalforwarding no", "disableforwarding yes",
                 "strictmodes yes", "permituserenvironment no", "kbdinteractiveauthentication no",
                 f"allowusers {machine.ssh['user']}", "authorizedkeysfile none"):
        assert line in effective, line
    keys = (state / "authorized_keys").read_text()
    assert keys == f"restrict,pty {parts['pub']}\n"
    assert oct(os.stat(state).st_mode & 0o777) == "0o700"
    # forwarding really is refused (-W asks for a direct-tcpip channel at once)
    fwd = subprocess.run(
        ["ssh", "-i", str(parts["key"]), "-p", str(machine.ssh["port"]), "-o", "BatchMode=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-W", f"127.0.0.1:{machine.ssh['port']}", f"{machine.ssh['user']}@127.0.0.1"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert fwd.returncode != 0 and "SSH-2.0" not in fwd.stdout
    assert "prohibited" in fwd.stderr, fwd.stderr


# --- limits bite ----------------------------------------------------------------------------
ALLOC = "python3 -c 'import sys; x = b\"x\" * ({mb} * 2**20); print(\"held\", {mb})'; echo rc=$?"


def test_memory_limit_bites(driver, lease, parts):
    machine = ready(driver, lease(Limits(memory_bytes=100 * 2**20)))
    out = login(parts, machine, ALLOC.format(mb=40) + "; " + ALLOC.format(mb=300))
    assert "held 40" in out.stdout
    assert "held 300" not in out.stdout and "rc=137" in out.stdout, out.stdout


def test_cpu_quota_bites(driver, lease, parts):
    machine = ready(driver, lease(Limits(cpus=Decimal("0.5"))))
    script = ("import os, time\n"
              "for _ in range(2):\n"
              "    if os.fork() == 0:\n"
              "        end = time.monotonic() + 3\n"
              "        while time.monotonic() < end: pass\n"
              "        os._exit(0)\n"
              "os.wait(); os.wait()\n"
              "t = os.times(); print(round(t.children_user + t.children_system, 2))\n")
    out = login(parts, machine, f"python3 -c '{script}'")
    assert out.returncode == 0, out.stderr
    cpu = float(out.stdout.split()[-1])  # CPU seconds used by two busy loops in ~3 s
    assert cpu <= 2.3, cpu  # ≈ 1.5 under 0.5 CPUs; 6 (two CPUs) unlimited
    # the kernel says it held them back (a busy host may give them less, never more)
    group = LeaseCgroup(machine.ssh["user"], PARENT)
    stat = (group.path("cpu") / "cpu.stat").read_text().split()
    throttled = int(stat[stat.index("nr_throttled") + 1])
    assert throttled > 0, stat


def test_pids_limit_bites(driver, lease, parts):
    machine = ready(driver, lease(Limits(pids=20)))
    script = ("import os\nok = fail = 0\n"
              "for _ in range(40):\n"
              "    try:\n"
              "        pid = os.fork()\n"
              "    except OSError:\n"
              "        fail += 1; continue\n"
              "    if pid == 0:\n"
              "        import time; time.sleep(5); os._exit(0)\n"
              "    ok += 1\n"
              "print(ok, fail)\n")
    out = login(parts, machine, f"python3 -c '{script}'")
    ok, fail = map(int, out.stdout.split()[-2:])
    assert fail > 0 and ok < 20, (ok, fail)


def test_reconnecting_does_not_escape_the_limits(driver, lease, parts):
    spec = lease(Limits(memory_bytes=100 * 2**20, pids=40))
    machine = ready(driver, spec)
    hold = ("nohup python3 -c 'import time; x = b\"x\" * (70 * 2**20); time.sleep(60)' "
            ">/dev/null 2>&1 & sleep 1; echo started")
    assert "started" in login(parts, machine, hold).stdout
    second = login(parts, machine, ALLOC.format(mb=70))
    user = machine.ssh["user"]
    cgroup = LeaseCgroup(user, PARENT)
    usage = int((cgroup.path("memory") / "memory.max_usage_in_bytes").read_text())
    assert usage <= 100 * 2**20
    survivors = [p for p in live_pids(machine.details["uid"])
                 if b"python3" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert not ("held 70" in second.stdout and survivors), "both 70 MB holders survived"
    for pid in live_pids(machine.details["uid"]):  # every process sits in the lease's cgroup
        assert f"/{PARENT}/{user}" in Path(f"/proc/{pid}/cgroup").read_text()


# --- lifecycle ------------------------------------------------------------------------------
def test_suspend_refuses_login_and_resume_restores_it(driver, lease, parts):
    spec = lease()
    machine = ready(driver, spec)
    login(parts, machine, "nohup sleep 600 >/dev/null 2>&1 & echo ok")
    suspended = reconcile(driver, spec, machine, Want.SUSPENDED)
    assert suspended.state is State.SUSPENDED, suspended.error
    assert login(parts, machine, "true").returncode == 255
    cgroup = LeaseCgroup(machine.ssh["user"], PARENT)
    assert cgroup.frozen()
    assert accounts.password_field(machine.ssh["user"]) == accounts.LOCKED
    assert driver.suspend(spec, suspended).state is State.SUSPENDED  # idempotent
    resumed = reconcile(driver, spec, suspended, Want.READY)
    assert resumed.state is State.READY, resumed.error
    assert not cgroup.frozen()
    out = login(parts, machine, "echo back")
    assert out.stdout.strip() == "back", out.stderr


def test_extend_moves_the_expiry(driver, lease, parts):
    spec = lease()
    machine = ready(driver, spec)
    later = MachineSpec(**{**spec.__dict__, "ends_at": spec.ends_at + timedelta(days=3)})
    extended = reconcile(driver, later, machine, Want.READY)
    assert extended is not None and extended.state is State.READY, extended
    assert accounts.expiry(machine.ssh["user"]) == (later.ends_at.date()
                                                    + timedelta(days=1)).isoformat()
    assert extended.ends_at != machine.ends_at
    assert login(parts, extended, "true").returncode == 0


def test_release_leaves_nothing_of_the_tenant(driver, lease, parts):
    spec = lease()
    machine = ready(driver, spec)
    user, uid = machine.ssh["user"], machine.details["uid"]
    escape = ("nohup sleep 900 >/dev/null 2>&1 & "
              "setsid sh -c 'while :; do sleep 1; done' >/dev/null 2>&1 </dev/null & "
              "echo ok")
    assert login(parts, machine, escape).stdout.strip() == "ok"
    assert len(live_pids(uid)) >= 2
    released = reconcile(driver, spec, machine, Want.RELEASED)
    assert released.state is State.RELEASED, released.error
    assert released.ssh is None
    assert login(parts, machine, "true").returncode == 255
    assert live_pids(uid) == set()
    assert accounts.lookup(user) is None
    assert not Path(machine.details["home"]).exists()
    assert not LeaseCgroup(user, PARENT).exists()
    assert not (parts["settings"].state_path(parts["home"]) / user).exists()
    assert driver.release(spec, released).state is State.RELEASED  # again: still fine
    assert reconcile(driver, spec, released, Want.RELEASED) is None


def test_release_after_a_crash_half_way(driver, lease, parts):
    spec = lease()
    machine = ready(driver, spec)
    user = machine.ssh["user"]
    accounts.remove_user(user, 30)  # as if a release died after userdel
    released = driver.release(spec, machine)
    assert released.state is State.RELEASED, released.error
    assert not LeaseCgroup(user, PARENT).exists()


# --- tenants apart --------------------------------------------------------------------------
def test_one_tenant_cannot_see_another(driver, lease, parts):
    a = ready(driver, lease())
    b = ready(driver, lease(keys=(parts["other_pub"],)))
    a_user, b_user = a.ssh["user"], b.ssh["user"]
    login(parts, a, "echo secret > ~/notes; echo tmp > /tmp/a-file; "
          "nohup sleep 777 >/dev/null 2>&1 & echo ok")
    a_pids = sorted(live_pids(a.details["uid"]))

    def as_b(command: str) -> subprocess.CompletedProcess[str]:
        return ssh(parts["other_key"], b.ssh["port"], b_user, command)

    files = as_b(f"cat /home/{a_user}/notes; ls /home/{a_user}; ls -A /tmp")
    assert "secret" not in files.stdout and "a-file" not in files.stdout
    assert files.stderr.count("Permission denied") == 2, files.stderr
    uids = as_b("ps -eo uid=").stdout.split()  # hidepid: b's /proc holds only b
    assert set(uids) == {str(b.details["uid"])}, uids
    args = as_b("".join(f"cat /proc/{p}/cmdline; " for p in a_pids[:3]))
    assert args.stdout == "" and "777" not in args.stdout
    state = parts["settings"].state_path(parts["home"])
    keys = as_b(f"cat {state}/{a_user}/authorized_keys; ls {state}")
    assert keys.stdout == "" and "Permission denied" in keys.stderr


# --- failures are states, and a later call succeeds ----------------------------------------
def test_port_range_exhausted_then_recovers(parts, lease):
    with socket.socket() as blocker:  # the kernel picks the port: no other run holds it
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        settings = parse_section({**_raw(parts), "port_min": port, "port_max": port})
        driver = SshAccountDriver(settings, parts["home"])
        spec = lease()
        machine = driver.provision(spec, None)
        assert machine.state is State.FAILED
        assert machine.error == (f"port range {port}-{port} exhausted: 0 held by leases, "
                                 f"1 in use by other programs ({port} by uid 0)")
    machine = driver.provision(spec, machine)
    assert machine.state is State.READY, machine.error
    assert login(parts, machine, "true").returncode == 0


def test_sshd_that_fails_to_start_is_a_failed_state_then_recovers(driver, lease, parts):
    spec = lease()
    machine = ready(driver, spec)
    state = parts["settings"].state_path(parts["home"]) / machine.ssh["user"]
    driver.suspend(spec, machine)  # sshd stopped
    (state / "ssh_host_ed25519_key").write_text("not a key\n")
    broken = driver.resume(spec, machine)
    assert broken.state is State.FAILED
    assert broken.error.startswith("sshd failed to start"), broken.error
    assert "\n" not in broken.error
    (state / "ssh_host_ed25519_key").unlink()
    fixed = reconcile(driver, spec, broken, Want.READY)
    assert fixed.state is State.READY, fixed.error
    assert login(parts, fixed, "true").returncode == 0


def test_a_lease_without_a_key_gets_no_shell(driver, lease):
    spec = lease(keys=())
    machine = driver.provision(spec, None)
    assert machine.state is State.FAILED
    assert machine.error.startswith("no SSH key for alice")


def test_key_material_is_never_in_what_the_driver_returns(driver, lease, parts):
    machine = ready(driver, lease())
    text = json.dumps(machine.to_dict())
    assert "PRIVATE" not in text and parts["pub"].split()[1] not in text
    assert parts["key"].read_text().split("\n")[1] not in text
    assert Machine.from_dict(json.loads(text)) == machine


def _raw(parts: dict) -> dict:
    s = parts["settings"]
    return {"driver": "ssh-account", "state_dir": s.state_dir, "cgroup_parent": PARENT,
            "tenant_group": GROUP, "timeout_seconds": 30}


# --- cgroup v2, as far as this host allows ---------------------------------------------------
def test_cgroup_v2_code_path_on_the_unified_hierarchy():
    """The same LeaseCgroup on v2: freeze, kill and remove work on the unified hierarchy;
    where (as on a hybrid host) it carries no cpu/memory/pids controller, asking for a limit
    is a clear failure instead of a silent no-op."""
    need()
    try:
        group = LeaseCgroup("cl-tv2", PARENT, "v2")
    except StepFailed as exc:
        pytest.skip(str(exc))
    proc = None
    try:
        group.create(Limits())
        proc = subprocess.Popen(["sleep", "600"], preexec_fn=lambda: _join(group))
        assert group.procs() == {proc.pid}
        group.freeze()
        assert group.frozen()
        group.kill_all()
        assert proc.wait(timeout=10) == -9
        assert group.procs() == set()
        available = (group.roots["cpu"] / "cgroup.controllers").read_text().split()
        if "memory" not in available:
            with pytest.raises(StepFailed, match="controller memory is not available"):
                group.create(Limits(memory_bytes=100 * 2**20))
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        group.remove()
        try:
            (group.roots["cpu"] / PARENT).rmdir()
        except OSError:
            pass


def _join(group: LeaseCgroup) -> None:
    for procs in group.procs_files():
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
