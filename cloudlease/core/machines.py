"""What a lease's machine should be: pure decisions for provisioning (no I/O, no clock).

``ops/provisioning.py`` loads leases and their machines, asks these functions what to do,
calls the driver outside the ledger lock and saves what it returned. Here:

- the lease's status says where its machine should be (:func:`want_for`): active →
  ``READY``, suspended → ``SUSPENDED``, ended, expired or cancelled → ``RELEASED``;
- a lease, its tenant and its plan make the :class:`MachineSpec` a driver gets (the
  tenant's public keys and the plan's limits), and a digest of its keys and limits, so a
  tenant's new key reaches a running machine;
- :func:`next_action` picks the driver method (through :func:`planned`), or
  none; a machine another host made on a shared ledger is that host's to drive;
- a lease that cannot get a shell (no SSH key: an anonymous lease, or a tenant without
  one) is ``failed`` with a message saying why, without a driver call, and is tried again
  only when its keys change — never un-paid, never retried in a loop;
- the hook events a change raises (``provision_ready``, ``provision_failed``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from cloudlease.core import views
from cloudlease.core.lifecycle import Event
from cloudlease.model import Lease, LeaseStatus, MachineRecord, MachineState, Plan, Tenant
from cloudlease.model.machines import Limits, Machine, MachineSpec, State, Want, iso

WANT = {LeaseStatus.ACTIVE: Want.READY, LeaseStatus.SUSPENDED: Want.SUSPENDED,
        LeaseStatus.ENDED: Want.RELEASED, LeaseStatus.EXPIRED: Want.RELEASED,
        LeaseStatus.CANCELLED: Want.RELEASED}
OPEN_MACHINE = ("pending", "ready", "failed", "suspended")  # anything not released
CLUSTER_DRIVERS = ("lxd",)  # their machines live on a cluster every host can reach
TOWARDS_READY = ("provision", "resume", "extend")


def want_for(lease: Lease) -> Want | None:
    """Where the lease wants its machine (None: awaiting payment, no machine yet)."""
    return WANT.get(lease.status)


def limits_of(plan: Plan | None) -> Limits:
    if plan is None:
        return Limits()
    return Limits(cpus=plan.cpus, memory_bytes=plan.memory_bytes, pids=plan.pids)


def spec_for(lease: Lease, tenant: Tenant | None, plan: Plan | None,
             now: datetime) -> MachineSpec:
    """What the lease asks for: the tenant's public keys, the plan's limits, its end."""
    ends = lease.ends_at or lease.closed_at or now
    keys = tuple(tenant.ssh_keys) if tenant is not None else ()
    return MachineSpec(lease.id, lease.tenant, keys, limits_of(plan), ends, lease.plan,
                       plan.target if plan is not None else None)


def spec_sha(spec: MachineSpec) -> str:
    """Digest of what a running machine must follow besides its end: keys and limits."""
    body = {"keys": sorted(spec.ssh_keys), "limits": spec.limits.to_dict()}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


def needs_keys(driver: Any) -> bool:
    """Whether the driver gives a shell that needs the tenant's key (``command``: the
    operator's program decides; ``podman`` without a network gives no ssh)."""
    if driver.name in ("ssh-account", "lxd"):
        return True
    if driver.name == "podman":
        return bool(getattr(driver, "publishes", True))
    return False


def blocked_reason(spec: MachineSpec, keys_needed: bool) -> str | None:
    """Why the machine cannot be made until someone adds a key, or None."""
    if spec.ssh_keys or not keys_needed:
        return None
    if spec.tenant is None:
        return ("anonymous lease: no tenant, so no SSH key to log in with; a machine needs "
                "a tenant with a key (rent --tenant NAME after 'cloudlease tenant add NAME "
                "--ssh-key KEY'); the lease stays paid")
    return (f"no SSH key for tenant {spec.tenant}: add one with 'cloudlease tenant edit "
            f"{spec.tenant} --ssh-key KEY' and the next tick makes the machine (the lease "
            "stays paid)")


