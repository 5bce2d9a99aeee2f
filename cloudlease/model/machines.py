"""The machines paid leases become: what a lease asks a provisioning driver for
(:class:`MachineSpec`, :class:`Limits`), what the driver answers (:class:`Machine`), where
the lease wants it (:class:`Want`), and the record kept per lease (:class:`MachineRecord`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from cloudlease.model.record import Record
from cloudlease.model.statuses import MachineState


@dataclasses.dataclass(frozen=True, slots=True)
class MachineRecord(Record):
    """The machine a paid lease became (``cloudlease/provision/``), as last recorded.

    Attributes:
        lease: the lease (the record's key).
        driver: the driver that made it (``command``, ``ssh-account``, ``podman``, ``lxd``).
        state: see ``MachineState``.
        created_at: when it was first recorded (``pending``, before the first driver call).
        updated_at: when it last changed.
        host: the host whose driver made it; on a shared ledger only that host drives it.
        ssh_host / ssh_port / ssh_user: what the tenant logs in to, when there is a shell.
        error: why the last call failed (state ``failed``), one line.
        details: the driver's own facts (port, uid, container, ``ends_at``, host key
            fingerprint...): JSON, never a secret.
        attempts: driver calls that failed in a row (0 after a success).
        action: the driver method last called (provision, suspend, resume, extend, release).
        spec_sha: digest of the SSH keys and limits it was last set up with; a change (a
            tenant's new key) provisions it again.
        blocked: failed for a reason that cannot pass by itself (no SSH key to log in
            with); tried again only when ``spec_sha`` changes, not on every tick.
        claimed_until: a runner is calling the driver for it until then (no other takes it).
        claimed_by: who claimed it (``host pid``).
    """

    lease: str
    driver: str
    state: MachineState
    created_at: datetime
    updated_at: datetime
    host: str | None = None
    ssh_host: str | None = None
    ssh_port: int | None = None
    ssh_user: str | None = None
    error: str | None = None
    details: dict = dataclasses.field(default_factory=dict)
    attempts: int = 0
    action: str | None = None
    spec_sha: str | None = None
    blocked: bool = False
    claimed_until: datetime | None = None
    claimed_by: str | None = None


State = MachineState  # pending | ready | failed | suspended | released


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
        updated_at: when the driver last returned it (UTC; set by ``provision.base.result``).
    """

    driver: str
    state: State
    ssh: dict[str, Any] | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None

    @classmethod
    def pending(cls, driver: str) -> Machine:
        """What to record before the first call, so a crash mid-call is retried."""
        return cls(driver=driver, state=State.PENDING)

    def to_dict(self) -> dict[str, Any]:
        return {"driver": self.driver, "state": str(self.state),
                "ssh": dict(self.ssh) if self.ssh else None, "error": self.error,
                "details": dict(self.details),
                "updated_at": None if self.updated_at is None else iso(self.updated_at)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Machine:
        ssh = raw.get("ssh")
        return cls(driver=str(raw["driver"]), state=State(raw["state"]),
                   ssh=dict(ssh) if ssh else None, error=raw.get("error"),
                   details=dict(raw.get("details") or {}),
                   updated_at=_parse(raw.get("updated_at")))

    @property
    def ends_at(self) -> str | None:
        """The lease end the machine was last set up for (ISO), to notice an extension."""
        value = self.details.get("ends_at")
        return value if isinstance(value, str) else None


def iso(value: datetime) -> str:
    """UTC ISO 8601 with ``Z``, as machines store times."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
