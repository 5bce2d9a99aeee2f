"""The provisioning interface: what a lease asks for, what it got, and the drivers' shape.

A driver turns a paid lease into a machine the tenant can log into, and takes it back.
Every method is idempotent and safe to call again after a crash half-way: the caller
(``tick``, ``rent``) records the returned :class:`Machine` per lease and calls again on the
next pass while the machine is not where the lease wants it (see :func:`reconcile`).

An operational failure (a port range used up, sshd refusing to start, podman missing, the
operator's command failing) is never raised: it comes back as a machine in state
``failed`` with a one-line ``error``, so a failure never un-pays a lease. Only programming
errors raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cloudlease import clock
from cloudlease.model import MachineState

if TYPE_CHECKING:
    from cloudlease.provision.config import ProvisionSettings

MAX_ERROR = 300  # characters kept of a failure message


State = MachineState  # pending | ready | failed | suspended | released (one enum, in model/)


class Want(StrEnum):
    """Where the lease wants its machine to be (derived from the lease's status)."""

    READY = "ready"          # lease active
    SUSPENDED = "suspended"  # lease suspended (its pool throttled)
    RELEASED = "released"    # lease ended, expired or cancelled


@dataclass(frozen=True)
class Limits:
    """A plan's limits for one machine; ``None`` means no limit of that kind.

    Attributes:
        cpus: CPU time as a number of CPUs (``Decimal('0.5')`` = half of one CPU).
        memory_bytes: memory (RAM; swap is capped to the same where the host allows).
        pids: processes and threads at once.
    """

    cpus: Decimal | None = None
    memory_bytes: int | None = None
    pids: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"cpus": None if self.cpus is None else format(self.cpus, "f"),
                "memory_bytes": self.memory_bytes, "pids": self.pids}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Limits:
        cpus = raw.get("cpus")
        return cls(cpus=None if cpus is None else Decimal(str(cpus)),
                   memory_bytes=raw.get("memory_bytes"), pids=raw.get("pids"))


@dataclass(frozen=True)
class MachineSpec:
    """What a lease asks for.

    Attributes:
        lease_id: the lease (e.g. ``L-7``); names the account, cgroup and container.
        tenant: the tenant's name, if any.
        ssh_keys: the tenant's SSH public keys, each checked by :func:`keys.ssh_public_key`.
        limits: the plan's limits.
        ends_at: when the lease ends (UTC); a backstop expiry, not the cut-off itself.
        plan: the plan's name.
        target: the plan's placement on a cluster (a member or ``@group``), if any.
    """

    lease_id: str
    tenant: str | None
    ssh_keys: tuple[str, ...]
    limits: Limits
    ends_at: datetime
    plan: str
    target: str | None = None

    def event(self, action: str) -> dict[str, Any]:
        """The spec as JSON-able facts (public keys only; never a secret)."""
        return {"action": action, "lease_id": self.lease_id, "tenant": self.tenant,
                "ssh_keys": list(self.ssh_keys), "limits": self.limits.to_dict(),
                "ends_at": iso(self.ends_at), "plan": self.plan}


