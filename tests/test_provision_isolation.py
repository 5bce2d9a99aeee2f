"""Nothing of one tenant reaches another nor outlives its lease (ssh-account, as root, with
real accounts, sshds and logins): the kernel objects a tenant can make (SysV shared
memory, semaphores and message queues, POSIX shared memory and message queues, files in
shared writable places, queued signals) stay in its lease's own namespaces, are gone at
release, and its uid is never a later tenant's. Tried as the tenant: each object is made
through a real ``ssh`` login with the tenant's key, and looked for from the next one."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudlease.provision import accounts, sweep, uids
from cloudlease.provision.base import Machine, MachineSpec, State
from cloudlease.provision.cgroups import LeaseCgroup
from cloudlease.provision.sshaccount import SshAccountDriver
from tests.provision_parts import Leases, keypair, need, ssh, ssh_account_host

pytestmark = [pytest.mark.provision]
PARENT = "cl-iso"
KEYS = {"shm": 0xC1A001, "sem": 0xC1A002, "msg": 0xC1A003}
PLACES = ("/dev/shm/cl-a-shm", "/tmp/cl-a-file", "/var/tmp/cl-a-file", "/run/lock/cl-a-file")

# run by tenant A over ssh: one of each kind of object, left behind on purpose
MAKE = f"""
import ctypes, json, os
libc = ctypes.CDLL("libc.so.6", use_errno=True)
made = {{"shm": libc.shmget({KEYS['shm']}, 4096, 0o1000 | 0o600),
         "sem": libc.semget({KEYS['sem']}, 2, 0o1000 | 0o600),
         "msg": libc.msgget({KEYS['msg']}, 0o1000 | 0o600),
         "mq": libc.mq_open(b"/cl-a-mq", os.O_CREAT | os.O_RDWR, 0o600, None)}}
for path in {PLACES!r}:
    with open(path, "w") as f:
        f.write("secret of A")
print(json.dumps(made))
"""
# run by any tenant: what of A's can it reach (the errno of each look-up: 2, no such
# thing, not 13, there but forbidden), and how many signals are queued for its uid
PROBE = f"""
import ctypes, json, os
libc = ctypes.CDLL("libc.so.6", use_errno=True)
def look(rc):
    return ctypes.get_errno() if rc == -1 else "found"
sysv = {{}}
for kind in ("shm", "sem", "msg"):
    with open("/proc/sysvipc/" + kind) as f:
        sysv[kind] = len(f.read().splitlines()) - 1
status = open("/proc/self/status").read()
print(json.dumps({{
    "shm": look(libc.shmget({KEYS['shm']}, 0, 0)), "sem": look(libc.semget({KEYS['sem']}, 0, 0)),
    "msg": look(libc.msgget({KEYS['msg']}, 0)), "mq": look(libc.mq_open(b"/cl-a-mq", 0)),
    "files": [p for p in {PLACES!r} if os.path.exists(p)],
    "sysv": sysv, "sigq": status.split("SigQ:")[1].split()[0]}}))
"""
# a process of A's that keeps 50 real-time signals queued (counted against A's uid)
SIGNALS = """
import os, signal, time
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGRTMIN])
for _ in range(50):
    os.kill(os.getpid(), signal.SIGRTMIN)
with open(os.path.expanduser("~/sigq"), "w") as f:
    f.write(open("/proc/self/status").read().split("SigQ:")[1].split()[0])
