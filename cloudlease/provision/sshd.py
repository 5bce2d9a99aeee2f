"""A private, hardened sshd per lease: its config, host key, port, start and stop.

The sshd starts inside the lease's cgroups (every login is its child, so every login is
limited) and in a mount namespace of its own where ``/proc`` shows a tenant only its own
processes (``hidepid=invisible``) and ``/tmp``, ``/var/tmp`` and ``/dev/shm`` are private
tmpfs mounts that vanish with the lease. Keys come from a root-only file through
``AuthorizedKeysCommand``, so no tenant can read or change them.
"""

from __future__ import annotations

import ctypes
import fcntl
import ipaddress
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from cloudlease.provision.base import stderr_tail
from cloudlease.provision.runner import StepFailed, clean_env, run

PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x2, 0x4, 0x8
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000
_CLONE_NEWNS = 0x00020000


def config_text(*, user: str, address: str, port: int, state: Path, cat: str) -> str:
    """sshd_config for one lease (see sshd_config(5))."""
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    return f"""\
# Written by cloudlease for {user}; rewritten on every provision. Do not edit.
ListenAddress {host}:{port}
HostKey {state}/ssh_host_ed25519_key
PidFile {state}/sshd.pid
AllowUsers {user}
AuthorizedKeysFile none
AuthorizedKeysCommand {cat} {state}/authorized_keys
AuthorizedKeysCommandUser root
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitEmptyPasswords no
PermitRootLogin no
UsePAM no
StrictModes yes
DisableForwarding yes
AllowTcpForwarding no
AllowAgentForwarding no
AllowStreamLocalForwarding no
X11Forwarding no
PermitTunnel no
GatewayPorts no
PermitUserEnvironment no
PermitUserRC no
PermitTTY yes
PrintMotd no
PrintLastLog no
Banner none
Subsystem sftp internal-sftp -u 077
MaxAuthTries 3
MaxSessions 4
MaxStartups 4:50:10
LoginGraceTime 20
ClientAliveInterval 60
ClientAliveCountMax 3
LogLevel INFO
"""


def port_free(address: str, port: int) -> bool:
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def pick_port(address: str, low: int, high: int, held: Iterable[int],
              preferred: int | None = None) -> int:
    """A port in ``low..high`` held by no other lease and free to bind."""
    taken = set(held)
    if preferred and low <= preferred <= high and preferred not in taken \
            and port_free(address, preferred):
        return preferred
    for port in range(low, high + 1):
        if port not in taken and port_free(address, port):
            return port
    raise StepFailed(f"port range {low}-{high} exhausted ({len(taken & set(range(low, high + 1)))}"
                     " held by leases, the rest in use)")


def running_pid(state: Path) -> int | None:
    """The pid of this lease's listening sshd, if it is running (checked, not trusted)."""
    try:
        pid = int((state / "sshd.pid").read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()  # sshd retitles itself
    except (OSError, ValueError, IndexError):
        return None
    if f"-f {state / 'sshd_config'}".encode() not in cmdline.replace(b"\0", b" "):
        return None
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    if status.rsplit(")", 1)[1].split()[0] == "Z":
        return None
    return pid


def start(*, sshd: str, state: Path, join: list[str], private_tmp: bool, hide: bool,
          tmp_size: int | None, timeout: float) -> int:
    """Start the lease's sshd (daemonised) inside its cgroups; its pid."""
    config = state / "sshd_config"
    log = state / "sshd.log"
    try:
        run([sshd, "-t", "-f", str(config)], timeout=timeout, what="config check")
    except StepFailed as exc:
        raise StepFailed(f"sshd failed to start: {exc}") from None
    (state / "sshd.pid").unlink(missing_ok=True)
    setup = _Setup(join, private_tmp, hide, tmp_size)
    try:
        proc = subprocess.run([sshd, "-f", str(config), "-E", str(log)], capture_output=True,
                              timeout=timeout, env=clean_env(), preexec_fn=setup,
                              stdin=subprocess.DEVNULL, umask=0o077, check=False)
    except subprocess.TimeoutExpired:
        setup.failure()
        raise StepFailed(f"sshd failed to start: timed out after {timeout:g}s") from None
    except subprocess.SubprocessError:
        raise StepFailed("sshd failed to start: could not enter the lease's cgroups and "
                         "namespace" + setup.failure()) from None
    setup.failure()  # closes the pipe
    if proc.returncode != 0:
        raise StepFailed(f"sshd failed to start: {_log_tail(log) or stderr_tail(proc.stderr)}")
    deadline = time.monotonic() + timeout
    while (pid := running_pid(state)) is None:
        if time.monotonic() > deadline:
            raise StepFailed(f"sshd failed to start: no pid after {timeout:g}s "
                             f"({_log_tail(log)})")
        time.sleep(0.005)
    return pid


def stop(state: Path, timeout: float = 5.0) -> None:
    """Stop the lease's listening sshd (sessions live on until their cgroup is killed)."""
    pid = running_pid(state)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while running_pid(state) == pid:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    (state / "sshd.pid").unlink(missing_ok=True)


def _log_tail(log: Path) -> str:
    try:
        return stderr_tail(log.read_bytes()[-4096:])
    except OSError:
        return ""


class _Setup:
    """Runs in the child between fork and exec: join the cgroups, then a private mount
    namespace with a tenant's view of /proc and private temp dirs."""

    def __init__(self, join: list[str], private_tmp: bool, hide: bool,
                 tmp_size: int | None) -> None:
        self.join, self.private_tmp, self.hide, self.tmp_size = join, private_tmp, hide, tmp_size
        self.read_fd, self.write_fd = os.pipe()
        fcntl.fcntl(self.read_fd, fcntl.F_SETFL, os.O_NONBLOCK)

    def __call__(self) -> None:
        step = "joining the cgroups"
        try:
            for procs in self.join:
                with open(procs, "w") as f:
                    f.write(str(os.getpid()))
            if self.private_tmp or self.hide:
                libc = ctypes.CDLL(None, use_errno=True)
                step = "unsharing the mount namespace"
                _check(libc.unshare(_CLONE_NEWNS))
                _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None))
                if self.hide:
                    step = "mounting /proc with hidepid=invisible"
                    _check(libc.mount(b"proc", b"/proc", b"proc",
                                      _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, b"hidepid=invisible"))
                if self.private_tmp:
                    size = f",size={self.tmp_size}" if self.tmp_size else ""
                    for d in PRIVATE_TMP:
                        if os.path.isdir(d):
                            step = f"mounting a private {d}"
                            _check(libc.mount(b"tmpfs", d.encode(), b"tmpfs",
                                              _MS_NOSUID | _MS_NODEV,
                                              f"mode=1777{size}".encode()))
        except OSError as exc:
            os.write(self.write_fd, f"{step}: {exc.strerror}".encode()[:200])
            raise

    def failure(self) -> str:
        try:
            text = os.read(self.read_fd, 512).decode(errors="replace")
        except BlockingIOError:
            text = ""
        finally:
            os.close(self.read_fd)
            os.close(self.write_fd)
        return f" ({text})" if text else ""


def _check(rc: int) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
