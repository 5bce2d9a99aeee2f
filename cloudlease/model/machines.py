"""The machines paid leases become, as the provisioning drivers last recorded them."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from cloudlease.model.record import Record
from cloudlease.model.statuses import MachineState


@dataclasses.dataclass(frozen=True, slots=True)
class MachineRecord(Record):
    """The machine a paid lease became (``cloudlease/provision/``), as last recorded.

    Attributes:
        lease: the lease (the record's key).
        driver: the driver that made it (``command``, ``ssh-account``, ``podman``).
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