@dataclass(frozen=True)
class Machine:
    """What a lease got, as recorded per lease by the caller.

    Attributes:
        driver: the driver that made it (``command``, ``ssh-account``, ``podman``, ``lxd``).
        state: see :class:`State`.
        ssh: ``{"host", "port", "user"}`` to show the tenant, or ``None``.
        error: one line saying why the last call failed (state ``failed``), else ``None``.
        details: the driver's own facts for idempotency (port, container id, uid,
            ends_at, ...): JSON-able, never a secret.
        updated_at: when the driver last returned it (UTC).
    """

    driver: str
    state: State
    ssh: dict[str, Any] | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime = field(default_factory=clock.now)

    @classmethod
    def pending(cls, driver: str) -> Machine:
        """What to record before the first call, so a crash mid-call is retried."""
        return cls(driver=driver, state=State.PENDING)

    def to_dict(self) -> dict[str, Any]:
        return {"driver": self.driver, "state": str(self.state),
                "ssh": dict(self.ssh) if self.ssh else None, "error": self.error,
                "details": dict(self.details), "updated_at": iso(self.updated_at)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Machine:
        ssh = raw.get("ssh")
        return cls(driver=str(raw["driver"]), state=State(raw["state"]),
                   ssh=dict(ssh) if ssh else None, error=raw.get("error"),
                   details=dict(raw.get("details") or {}),
                   updated_at=clock.parse_utc(raw["updated_at"]))

    @property
    def ends_at(self) -> str | None:
        """The lease end the machine was last set up for (ISO), to notice an extension."""
        value = self.details.get("ends_at")
        return value if isinstance(value, str) else None


class Driver(Protocol):
    """One way of turning leases into machines. Every method is idempotent."""

    name: str

    def provision(self, spec: MachineSpec, current: Machine | None) -> Machine:
        """Make the machine ready (create, or repair what is missing); ``ready``/``failed``."""
        ...

    def suspend(self, spec: MachineSpec, current: Machine | None) -> Machine:
        """Freeze the tenant's processes and refuse logins; ``suspended``/``failed``."""
        ...

    def resume(self, spec: MachineSpec, current: Machine | None) -> Machine:
        """Undo :meth:`suspend`; ``ready``/``failed``."""
        ...

    def extend(self, spec: MachineSpec, current: Machine | None) -> Machine:
        """``spec.ends_at`` moved: move what depends on it; ``ready``/``failed``."""
        ...

    def release(self, spec: MachineSpec, current: Machine | None) -> Machine:
        """Kill and remove everything of the lease, even when partly gone already."""
        ...


def make_driver(settings: ProvisionSettings, home_path: str | Path) -> Driver | None:
    """The configured driver, or ``None`` for ``driver = "none"``. Imports it lazily."""
    home = Path(home_path)
    if settings.driver == "none":
        return None
    if settings.driver == "command":
        from cloudlease.provision.command import CommandDriver
        return CommandDriver(settings, home)
    if settings.driver == "ssh-account":
        from cloudlease.provision.sshaccount import SshAccountDriver
        return SshAccountDriver(settings, home)
    if settings.driver == "podman":
        from cloudlease.provision.podman import PodmanDriver
        return PodmanDriver(settings, home)
    if settings.driver == "lxd":
        from cloudlease.provision.lxd import LxdDriver
        return LxdDriver(settings, home)
    raise ValueError(f"unknown provision driver {settings.driver!r}")


def reconcile(driver: Driver, spec: MachineSpec, current: Machine | None,
              want: Want, *, changed: bool = False) -> Machine | None:
    """Call the one method that moves ``current`` towards ``want``; ``None`` = nothing to do
    (see :func:`planned` for which)."""
    action = planned(spec, current, want, changed=changed)
    return None if action is None else getattr(driver, action)(spec, current)


def planned(spec: MachineSpec, current: Machine | None, want: Want, *,
            changed: bool = False) -> str | None:
    """The driver method that moves ``current`` towards ``want``, or ``None``.

    - ``READY``: provision when there is no machine yet or it is pending/failed/released;
      resume when suspended; extend when ``spec.ends_at`` differs from what it was set up
      for; provision again (a repair) when ``changed`` says its keys or limits changed. A
      ready machine with the same end is left alone.
    - ``SUSPENDED``: suspend unless already suspended.
    - ``RELEASED``: release unless already released or never recorded.
    """
    state = current.state if current else None
    if want is Want.RELEASED:
        return None if current is None or state is State.RELEASED else "release"
    if want is Want.SUSPENDED:
        return None if state is State.SUSPENDED else "suspend"
    if state is State.SUSPENDED:
        return "resume"
    if state is State.READY:
        if changed:
            return "provision"
        if current is not None and current.ends_at != iso(spec.ends_at):
            return "extend"
        return None
    return "provision"


# --- helpers for drivers ---------------------------------------------------------------------
def one_line(text: str, limit: int = MAX_ERROR) -> str:
    """A message squeezed to one printable line of at most ``limit`` characters."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def stderr_tail(raw: bytes | str | None, limit: int = 200) -> str:
    """The last non-empty line of a program's stderr, trimmed (for error messages)."""
    if raw is None:
        return ""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return one_line(lines[-1], limit) if lines else ""


def result(driver: str, state: State, current: Machine | None = None, *,
           ssh: dict[str, Any] | None = None, error: str | None = None,
           details: dict[str, Any] | None = None) -> Machine:
    """A new record: details merge over the current ones (so facts survive a failure)."""
    merged = dict(current.details) if current and current.driver == driver else {}
    merged.update(details or {})
    return Machine(driver=driver, state=state, ssh=ssh,
                   error=None if error is None else one_line(error), details=merged,
                   updated_at=clock.now())


def failed(driver: str, current: Machine | None, error: str, **details: Any) -> Machine:
    """State ``failed`` with a one-line error, keeping the last access details and facts."""
    ssh = current.ssh if current and current.driver == driver else None
    return result(driver, State.FAILED, current, ssh=ssh, error=error, details=details)


def iso(value: datetime) -> str:
    """UTC ISO 8601 with ``Z``, as machines store times."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
