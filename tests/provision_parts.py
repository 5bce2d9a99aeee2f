"""Real parts for the provisioning tests and benchmarks: the programs they need (with how
to install them), key pairs, a real ``ssh`` client call, and a tiny container image with
busybox and Debian's own sshd, imported from a tarball (no registry).

Without a part a test skips, saying how to install it; with ``CI`` set it fails instead.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

INSTALL = ("apt-get install -y --no-install-recommends openssh-server podman runc "
           "busybox-static")
IMAGE = "localhost/cl-test-sshd:1"
TEST_PREFIX = "cl-t"  # users, cgroups, containers: cl-t<hex>


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def need(*programs: str, root: bool = True) -> None:
    """Skip (or, with CI set, fail) unless running as root with every program installed."""
    problems = []
    if root and os.geteuid() != 0:
        problems.append("must run as root")
    search = "/usr/sbin:/usr/bin:/sbin:/bin:" + os.environ.get("PATH", "")
    missing = [p for p in programs if not shutil.which(p, path=search)]
    if missing:
        problems.append(f"{', '.join(missing)} not installed ({INSTALL})")
    if problems:
        message = "provisioning parts missing: " + "; ".join(problems)
        if in_ci():
            pytest.fail(f"CI is set, so provisioning tests may not skip: {message}")
        pytest.skip(message)


def lease_id() -> str:
    """A fresh lease id whose user/cgroup/container name starts with ``cl-t``."""
    return "T" + uuid.uuid4().hex[:10]


def keypair(directory: Path, name: str = "id") -> tuple[Path, str]:
    """(private key path, public key line) of a new ed25519 key."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@test",
                    "-f", str(key)], check=True, timeout=30)
    return key, key.with_suffix(".pub").read_text().strip()


def ssh(key: Path, port: int, user: str, command: str, *, timeout: float = 30,
        host: str = "127.0.0.1") -> subprocess.CompletedProcess[str]:
    """A real ``ssh -i KEY -p PORT user@host command``, never prompting."""
    return subprocess.run(
        ["ssh", "-i", str(key), "-p", str(port), "-o", "BatchMode=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", "-o", "IdentitiesOnly=yes",
         f"{user}@{host}", command],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _libraries(binary: str) -> list[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    found = re.findall(r"(/\S+\.so[^\s]*)", out)
    return sorted(set(found))


SSHD_CONFIG = """\
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
AuthorizedKeysFile /root/.ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PidFile /run/sshd.pid
Subsystem sftp internal-sftp
"""


def build_image(workdir: Path, tag: str = IMAGE, runtime: str = "runc") -> str:
    """Import (once) an image holding busybox and Debian's sshd with its libraries; its
    command runs that sshd in the foreground."""
    if subprocess.run(["podman", "image", "exists", tag], capture_output=True).returncode == 0:
        return tag
    root = workdir / "rootfs"
    for d in ("bin", "etc/ssh", "root/.ssh", "run/sshd", "var/empty", "tmp", "proc", "dev",
              "sys", "usr/sbin", "lib64", "lib/x86_64-linux-gnu"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "root", 0o700)
    busybox = shutil.which("busybox") or "/bin/busybox"
    shutil.copy2(busybox, root / "bin" / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox" and not (root / "bin" / applet).exists():
            (root / "bin" / applet).symlink_to("busybox")
    sshd = "/usr/sbin/sshd"
    shutil.copy2(sshd, root / "usr/sbin/sshd")
    for lib in _libraries(sshd):
        target = root / lib.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(lib), target)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                     "sshd:x:100:65534::/run/sshd:/bin/false\n"
                                     "nobody:x:65534:65534::/nonexistent:/bin/false\n")
    (root / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    os.chmod(root / "etc/shadow", 0o600)
    (root / "etc/ssh/sshd_config").write_text(SSHD_CONFIG)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    str(root / "etc/ssh/ssh_host_ed25519_key")], check=True, timeout=30)
    tarball = workdir / "image.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(root, arcname=".")
    subprocess.run(["podman", "import", "--quiet",
                    "--change", 'CMD ["/usr/sbin/sshd", "-D", "-e"]', str(tarball), tag],
                   check=True, capture_output=True, timeout=120)
    return tag


SUBIDS = "containers:2147483647:2147483648"  # podman's documented range for --userns=auto


