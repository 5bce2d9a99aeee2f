"""A private, hardened sshd per lease: its config, host key, port, start and stop.

The sshd starts inside the lease's cgroups (every login is its child, so every login is
limited), in an IPC namespace of its own (SysV shared memory, semaphores and message
queues, and POSIX message queues, are the lease's alone and die with it) and in a mount
namespace of its own where ``/proc`` shows a tenant only its own processes
(``hidepid=invisible``), ``/tmp``, ``/var/tmp``, ``/dev/shm`` and ``/run/lock`` are
private tmpfs mounts that vanish with the lease, and ``/dev/mqueue`` (where the host has
one) shows the lease's own queues. Keys come from a root-only file through
``AuthorizedKeysCommand``, so no tenant can read or change them.
"""

from __future__ import annotations

import ctypes
import fcntl
import ipaddress
import os
import signal
import subprocess
import time
from pathlib import Path

from cloudlease.provision.base import stderr_tail
from cloudlease.provision.runner import StepFailed, clean_env, run

PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
IPC_NAMESPACE = True  # (benchmarks/bench_provision.py compares without)
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x2, 0x4, 0x8
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000
_CLONE_NEWNS, _CLONE_NEWIPC = 0x00020000, 0x08000000


class PortTaken(StepFailed):
    """sshd could not bind its port: another program took it after it was chosen."""


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
    offset = log.stat().st_size if log.exists() else 0
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
        why = _log_tail(log, offset) or stderr_tail(proc.stderr)
        if "Cannot bind any address" in why:
            raise PortTaken(f"sshd failed to start: {why}")
        raise StepFailed(f"sshd failed to start: {why}")
    deadline = time.monotonic() + timeout
    # the daemon binds after it has left us: it either writes its pid file or dies
    while (pid := running_pid(state)) is None:
        if not _alive(config, join):
            if (pid := running_pid(state)) is not None:
                return pid
            why = _log_tail(log, offset)
            if "Cannot bind any address" in why:
                raise PortTaken(f"sshd failed to start: {why}")
            raise StepFailed(f"sshd failed to start: {why or 'it exited'}")
        if time.monotonic() > deadline:
            raise StepFailed(f"sshd failed to start: no pid after {timeout:g}s "
                             f"({_log_tail(log, offset)})")
        time.sleep(0.005)
    return pid


def _alive(config: Path, join: list[str]) -> bool:
    """Some process of the lease's cgroup still runs the sshd of ``config``."""
    wanted = f"-f {config}".encode()
    for procs in join[:1]:
        try:
            pids = Path(procs).read_text().split()
        except OSError:
            return True  # cannot tell: wait for the pid file
        for pid in pids:
            try:
                if wanted in Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" "):
                    return True
            except OSError:
                continue
        return False
    return True


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


def _log_tail(log: Path, offset: int = 0) -> str:
    """The last line sshd logged (after ``offset``)."""
    try:
        with open(log, "rb") as f:
            f.seek(max(offset, f.seek(0, os.SEEK_END) - 4096))
            return stderr_tail(f.read())
    except OSError:
        return ""


class _Setup:
    """Runs in the child between fork and exec: join the cgroups, then a private IPC
    namespace and a private mount namespace with a tenant's view of /proc and private
    temp dirs."""

    def __init__(self, join: list[str], private_tmp: bool, hide: bool,
                 tmp_size: int | None) -> None:
        self.join, self.private_tmp, self.hide, self.tmp_size = join, private_tmp, hide, tmp_size
        self.step = ""
        self.read_fd, self.write_fd = os.pipe()
        fcntl.fcntl(self.read_fd, fcntl.F_SETFL, os.O_NONBLOCK)

    def __call__(self) -> None:
        self.step = "joining the cgroups"
        try:
            for procs in self.join:
                with open(procs, "w") as f:
                    f.write(str(os.getpid()))
            mounts = self.private_tmp or self.hide
            flags = (_CLONE_NEWIPC if IPC_NAMESPACE else 0) | (_CLONE_NEWNS if mounts else 0)
            if not flags:
                return
            libc = ctypes.CDLL(None, use_errno=True)
            self.step = "unsharing the IPC and mount namespaces"
            _check(libc.unshare(flags))
            if mounts:
                self._mount(libc)
        except OSError as exc:
            os.write(self.write_fd, f"{self.step}: {exc.strerror}".encode()[:200])
            raise

    def _mount(self, libc) -> None:
        self.step = "making the mounts private"
        _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None))
        if self.hide:
            self.step = "mounting /proc with hidepid=invisible"
            _check(libc.mount(b"proc", b"/proc", b"proc",
                              _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, b"hidepid=invisible"))
        if IPC_NAMESPACE and os.path.isdir("/dev/mqueue"):
            self.step = "mounting the lease's own /dev/mqueue"
            _check(libc.mount(b"mqueue", b"/dev/mqueue", b"mqueue",
                              _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None))
        if self.private_tmp:
            size = f",size={self.tmp_size}" if self.tmp_size else ""
            for d in PRIVATE_TMP:
                if os.path.isdir(d):
                    self.step = f"mounting a private {d}"
                    _check(libc.mount(b"tmpfs", d.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV,
                                      f"mode=1777{size}".encode()))

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