time.sleep(900)
"""
MQ_LOOK = "/run"  # where a private mqueue mount shows the host's queues (in a copy)
NOTHING = {"shm": 2, "sem": 2, "msg": 2, "mq": 2, "files": [],
           "sysv": {"shm": 0, "sem": 0, "msg": 0}}


def python(script: str, background: bool = False) -> str:
    """A shell command that runs ``script`` with the host's python3 (no quoting trouble)."""
    code = base64.b64encode(script.encode()).decode()
    run = f"echo {code} | base64 -d > ~/s$$.py && python3 ~/s$$.py"
    return f"nohup sh -c '{run}' >/dev/null 2>&1 </dev/null &" if background else run


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    need("sshd", "ssh", "ssh-keygen", "useradd", "userdel", "nsenter", "unshare", "ipcrm",
         "ipcs", "setpriv")
    base = tmp_path_factory.mktemp("isolation")
    with ssh_account_host(base, PARENT) as host:
        host["keys"] = {n: keypair(base / "keys", n) for n in ("a", "b", "c")}
        yield host


@pytest.fixture
def lease(parts: dict) -> Iterator[Leases]:
    """Makes (driver, spec) for a tenant; releases each at the end, whatever happened."""
    leases = Leases(parts, parts["keys"])
    yield leases
    assert leases.release_all() == []


def ready(driver: SshAccountDriver, spec: MachineSpec) -> Machine:
    machine = driver.provision(spec, None)
    assert machine.state is State.READY, machine.error
    return machine


def up(driver: SshAccountDriver, spec: MachineSpec) -> Machine:
    """Ready, with the tenant's name in its details (the key to log in with)."""
    machine = ready(driver, spec)
    return Machine(**{**machine.__dict__,
                      "details": {**machine.details, "tenant": spec.tenant}})


def as_tenant(parts: dict, machine: Machine, command: str) -> str:
    """Log in with the tenant's own key and run ``command``; its stdout."""
    key = parts["keys"][machine.details["tenant"]][0]
    out = ssh(key, machine.ssh["port"], machine.ssh["user"], command, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def probe(parts: dict, machine: Machine) -> dict:
    return json.loads(as_tenant(parts, machine, python(PROBE)).splitlines()[-1])


def session_pid(machine: Machine) -> int:
    """The tenant's long-lived process (the one holding queued signals), which runs in the
    lease's namespaces."""
    uid = machine.details["uid"]
    for pid in LeaseCgroup(machine.ssh["user"], PARENT).procs():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0] == b"python3" and uid in _uids(pid) and sweep.private_pid([pid]):
            return pid
    raise AssertionError("the tenant's background process is not running")