def ensure_container_subids() -> None:
    """What an operator does once for the podman driver: subordinate ids for
    ``containers`` in /etc/subuid and /etc/subgid (added if missing, never removed)."""
    import fcntl

    with open("/run/cloudlease-test-subids.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for path in (Path("/etc/subuid"), Path("/etc/subgid")):
            text = path.read_text() if path.exists() else ""
            if not any(line.startswith("containers:") for line in text.splitlines()):
                with open(path, "a") as f:
                    f.write(("" if not text or text.endswith("\n") else "\n") + SUBIDS + "\n")


def cleanup_host(settings, home: Path, prefix: str = TEST_PREFIX) -> None:
    """Release every test account and container an interrupted run left behind, through
    the drivers themselves (they kill by cgroup and uid, then remove)."""
    from datetime import UTC, datetime

    from cloudlease.provision.base import Limits, MachineSpec
    from cloudlease.provision.podman import PodmanDriver
    from cloudlease.provision.sshaccount import SshAccountDriver

    leases = set()
    for line in Path("/etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0].startswith(prefix) and fields[4].startswith("cloudlease lease "):
            leases.add(("ssh", fields[4].split()[-1]))
    if shutil.which("podman"):
        names = subprocess.run(["podman", "ps", "-a", "--format", "{{.Labels}}"],
                               capture_output=True, text=True).stdout
        for lease in re.findall(r"cloudlease\.lease:(T[0-9a-f]+)", names):
            leases.add(("podman", lease))
    for kind, lease in leases:
        spec = MachineSpec(lease, None, (), Limits(), datetime.now(UTC), "test")
        driver = (SshAccountDriver(settings, home) if kind == "ssh"
                  else PodmanDriver(settings, home))
        driver.release(spec, None)


# --- ports: never hard-coded (other runs on this host use ports too) ------------------------
def free_range(size: int, low: int = 20000, high: int = 32000) -> tuple[int, int]:
    """``size`` consecutive ports, each free right now, at a random place below the
    kernel's ephemeral range (so outgoing connections never land in it)."""
    from cloudlease.provision.ports import port_free

    for _ in range(500):
        start = random.randrange(low, high - size)
        if all(port_free("127.0.0.1", p) for p in range(start, start + size)):
            return start, start + size - 1
    raise RuntimeError(f"no {size} consecutive free ports in {low}-{high}")


def kernel_port() -> int:
    """A port the kernel just handed out (free when it is returned)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SQUAT = """
import socket, sys
held = []
for port in map(int, sys.argv[2:]):
    s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
    try:
        s.bind((sys.argv[1], port))
        s.listen()
        held.append(s)
        print("held", port, flush=True)
    except OSError:
        print("busy", port, flush=True)
print("ready", flush=True)
sys.stdin.read()
"""


class Squatter:
    """A process of another local user (``nobody`` unless told) listening on ``ports``,
    as any local user may: a context manager that waits until it holds them and, at the
    end, stops and reaps it."""

    def __init__(self, ports, uid: int = 65534, address: str = "127.0.0.1") -> None:
        self.ports = list(ports)
        self.proc = subprocess.Popen(
            ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
             "/usr/bin/python3", "-c", SQUAT, address, *map(str, self.ports)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/")
        self.held: list[int] = []
        while True:  # it prints "ready" after trying every port, or dies (EOF)
            line = self.proc.stdout.readline()
            if not line:
                self.stop()
                raise RuntimeError("the squatter did not start")
            if line.startswith("held "):
                self.held.append(int(line.split()[1]))
            if line.strip() == "ready":
                break

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream and not stream.closed:
                stream.close()

    def __enter__(self) -> Squatter:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# --- an ssh-account host of a test module's own -----------------------------------------------
@contextmanager
def ssh_account_host(base: Path, name: str, ports: int = 50, **raw) -> Iterator[dict]:
    """Settings for the ssh-account driver with a state dir (never under /tmp: each sshd
    has a private one), cgroup parent and tenant group named ``name``, and ``ports`` free
    ports; at the end every account it made is released and all of it removed."""
    from cloudlease.config.provision import parse_section
    from cloudlease.provision.cgroups import detect

    state = Path(f"/var/lib/{name}-{os.getpid()}")
    low, high = free_range(ports)
    raw = {"driver": "ssh-account", "state_dir": str(state), "port_min": low,
           "port_max": high, "cgroup_parent": name, "tenant_group": f"{name}-tenants",
           "timeout_seconds": 30, **raw}
    settings = parse_section(raw)
    cleanup_host(settings, base)
    try:
        yield {"settings": settings, "raw": raw, "home": base, "state": state}
    finally:
        cleanup_host(settings, base)
        for root in set(detect()[1].values()):
            try:
                (root / name).rmdir()
            except OSError:
                pass
        subprocess.run(["groupdel", f"{name}-tenants"], capture_output=True)
        shutil.rmtree(state, ignore_errors=True)


class Leases:
    """Makes ``(driver, spec)`` pairs for tenants of a test (``keys``: name → (private key
    path, public key line)); :meth:`release_all` releases each, whatever happened."""

    def __init__(self, host: dict, keys: dict) -> None:
        self.host, self.keys = host, keys
        self.made: list = []

    def __call__(self, tenant: str, **raw):
        from datetime import UTC, datetime, timedelta

        from cloudlease.config.provision import parse_section
        from cloudlease.provision.base import Limits, MachineSpec
        from cloudlease.provision.sshaccount import SshAccountDriver

        driver = SshAccountDriver(parse_section({**self.host["raw"], **raw}),
                                  self.host["home"])
        spec = MachineSpec(lease_id(), tenant, (self.keys[tenant][1],), Limits(),
                           datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1),
                           "small")
        self.made.append((driver, spec))
        return driver, spec

    def release_all(self) -> list[str]:
        """Release everything made; the errors of releases that failed."""
        errors = []
        for driver, spec in self.made:
            released = driver.release(spec, None)
            if released.error:
                errors.append(released.error)
        return errors
