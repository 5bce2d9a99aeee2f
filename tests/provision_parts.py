"""Real parts for the provisioning tests and benchmarks: the programs they need (with how
to install them), key pairs, a real ``ssh`` client call, and a tiny container image with
busybox and Debian's own sshd, imported from a tarball (no registry).

Without a part a test skips, saying how to install it; with ``CI`` set it fails instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import uuid
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
