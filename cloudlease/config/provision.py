"""``[provision]`` in config.toml: which driver turns leases into machines, and how.

:class:`ProvisionSettings` is the table's schema and its settings (see
``cloudlease.config.schema``). Checked whole on every command that reads config.toml, not
first when a paid lease fails to get its machine: an unknown key, a wrong type, a value
out of range (ports from 1024, an IP address to listen on), a port range upside down, a
driver without what it needs (``command``, ``image``), and on this machine: the folder the
drivers keep their state in (``state_dir``: not under /tmp, /var/tmp, /dev/shm or /run/lock; itself
and every folder above it a folder of the operator's or root's that no one else can
write; checked without creating it), the command driver's program and the ssh-account
driver's shell. Each problem names ``config.toml:provision.<key>``.

```toml
[provision]
driver = "ssh-account"          # none | command | ssh-account | podman | lxd
# command = "/usr/local/bin/cloudlease-machine"   # driver = "command": run per event
listen_address = "127.0.0.1"    # where each lease's sshd (or published port) listens
ssh_host = ""                   # what tenants are told to connect to (default: listen_address)
port_min = 22000                # ports for the leases' sshds / published container ports
port_max = 22999
timeout_seconds = 60            # for each program the driver runs
state_dir = ""                  # default: <CLOUDLEASE_HOME>/provision (root-only, 0700)
# ssh-account
uid_min = 1000000000            # each lease's account gets a fresh uid (and gid) from
uid_max = 1999999999            #   uid_min..uid_max, never handed out twice (see below)
shell = "/bin/bash"
tenant_group = "cloudlease-tenants"
cgroup = "auto"                 # auto | v1 | v2
cgroup_parent = "cloudlease"    # the leases' cgroups live under <controller>/<this>/
private_tmp = true              # a private /tmp, /var/tmp, /dev/shm per lease
hide_processes = true           # /proc shows a tenant only its own processes
# podman
image = "localhost/tenant:latest"
network = "none"                # none (no network, no ssh) | a podman network, e.g. "podman"
runtime = ""                    # podman --runtime (e.g. "runc" on hybrid-cgroup hosts)
container_ssh_port = 22         # the image's sshd port, published when a network is set
container_user = "root"         # the user tenants log in as inside the container
authorized_keys_path = "/root/.ssh/authorized_keys"  # where the tenant's keys are mounted
ulimit_nofile = 1024
ulimit_nproc = 4096
check_capacity = false          # rent asks the driver (lxd) whether the plan fits anywhere

[provision.lxd]                 # driver "lxd": a container per lease on an LXD cluster
url = "/var/lib/lxd/unix.socket"  # LXD's unix socket, or https://host:8443 with the three below
client_cert = ""                # https: this client's certificate (PEM, mode 0600)
client_key = ""                 # https: its private key (PEM, mode 0600)
server_cert = ""                # https: the server's certificate, pinned (its SHA-256)
project = "default"
image = "cl-debian"             # an image alias or fingerprint on the cluster
profiles = ["default"]
target = ""                     # "" (the cluster places), a member, or @group
ssh_listen = "127.0.0.1"        # where each lease's proxy device listens (on its member)
port_min = 22000                # default: provision.port_min / port_max
port_max = 22999
```
Relative paths (``state_dir``, the lxd certificates and key) are taken from the home, the
folder config.toml is in; the lxd files are checked on this machine like ``state_dir``
(there, regular files, PEM; the client's key and certificate mode 0600).

``uid_min..uid_max``: the ssh-account driver records the last uid it handed out in
``<state_dir>/uids`` (under the state dir's lock) and never goes below it, nor below any
account in the range, so a uid whose owner might have left something behind is never a
new tenant's. Keep the range apart from ``/etc/subuid`` and ``/etc/subgid`` (the driver
refuses an overlap) and from the uids of ordinary accounts; keep ``state_dir`` with it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cloudlease.config.checks import (
    Bad,
    absolute_path,
    boolean,
    choice,
    command,
    ip_address,
    pattern,
    seconds,
    shown,
    text,
    whole,
)
from cloudlease.config.lxd import LXD_SOCKET, LxdSettings, check_target
from cloudlease.config.registry import PROVISION_DRIVERS
from cloudlease.config.schema import Checking, Section, invalid, read_table, setting, table

__all__ = ["DRIVERS", "LXD_SOCKET", "LxdSettings", "ProvisionSettings", "check_target",
           "parse_section", "program_problem", "state_dir_problem"]

DRIVERS = ("none", *PROVISION_DRIVERS.names())
NO_STATE = ("none", "command")  # drivers that keep no state of their own
CGROUP_MODES = ("auto", "v1", "v2")
# everyone's; each lease's sshd sees private ones
SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
_HOST = r"[A-Za-z0-9.:\-\[\]]{1,253}"
_NAME = r"[a-z_][a-z0-9_-]{0,31}"
_IMAGE = r"[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}"
_NETWORK = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"


def _state_dir(value: Any) -> str:
    value = text(1024)(value)
    if value.startswith("~"):
        raise Bad(f"got {shown(value)}; ~ is not expanded: give an absolute path, or one "
                  "relative to the cloudlease home")
    return value


def _cgroup_parent(value: Any) -> str:
    value = pattern(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", "a relative cgroup path such as "
                    "cloudlease", empty=False)(value)
    if ".." in value.split("/"):
        raise Bad(f"got {shown(value)}; expected a relative cgroup path such as cloudlease "
                  "(no ..)")
    return value


def _keys_path(value: Any) -> str:
    value = absolute_path()(value)
    if ":" in value:
        raise Bad(f"got {shown(value)}; expected an absolute path without ':'")
    return value


UID_FLOOR, UID_CEILING = 65536, 4_294_967_294  # above the 16-bit ids (nobody); below -1


class ProvisionSettings(Section):
    """Checked ``[provision]`` settings (see the module docstring for each key)."""

    driver: str = setting(choice(*DRIVERS), "none", " | ".join(DRIVERS))
    command: str = setting(command(empty=True), "",
                           "driver command: the program to run per lease event")
    listen_address: str = setting(ip_address(), "127.0.0.1",
                                  "an IP of this host where each lease's sshd listens")
    ssh_host: str = setting(pattern(_HOST, "a host name or IP address"), "",
                            'the name tenants connect to ("" = listen_address)')
    port_min: int = setting(whole(1024, 65535), 22000, "one port per lease from port_min..")
    port_max: int = setting(whole(1024, 65535), 22999, "..port_max")
    timeout_seconds: float = setting(seconds(3600, as_float=True), 60.0,
                                     "for each program a driver runs")
    state_dir: str = setting(_state_dir, "", '"" = <home>/provision (never under /tmp)')
    uid_min: int = setting(whole(UID_FLOOR, UID_CEILING), 1_000_000_000,
                           "ssh-account: each lease's account gets a fresh uid (and gid) "
                           "from uid_min..")
    uid_max: int = setting(whole(UID_FLOOR, UID_CEILING), 1_999_999_999,
                           "..uid_max, never handed out twice")
    shell: str = setting(absolute_path(), "/bin/bash", "ssh-account: the tenants' shell")
    tenant_group: str = setting(pattern(_NAME, "a group name (lower case letters, digits, _ "
                                        "and -)", empty=False), "cloudlease-tenants")
    cgroup: str = setting(choice(*CGROUP_MODES), "auto", " | ".join(CGROUP_MODES))
    cgroup_parent: str = setting(_cgroup_parent, "cloudlease",
                                 "the leases' cgroups live under <controller>/<this>/")
    private_tmp: bool = setting(boolean(), True,
                                "a private /tmp, /var/tmp, /dev/shm, /run/lock per lease")
    hide_processes: bool = setting(boolean(), True, "/proc shows a tenant only its own")
    image: str = setting(pattern(_IMAGE, "an image reference"), "",
                         "driver podman: the container image")
    network: str = setting(pattern(_NETWORK, "none or a podman network name", empty=False),
                           "none", "driver podman: none (no network, no ssh) or a network")
    runtime: str = setting(pattern(_NETWORK, "a runtime name such as runc or crun"), "",
                           "podman --runtime")
    container_ssh_port: int = setting(whole(0, 65535), 22, "0: the image runs no sshd")
    container_user: str = setting(pattern(_NAME, "a user name", empty=False), "root")
    authorized_keys_path: str = setting(_keys_path, "/root/.ssh/authorized_keys")
    ulimit_nofile: int = setting(whole(64, 1048576), 1024)
    ulimit_nproc: int = setting(whole(16, 4194304), 4096)
    check_capacity: bool = setting(boolean(), False,
                                   "rent asks the driver (lxd) whether the plan fits anywhere")
    lxd: LxdSettings = table(LxdSettings, "driver lxd: a container per lease on an LXD cluster")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lxd = self.lxd  # its ports default to [provision]'s
        if lxd.port_min is None or lxd.port_max is None:
            self.__dict__["lxd"] = lxd.replace(
                port_min=self.port_min if lxd.port_min is None else lxd.port_min,
                port_max=self.port_max if lxd.port_max is None else lxd.port_max)

    @property
    def public_host(self) -> str:
        """The host tenants are told to connect to."""
        return self.ssh_host or self.listen_address

    def state_path(self, home: str | Path) -> Path:
        """Where the drivers keep their state: ``state_dir`` (from the home when relative),
        or ``<home>/provision``."""
        return Path(home) / (self.state_dir or "provision")

    def problems(self, check: Checking) -> Iterator[tuple[str, str]]:
        if self.port_min > self.port_max:
            yield "port_min", f"{self.port_min} is more than provision.port_max ({self.port_max})"
        if self.uid_min > self.uid_max:
            yield "uid_min", f"{self.uid_min} is more than provision.uid_max ({self.uid_max})"
        if self.driver == "command" and not self.command.strip():
            yield "command", ('is empty but provision.driver = "command"; name the program '
                              "to run per lease event")
        if self.driver == "podman" and not self.image:
            yield "image", 'is empty but provision.driver = "podman"; name the container image'
        if self.driver == "lxd" and not self.lxd.image:
            yield "lxd.image", ('is empty but provision.driver = "lxd"; name the image (an '
                                "alias or fingerprint on the cluster)")
        lxd_ports = (self.lxd.port_min, self.lxd.port_max)
        if lxd_ports != (self.port_min, self.port_max) and lxd_ports[0] > lxd_ports[1]:
            yield "lxd.port_min", (f"{lxd_ports[0]} is more than provision.lxd.port_max "
                                   f"({lxd_ports[1]})")
        if self.state_dir.startswith("/"):
            under = _under_shared_tmp(Path(os.path.abspath(self.state_dir)))
            if under:
                yield "state_dir", f"{self.state_dir} {_tmp_message(under)}"
                return
        if check.home is not None:
            yield from self._on_this_machine(check.home)

    def _on_this_machine(self, home: Path) -> Iterator[tuple[str, str]]:
        """What only this machine can say: the state folder, the programs."""
        if self.driver not in NO_STATE:
            path = self.state_path(home)
            problem = state_dir_problem(path)
            if problem:
                what = f'"" (= {path})' if not self.state_dir else \
                    str(path) if self.state_dir.startswith("/") else f"{self.state_dir} (= {path})"
                yield "state_dir", f"{what} {problem}"
        if self.driver == "command" and self.command.strip():
            problem = program_problem(self.command, home)
            if problem:
                yield "command", problem
        if self.driver == "ssh-account" and not _executable(Path(self.shell)):
            yield "shell", f"{self.shell} is not an executable file on this machine"


def parse_section(raw: dict[str, Any] | None, where: str = "config.toml",
                  home: Path | None = None) -> ProvisionSettings:
    """Check the ``[provision]`` table alone (``raw`` is that table, or ``None`` when
    absent), every problem at once (``LedgerError``, exit 5). Nothing on this machine is
    looked at unless ``home`` is given (``config.load`` gives the home's)."""
    settings, problems = read_table(ProvisionSettings, "provision", raw, Checking(home=home))
    if problems:
        raise invalid(problems, where)
    return settings


def _under_shared_tmp(path: Path) -> str | None:
    for d in SHARED_TMP:
        if path == Path(d) or Path(d) in path.parents:
            return d
    return None


def _tmp_message(under: str) -> str:
    return (f"is under {under}, which every local user can write to (and each lease's sshd "
            "sees as a private, empty folder): choose a folder such as /var/lib/cloudlease")


def state_dir_problem(path: Path) -> str | None:
    """Why ``path`` cannot hold the drivers' state (None when it can), checked without
    creating it: not under a shared temporary folder, and every part of it that exists
    (as written and as resolved) a folder of the operator's or root's that nobody else can
    write to, so that no other user can plant or swap what the drivers read as root. The
    reason reads after the path ("is under /tmp, ...")."""
    path = Path(os.path.abspath(path))
    real = Path(os.path.realpath(path))
    for candidate in (path, real):
        under = _under_shared_tmp(candidate)
        if under:
            return _tmp_message(under) if candidate == path else \
                f"resolves to {real}, which {_tmp_message(under)}"
    for candidate in (path, real):
        problem = _walk(candidate)
        if problem:
            return f"is not safe: {problem}"
    return None


def _walk(path: Path) -> str | None:
    euid = os.geteuid()
    for part in (*reversed(path.parents), path):
        try:
            st = os.lstat(part)
        except FileNotFoundError:
            return None  # the rest is made by the driver, 0700
        except OSError as exc:
            return f"cannot check {part}: {exc.strerror}"
        if st.st_uid not in (0, euid):
            return (f"{part} belongs to uid {st.st_uid}; it must belong to the operator "
                    f"(uid {euid}) or root")
        if stat.S_ISLNK(st.st_mode):
            continue  # its target is walked too (as resolved)
        if not stat.S_ISDIR(st.st_mode):
            return f"{part} is not a folder"
        if st.st_mode & 0o022:
            return (f"{part} can be written by other users (mode "
                    f"{stat.S_IMODE(st.st_mode):04o}); run chmod go-w {part}")
    return None


def program_problem(command_line: str, home: Path) -> str | None:
    """Why the command driver's program cannot be started here (None when it can): found
    as the driver finds it (a path from the home, else on PATH)."""
    import shlex

    program = shlex.split(command_line)[0]
    if "/" in program:
        where = home / program
        if not where.exists():
            return f"{where} does not exist"
        if not _executable(where):
            return f"{where} is not an executable file (chmod +x {where})"
        return None
    import shutil

    search = os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin"
    if shutil.which(program, path=search) is None:
        return f"{program!r} is not found on PATH ({search}); give its absolute path"
    return None


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)

