"""``[provision]`` in config.toml: which driver turns leases into machines, and how.

Checked strictly: an unknown key, a wrong type or an out-of-range value is a
:class:`LedgerError` naming ``config.toml:provision.<key>`` and what is allowed.

```toml
[provision]
driver = "ssh-account"          # none | command | ssh-account | podman
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
```

``uid_min..uid_max``: the ssh-account driver records the last uid it handed out in
``<state_dir>/uids`` (under the state dir's lock) and never goes below it, nor below any
account in the range, so a uid whose owner might have left something behind is never a
new tenant's. Keep the range apart from ``/etc/subuid`` and ``/etc/subgid`` (the driver
refuses an overlap) and from the uids of ordinary accounts; keep ``state_dir`` with it.
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

DRIVERS = ("none", "command", "ssh-account", "podman")
CGROUP_MODES = ("auto", "v1", "v2")
_HOST = re.compile(r"^[A-Za-z0-9.:\-\[\]]{1,253}$")
_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_CGROUP_PARENT = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}$")
UID_FLOOR, UID_CEILING = 65536, 4_294_967_294  # above the 16-bit ids (nobody); below -1
_NETWORK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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
    uid_min: int = 1_000_000_000
    uid_max: int = 1_999_999_999
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

    @property
    def public_host(self) -> str:
        """The host tenants are told to connect to."""
        return self.ssh_host or self.listen_address

    def state_path(self, home: str | Path) -> Path:
        return Path(self.state_dir) if self.state_dir else Path(home) / "provision"


_TYPES: dict[str, type] = {
    "driver": str, "command": str, "listen_address": str, "ssh_host": str, "port_min": int,
    "port_max": int, "timeout_seconds": Decimal, "state_dir": str, "shell": str,
    "uid_min": int, "uid_max": int,
    "tenant_group": str, "cgroup": str, "cgroup_parent": str, "private_tmp": bool,
    "hide_processes": bool, "image": str, "network": str, "runtime": str,
    "container_ssh_port": int, "container_user": str, "authorized_keys_path": str,
    "ulimit_nofile": int, "ulimit_nproc": int,
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
    s = ProvisionSettings(**{k: v for k, v in values.items() if k != "timeout_seconds"})

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
    check(UID_FLOOR <= s.uid_min <= UID_CEILING, "uid_min",
          f"must be from {UID_FLOOR} to {UID_CEILING}")
    check(UID_FLOOR <= s.uid_max <= UID_CEILING, "uid_max",
          f"must be from {UID_FLOOR} to {UID_CEILING}")
    if s.uid_min > s.uid_max:
        raise _bad(where, "uid_min", f"{s.uid_min} is more than provision.uid_max "
                                     f"({s.uid_max})")
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
    return ProvisionSettings(**{**s.__dict__, "timeout_seconds": seconds(timeout)})


_TYPE_NAMES = {str: "a string", int: "a whole number", bool: "true or false",
               Decimal: "a number of seconds"}


def _bad(where: str, key: str | None, what: str) -> LedgerError:
    """``config.toml:provision.key: problem``, as config.py words every other key."""
    name = f"provision.{key}" if key else "provision"
    return LedgerError(f"{where}:{name}: {what}", code="config_invalid")