def _uids(pid: int) -> set[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return {int(x) for x in line.split()[1:]}
    return set()


def ns_holders(ns: str) -> list[int]:
    """Every process on the host in the namespace ``ns`` (``ipc:[…]``)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and sweep.namespace(entry, "ipc") == ns:
            found.append(int(entry))
    return found


def left_by(uid: int, name: str = "") -> list[str]:
    """What root still finds of ``uid`` (user ``name`` while it exists): SysV objects
    (``ipcs -c``: creators and owners) and files in the shared writable places."""
    found = [line for line in subprocess.run(["ipcs", "-c"], capture_output=True, text=True,
                                             check=True).stdout.splitlines()
             if {str(uid), name} & set(line.split()[2:])]
    for d in sweep.LEFTOVER_DIRS:
        if os.path.isdir(d):
            found += subprocess.run(["find", d, "-xdev", "-uid", str(uid)], capture_output=True,
                                    text=True).stdout.split()
    mq = subprocess.run(["unshare", "--mount", "--", "sh", "-c", 'mount -t mqueue m "$1" && '
                         'find "$1" -mindepth 1 -uid "$2"', "sh", MQ_LOOK, str(uid)],
                        capture_output=True, text=True, check=True)
    return found + [f"mqueue:{line}" for line in mq.stdout.split()]


def make_objects(parts: dict, machine: Machine) -> dict:
    made = json.loads(as_tenant(parts, machine, python(MAKE)).splitlines()[-1])
    assert min(made.values()) >= 0, made  # each object really exists
    sigq = as_tenant(parts, machine, python(SIGNALS, background=True)
                     + " until [ -s ~/sigq ]; do sleep 0.05; done; cat ~/sigq")
    assert sigq.split("/")[0] == "50", sigq
    return made


# --- uids ------------------------------------------------------------------------------------
def test_each_lease_gets_a_fresh_uid_never_handed_out_again(parts, lease):
    first = ready(*lease("a"))
    uid = first.details["uid"]
    user = accounts.lookup(first.ssh["user"])
    s = parts["settings"]
    assert s.uid_min <= uid <= s.uid_max
    assert user.pw_gid == uid and first.details["user"] == user.pw_name
    assert uids.read_mark(parts["state"]) == uid
    for path in uids.SUBID_FILES:  # no subordinate ids: none to reuse, none to map
        assert all(owner != user.pw_name for owner, _, _ in uids.subid_ranges(path))
    driver, spec = lease("b")
    # an operator's account sits on the next uid: skipped, never shared
    squat = f"cl-isq{os.getpid() % 10000}"
    subprocess.run(["useradd", "--no-create-home", "--uid", str(uid + 1), squat], check=True,
                   capture_output=True)
    try:
        second = ready(driver, spec)
    finally:
        subprocess.run(["userdel", squat], capture_output=True)
    assert second.details["uid"] > uid + 1
    again = driver.provision(spec, second)  # idempotent: the same account, the same uid
    assert again.details["uid"] == second.details["uid"]
    assert driver.release(spec, again).state is State.RELEASED
    third = ready(*lease("c"))
    assert third.details["uid"] > second.details["uid"]  # a released uid is not reused


def test_a_used_up_or_overlapping_uid_range_is_a_clear_failure(parts, lease, monkeypatch,
                                                               tmp_path):
    mark = uids.read_mark(parts["state"]) or parts["settings"].uid_min
    driver, spec = lease("a", uid_min=mark, uid_max=mark)
    failed = driver.provision(spec, None)
    assert failed.state is State.FAILED
    assert failed.error == (f"the uid range {mark}-{mark} is used up (each lease takes a uid "
                            "that is never handed out again): raise provision.uid_max")
    subuid = tmp_path / "subuid"
    subuid.write_text(f"containers:{mark + 10}:65536\n")
    monkeypatch.setattr(uids, "SUBID_FILES", (str(subuid),))
    driver, spec = lease("a", uid_min=mark + 1, uid_max=mark + 20)
    failed = driver.provision(spec, None)
    assert failed.state is State.FAILED
    assert failed.error.startswith(f"provision.uid_min..uid_max ({mark + 1}-{mark + 20}) "
                                   f"overlaps {subuid}'s range for containers")


# --- kernel objects ---------------------------------------------------------------------------
def test_nothing_of_a_tenant_reaches_the_next_or_outlives_its_lease(parts, lease):
    a_driver, a_spec = lease("a")
    a = up(a_driver, a_spec)
    b = up(*lease("b"))
    a_uid = a.details["uid"]
    make_objects(parts, a)
    pid = session_pid(a)
    a_ns = sweep.namespace(pid, "ipc")
    # as root on the host: A's objects are in A's namespaces, not in the host's
    assert left_by(a_uid, a.ssh["user"]) == []
    inside = subprocess.run(["nsenter", f"--target={pid}", "--ipc", "ipcs"],
                            capture_output=True, text=True, check=True).stdout
    assert all(f"0x{key:08x}" in inside for key in KEYS.values()), inside
    # tenant B, at the same time: none of it, and no signal queued against B's uid
    seen = probe(parts, b)
    assert {k: seen[k] for k in NOTHING} == NOTHING, seen
    assert seen["sigq"].split("/")[0] == "0"

    released = a_driver.release(a_spec, a)
    assert released.state is State.RELEASED, released.error
    assert ns_holders(a_ns) == []  # the namespace died with its last process
    assert left_by(a_uid) == []
    assert accounts.lookup(a.ssh["user"]) is None
    # the next tenant: a new uid, and nothing of A's anywhere it can look
    c = up(*lease("c"))
    assert c.details["uid"] > max(a_uid, b.details["uid"])
    seen = probe(parts, c)
    assert {k: seen[k] for k in NOTHING} == NOTHING, seen
    assert seen["sigq"].split("/")[0] == "0"


def test_release_empties_a_namespace_someone_kept_open(parts, lease):
    """A tenant could hand its IPC namespace, or its /tmp, to another process as a file
    descriptor and so keep them past the lease: release wipes them first. Here the test
    itself (root) holds them open across the release."""
    driver, spec = lease("a")
    a = up(driver, spec)
    make_objects(parts, a)
    pid = session_pid(a)
    held = [os.open(f"/proc/{pid}/ns/ipc", os.O_RDONLY),
            os.open(f"/proc/{pid}/root/tmp", os.O_RDONLY | os.O_DIRECTORY)]
    try:
        assert "cl-a-file" in os.listdir(held[1])
        assert driver.release(spec, a).state is State.RELEASED
        assert os.listdir(held[1]) == []
        look = subprocess.run(
            ["nsenter", f"--ipc=/proc/self/fd/{held[0]}", "--", "unshare", "--mount", "--",
             "sh", "-c", f"ipcs; mount -t mqueue mqueue {parts['state']} && ls -A "
                         f"{parts['state']}"],
            capture_output=True, text=True, pass_fds=tuple(held), timeout=60)
        assert look.returncode == 0, look.stderr
        assert not any(f"0x{key:08x}" in look.stdout for key in KEYS.values()), look.stdout
        assert "cl-a-mq" not in look.stdout
    finally:
        for fd in held:
            os.close(fd)


def test_what_a_uid_left_in_the_hosts_namespaces_is_swept(parts, lease, monkeypatch):
    """Without private temp dirs (private_tmp = false), or through a host program that
    runs as the tenant (an at or cron job, where those exist: their spools are swept by uid
    like any shared place), a tenant's things land in the host's namespaces: release finds
    them by uid."""
    driver, spec = lease("a", private_tmp=False)
    a = up(driver, spec)
    uid = a.details["uid"]
    shared = Path(f"/tmp/cl-iso-shared-{os.getpid()}")  # someone's world-writable folder
    spool = Path(f"/var/spool/cl-iso-crontabs-{os.getpid()}")  # as cron's (absent here)
    for folder, mode in ((shared, 0o1777), (spool, 0o1733)):
        folder.mkdir(exist_ok=True)
        os.chmod(folder, mode)
    monkeypatch.setattr(sweep, "LEFTOVER_DIRS", (*sweep.LEFTOVER_DIRS, str(spool)))
    try:
        as_tenant(parts, a, f"mkdir -p /tmp/cl-a-$$/deep && echo x > /tmp/cl-a-$$/deep/f && "
                            f"echo x > {shared}/cl-a-f && echo x > /var/tmp/cl-a-f && "
                            f"echo '* * * * * true' > {spool}/{a.ssh['user']}")
        as_uid = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "ipcmk"]
        for args in (["-M", "64"], ["-S", "1"], ["-Q"]):  # in the host's IPC namespace
            subprocess.run([*as_uid, *args], check=True, capture_output=True)
        mq = ("import ctypes, os; libc = ctypes.CDLL('libc.so.6'); "
              f"assert libc.mq_open(b'/cl-a-mq-{os.getpid()}', os.O_CREAT | os.O_RDWR, "
              "0o600, None) >= 0")
        subprocess.run([*as_uid[:-1], "/usr/bin/python3", "-c", mq], check=True, cwd="/")
        assert len(left_by(uid, a.ssh["user"])) == 3 + 6 + 1
        assert driver.release(spec, a).state is State.RELEASED
        assert left_by(uid) == []
        assert list(spool.iterdir()) == [] and list(shared.iterdir()) == []
    finally:
        subprocess.run(["rm", "-rf", str(shared), str(spool)], check=False)