def to_machine(rec: MachineRecord | None) -> Machine | None:
    """The driver's view of a recorded machine."""
    if rec is None:
        return None
    ssh = ({"host": rec.ssh_host, "port": rec.ssh_port, "user": rec.ssh_user}
           if rec.ssh_host and rec.ssh_port and rec.ssh_user else None)
    return Machine(driver=rec.driver, state=rec.state, ssh=ssh, error=rec.error,
                   details=dict(rec.details), updated_at=rec.updated_at)


def next_action(rec: MachineRecord | None, lease: Lease, spec: MachineSpec, sha: str, *,
                host: str, shared: bool, gone: bool = False,
                driver: str | None = None) -> str | None:
    """The driver method to call for this lease now, or None. ``gone``: the driver says
    the ready machine is not there any more (a cluster instance deleted behind its back):
    it is provisioned again like a machine whose keys changed. ``driver``: this host's
    configured driver; a cluster driver's machine is any such host's to drive."""
    want = want_for(lease)
    if want is None or rec is None and want is not Want.READY:
        return None  # never made, and not wanted: nothing to do
    if rec is not None:
        if shared and rec.host and rec.host != host and not (
                rec.driver in CLUSTER_DRIVERS and rec.driver == driver):
            return None  # made by another host sharing the ledger: its machine, its job
        if want is Want.READY and rec.blocked and rec.spec_sha == sha:
            return None  # still no key: waits for one instead of failing every tick
    changed = rec is not None and rec.state is MachineState.READY and (rec.spec_sha != sha
                                                                       or gone)
    return planned(spec, to_machine(rec), want, changed=changed)


def pending(lease_id: str, driver: str, host: str, now: datetime) -> MachineRecord:
    """What is recorded before the first call, so a crash mid-call is retried and a lease
    that ends is released even if provisioning never finished."""
    return MachineRecord(lease=lease_id, driver=driver, state=MachineState.PENDING,
                         created_at=now, updated_at=now, host=host)


def after_call(before: MachineRecord, machine: Machine, *, action: str, sha: str,
               blocked: bool, host: str) -> MachineRecord:
    """The record once a driver call returned ``machine`` (claim released)."""
    ssh = machine.ssh or {}
    failed = machine.state is MachineState.FAILED
    return before.replace(
        driver=machine.driver, state=machine.state, updated_at=machine.updated_at,
        host=before.host or host, ssh_host=ssh.get("host"), ssh_port=ssh.get("port"),
        ssh_user=ssh.get("user"), error=machine.error if failed else None,
        details=dict(machine.details), attempts=before.attempts + 1 if failed else 0,
        action=action, spec_sha=sha, blocked=blocked and failed, claimed_until=None,
        claimed_by=None)


def blocked(before: MachineRecord, reason: str, *, action: str, sha: str,
            now: datetime) -> MachineRecord:
    """The record of a machine that cannot be made yet (no call was made)."""
    return before.replace(state=MachineState.FAILED, updated_at=now, error=reason,
                          attempts=before.attempts + 1, action=action, spec_sha=sha,
                          blocked=True, claimed_until=None, claimed_by=None)


def events(before: MachineRecord | None, after: MachineRecord) -> list[Event]:
    """``provision_failed`` when a machine enters ``failed`` (once, not on every retry),
    ``provision_ready`` when it becomes ready (first time, or after a failure)."""
    was = before.state if before is not None else None
    data = {"machine": views.machine(after)}
    if after.state is MachineState.FAILED and was is not MachineState.FAILED:
        return [Event("provision_failed", after.lease, data)]
    if after.state is MachineState.READY and was not in (MachineState.READY,
                                                         MachineState.SUSPENDED):
        return [Event("provision_ready", after.lease, data)]
    return []


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
