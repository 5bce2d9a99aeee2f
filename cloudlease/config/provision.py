"""``[provision]`` in config.toml: which driver turns leases into machines, and how.

Checked strictly: an unknown key, a wrong type or an out-of-range value is a
:class:`LedgerError` naming ``config.toml:provision.<key>`` and what is allowed.

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
Relative paths are from the folder config.toml is in.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudlease.core.clock import seconds
from cloudlease.core.errors import LedgerError

DRIVERS = ("none", "command", "ssh-account", "podman", "lxd")
LXD_SOCKET = "/var/lib/lxd/unix.socket"  # Debian's lxd (LXD_DIR /var/lib/lxd)
CGROUP_MODES = ("auto", "v1", "v2")
_HOST = re.compile(r"^[A-Za-z0-9.:\-\[\]]{1,253}$")
_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_CGROUP_PARENT = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}$")
_NETWORK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_LXD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")  # project, profile, member
_LXD_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")  # alias or fingerprint


@dataclass(frozen=True)
class LxdSettings:
    """Checked ``[provision.lxd]`` settings (see the module docstring for each key); the
    paths are absolute (a relative one is taken from config.toml's folder)."""

    url: str = LXD_SOCKET
    client_cert: str = ""
    client_key: str = ""
    server_cert: str = ""
    project: str = "default"
    image: str = ""
    profiles: tuple[str, ...] = ("default",)
    target: str = ""
    ssh_listen: str = "127.0.0.1"
    port_min: int = 22000
    port_max: int = 22999

    @property
    def https(self) -> bool:
        return self.url.startswith("https://")


@dataclass(frozen=True)
class ProvisionSettings:
    """Checked ``[provision]`` settings (see the module docstring for each key)."""

    driver: str = "none"
    command: str = ""
    listen_address: str = "127.0.0.1"
    ssh_host: str = ""
    port_min: int = 22000
    port_max: int = 22999
    timeout_seconds: float = 60.0  # a duration, never money
    state_dir: str = ""
    shell: str = "/bin/bash"
    tenant_group: str = "cloudlease-tenants"
    cgroup: str = "auto"
    cgroup_parent: str = "cloudlease"
    private_tmp: bool = True
    hide_processes: bool = True
    image: str = ""
    network: str = "none"
    runtime: str = ""
    container_ssh_port: int = 22
    container_user: str = "root"
    authorized_keys_path: str = "/root/.ssh/authorized_keys"
    ulimit_nofile: int = 1024
    ulimit_nproc: int = 4096
    check_capacity: bool = False
    lxd: LxdSettings = LxdSettings()

    @property
    def public_host(self) -> str:
        """The host tenants are told to connect to."""
        return self.ssh_host or self.listen_address

    def state_path(self, home: str | Path) -> Path:
        return Path(self.state_dir) if self.state_dir else Path(home) / "provision"


_TYPES: dict[str, type] = {
    "driver": str, "command": str, "listen_address": str, "ssh_host": str, "port_min": int,
    "port_max": int, "timeout_seconds": Decimal, "state_dir": str, "shell": str,
    "tenant_group": str, "cgroup": str, "cgroup_parent": str, "private_tmp": bool,
    "hide_processes": bool, "image": str, "network": str, "runtime": str,
    "container_ssh_port": int, "container_user": str, "authorized_keys_path": str,
    "ulimit_nofile": int, "ulimit_nproc": int, "check_capacity": bool, "lxd": dict,
}


def parse_section(raw: dict[str, Any] | None, where: str = "config.toml") -> ProvisionSettings:
    """Check the ``[provision]`` table (``raw`` is that table, or ``None`` when absent)."""
    if raw is None:
        return ProvisionSettings()
    if not isinstance(raw, dict):
        raise _bad(where, None, "must be a table")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        kind = _TYPES.get(key)
        if kind is None:
            import difflib

            close = difflib.get_close_matches(key, list(_TYPES), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise _bad(where, key, f"unknown key ({hint}allowed: {', '.join(sorted(_TYPES))})")
        if kind is Decimal and type(value) is int:
            value = Decimal(value)
        if kind is int and type(value) is not int or not isinstance(value, kind):
            raise _bad(where, key, f"must be {_TYPE_NAMES[kind]}")
        values[key] = value
    s = ProvisionSettings(**{k: v for k, v in values.items()
                             if k not in ("timeout_seconds", "lxd")})

    def check(ok: bool, key: str, allowed: str) -> None:
        if not ok:
            raise _bad(where, key, f"{allowed}, got {values.get(key, getattr(s, key))!r}")

    check(s.driver in DRIVERS, "driver", f"must be one of {', '.join(DRIVERS)}")
    check(s.cgroup in CGROUP_MODES, "cgroup", f"must be one of {', '.join(CGROUP_MODES)}")
    try:
        ipaddress.ip_address(s.listen_address)
        address_ok = True
    except ValueError:
        address_ok = False
    check(address_ok, "listen_address", "must be an IP address (e.g. 127.0.0.1)")
    check(not s.ssh_host or bool(_HOST.match(s.ssh_host)), "ssh_host",
          "must be a host name or IP address")
    check(1024 <= s.port_min <= 65535, "port_min", "must be from 1024 to 65535")
    check(1024 <= s.port_max <= 65535, "port_max", "must be from 1024 to 65535")
    if s.port_min > s.port_max:
        raise _bad(where, "port_min", f"{s.port_min} is more than provision.port_max "
                                      f"({s.port_max})")
    timeout = values.get("timeout_seconds", Decimal(60))
    check(timeout.is_finite() and 0 < timeout <= 3600, "timeout_seconds",
          "must be from 0 to 3600 seconds")
    check(not s.state_dir or s.state_dir.startswith("/"), "state_dir",
          "must be an absolute path (or empty for <home>/provision)")
    check(s.shell.startswith("/") and "\n" not in s.shell, "shell", "must be an absolute path")
    check(bool(_NAME.match(s.tenant_group)), "tenant_group",
          "must be a group name (lower case letters, digits, _ and -)")
    check(bool(_CGROUP_PARENT.match(s.cgroup_parent)) and ".." not in s.cgroup_parent,
          "cgroup_parent", "must be a relative cgroup path such as cloudlease")
    check(not s.image or bool(_IMAGE.match(s.image)), "image", "must be an image reference")
    check(bool(_NETWORK.match(s.network)), "network",
          "must be none or a podman network name")
    check(not s.runtime or bool(_NETWORK.match(s.runtime)), "runtime",
          "must be a runtime name such as runc or crun")
    check(0 <= s.container_ssh_port <= 65535, "container_ssh_port",
          "must be from 1 to 65535 (0: the image runs no sshd)")
    check(bool(_NAME.match(s.container_user)), "container_user", "must be a user name")
    check(s.authorized_keys_path.startswith("/") and ":" not in s.authorized_keys_path,
          "authorized_keys_path", "must be an absolute path without ':'")
    check(64 <= s.ulimit_nofile <= 1048576, "ulimit_nofile", "must be from 64 to 1048576")
    check(16 <= s.ulimit_nproc <= 4194304, "ulimit_nproc", "must be from 16 to 4194304")
    if s.driver == "command" and not s.command.strip():
        raise _bad(where, "command", 'is empty but provision.driver = "command"; name the '
                                     "program to run per lease event")
    if s.driver == "podman" and not s.image:
        raise _bad(where, "image", 'is empty but provision.driver = "podman"; name the '
                                   "container image")
    lxd = parse_lxd(values.get("lxd"), s, where)
    if s.driver == "lxd" and not lxd.image:
        raise _bad(where, "lxd.image", 'is empty but provision.driver = "lxd"; name the '
                                       "image (an alias or fingerprint on the cluster)")
    return ProvisionSettings(**{**s.__dict__, "timeout_seconds": seconds(timeout),
                                "lxd": lxd})


_TYPE_NAMES = {str: "a string", int: "a whole number", bool: "true or false",
               Decimal: "a number of seconds", dict: "a table", list: "a list of names"}
_LXD_TYPES: dict[str, type] = {
    "url": str, "client_cert": str, "client_key": str, "server_cert": str, "project": str,
    "image": str, "profiles": list, "target": str, "ssh_listen": str, "port_min": int,
    "port_max": int,
}


def check_target(text: str) -> str | None:
    """Why ``text`` is not a placement (a cluster member's name or ``@group``), or None."""
    name = text[1:] if text.startswith("@") else text
    if _LXD_NAME.match(name):
        return None
    return "must be a cluster member's name or @group (letters, digits, _ . -)"


def parse_lxd(raw: Any, section: ProvisionSettings, where: str) -> LxdSettings:
    """Check ``[provision.lxd]`` (``raw`` is that table, or None); ports default to the
    section's ``port_min``/``port_max``."""
    if raw is None:
        raw = {}
    values: dict[str, Any] = {"port_min": section.port_min, "port_max": section.port_max}
    for key, value in raw.items():
        kind = _LXD_TYPES.get(key)
        if kind is None:
            raise _bad(where, f"lxd.{key}",
                       f"unknown key (allowed: {', '.join(sorted(_LXD_TYPES))})")
        if kind is int and type(value) is not int or not isinstance(value, kind):
            raise _bad(where, f"lxd.{key}", f"must be {_TYPE_NAMES[kind]}")
        values[key] = value
    profiles = values.pop("profiles", ["default"])
    if not all(isinstance(p, str) and _LXD_NAME.match(p) for p in profiles):
        raise _bad(where, "lxd.profiles", f"must be a list of profile names, got {profiles!r}")
    s = LxdSettings(**values, profiles=tuple(profiles))

    def check(ok: bool, key: str, allowed: str) -> None:
        if not ok:
            raise _bad(where, f"lxd.{key}", f"{allowed}, got {getattr(s, key)!r}")

    check(s.https or s.url.startswith("/") and s.url.isprintable() and " " not in s.url
          and len(s.url) < 108, "url",
          "must be the path of LXD's unix socket or https://host:port")
    if s.https:
        from cloudlease.net import parse_url

        try:
            url = parse_url(s.url, schemes=("https",))
            ok = url.username is None and url.password is None and url.path in ("", "/") \
                and not url.query
        except ValueError:
            ok = False
        check(ok, "url", "must be https://host:port with nothing after it")
    check(bool(_LXD_NAME.match(s.project)), "project", "must be an LXD project name")
    check(not s.image or bool(_LXD_IMAGE.match(s.image)), "image",
          "must be an image alias or fingerprint")
    check(not s.target or check_target(s.target) is None, "target",
          "must be empty (the cluster places), a member's name or @group")
    try:
        ipaddress.ip_address(s.ssh_listen)
        listen_ok = True
    except ValueError:
        listen_ok = False
    check(listen_ok, "ssh_listen", "must be an IP address (e.g. 127.0.0.1 or 0.0.0.0)")
    check(1024 <= s.port_min <= 65535, "port_min", "must be from 1024 to 65535")
    check(1024 <= s.port_max <= 65535, "port_max", "must be from 1024 to 65535")
    if s.port_min > s.port_max:
        raise _bad(where, "lxd.port_min", f"{s.port_min} is more than provision.lxd.port_max "
                                          f"({s.port_max})")
    base = Path(where).parent
    paths = {}
    for key in ("client_cert", "client_key", "server_cert"):
        value = getattr(s, key)
        if value and not s.https:
            raise _bad(where, f"lxd.{key}", "only applies to an https:// url")
        if s.https and not value:
            raise _bad(where, f"lxd.{key}", "is required with an https:// url (the client "
                                            "certificate, its key, and the server's "
                                            "certificate to pin)")
        if value:
            path = (base / value) if not value.startswith("/") else Path(value)
            problem = _file_problem(path, secret=key != "server_cert")
            if problem:
                raise _bad(where, f"lxd.{key}", problem)
            paths[key] = str(path)
    return LxdSettings(**{**s.__dict__, **paths})


def _file_problem(path: Path, *, secret: bool) -> str | None:
    """Why a certificate or key file cannot be used (None when it can)."""
    import os
    import stat

    try:
        st = os.lstat(path)
        head = path.read_bytes()[:64 * 1024] if stat.S_ISREG(st.st_mode) else b""
    except FileNotFoundError:
        return f"{path} does not exist"
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror}"
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        return f"{path} is not a regular file (a symlink is refused)"
    if secret and st.st_mode & 0o077:
        return (f"{path} can be read by others (mode {stat.S_IMODE(st.st_mode):04o}); run "
                f"`chmod 600 {path}`")
    if b"-----BEGIN " not in head:
        return f"{path} is not a PEM file"
    return None


def _bad(where: str, key: str | None, what: str) -> LedgerError:
    """``config.toml:provision.key: problem``, as config.py words every other key."""
    name = f"provision.{key}" if key else "provision"
    return LedgerError(f"{where}:{name}: {what}", code="config_invalid")
