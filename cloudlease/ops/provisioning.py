"""Provisioning driven by lease events: ``tick`` (and ``pay check`` or ``rent --wait`` for
the leases they just activated or extended) turns paid leases into machines and takes them
back, through the driver of ``[provision]`` (``cloudlease/provision/``).

On each run the work is every lease with a machine not yet released, plus every active
lease without one; each is moved towards where its status wants it (``machines.py``).
For each lease:

1. a short write records the machine as ``pending`` before the first call (so a crash
   mid-call is retried, and a lease that ends is released even if provisioning never
   finished) and *claims* it (``claimed_until``/``claimed_by``, as hook deliveries are
   claimed): an overlapping tick, or another host on a shared ledger, skips a claimed
   machine, so one event is never driven twice at a time;
2. the driver is called with no ledger lock held (drivers are idempotent and serialise on
   a host-wide lock of their own);
3. a short write saves what it returned (only while the claim is still ours) and queues
   ``provision_failed`` / ``provision_ready`` for hooks. Saving one lease and claiming the
   next share a write, so n leases cost n + 1 writes.

A failure never touches the lease: it stays paid and active, its machine ``failed`` with
a one-line error, retried on the next run. A runner that dies mid-call leaves a claim
that expires (or that the next run on the same host takes over at once when the pid is
gone). On a shared ledger a machine is driven only by the host that made it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cloudlease.core import clock, machines
from cloudlease.ledger.db import host_name
from cloudlease.model import Lease, MachineRecord, MachineState, Plan
from cloudlease.ops import deliver
from cloudlease.provision.base import Machine, MachineSpec, failed, make_driver

if TYPE_CHECKING:
    from cloudlease.config.provision import ProvisionSettings
    from cloudlease.ledger.session import Ledger
    from cloudlease.ops.context import Context

STEPS = 10                  # programs one driver call may run, each within timeout_seconds
CLAIM_MARGIN = timedelta(seconds=90)  # + the drivers' host lock wait (60 s) and slack
MAX_REQUEUE = 1             # a lease whose status moved during its call goes round once more


@dataclass
class Claim:
    """One driver call to make, claimed in the ledger."""

    lease: str
    driver: Any
    spec: MachineSpec
    sha: str
    action: str
    current: Machine | None
    keys_needed: bool


class Drivers:
    """The configured driver for new machines, and a driver per name for machines an
    earlier configuration made (so they are still released after a switch)."""

    def __init__(self, settings: ProvisionSettings, home: Any) -> None:
        self.settings = settings
        self.home = home
        self.default = make_driver(settings, home)
        self._by_name: dict[str, Any] = {}
        if self.default is not None:
            self._by_name[self.default.name] = self.default

    def named(self, name: str) -> Any:
        if name not in self._by_name:
            try:
                self._by_name[name] = make_driver(
                    dataclasses.replace(self.settings, driver=name), self.home)
            except ValueError:
                self._by_name[name] = None  # a driver this version does not know
        return self._by_name[name]


def settings_of(ctx: Context) -> ProvisionSettings:
    from cloudlease.config.provision import ProvisionSettings

    return ctx.settings.provision or ProvisionSettings()


def check_capacity(ctx: Context, plan: Plan) -> None:
    """Refuse a rent (Conflict, exit 4) whose plan's machine fits on no member of the
    driver's cluster; exit 6 when the cluster cannot be asked. Drivers without a capacity
    answer (``fits``) accept every plan."""
    from cloudlease.core.errors import BackendError, Conflict
    from cloudlease.provision.runner import StepFailed

    driver = make_driver(settings_of(ctx), ctx.home.path)
    fits = getattr(driver, "fits", None)
    if fits is None:
        return
    try:
        reason = fits(machines.limits_of(plan), plan.target)
    except StepFailed as exc:
        raise BackendError(f"cannot check whether plan {plan.name} fits: {exc}") from None
    if reason:
        raise Conflict(f"plan {plan.name} does not fit: {reason}; nothing was rented")


def run(ctx: Context, report: Any, only: set[str] | None = None) -> None:
    """Move machines towards what their leases want; ``only``: just these leases."""
    drivers = Drivers(settings_of(ctx), ctx.home.path)
    host = host_name()
    shared = bool(ctx.ledger_url)
    me = f"{host} pid {os.getpid()}"
    queue, gone = _due(ctx, drivers, host, shared, only)
    if not queue:
        return
    budget = timedelta(seconds=drivers.settings.timeout_seconds * STEPS) + CLAIM_MARGIN
    rounds: dict[str, int] = {}
    done: tuple[Claim, Machine] | None = None
    while queue or done:
        lease_id = queue.pop(0) if queue else None
        claim = None
        subject = lease_id if lease_id is not None else done[0].lease if done else ""
        with ctx.transaction(f"provision {subject}") as ledger:
            now = clock.now()
            if done is not None:
                again = _save(ctx, ledger, *done, me=me, host=host, now=now, report=report)
                if again and rounds.get(done[0].lease, 0) < MAX_REQUEUE:
                    rounds[done[0].lease] = rounds.get(done[0].lease, 0) + 1
                    queue.append(done[0].lease)
                done = None
            if lease_id is not None:
                claim = _claim(ctx, ledger, lease_id, drivers, me=me, host=host,
                               shared=shared, now=now, until=now + budget, report=report,
                               gone=lease_id in gone)
        if claim is not None:
            done = (claim, _call(claim))


def _due(ctx: Context, drivers: Drivers, host: str, shared: bool,
         only: set[str] | None) -> tuple[list[str], set[str]]:
    """Leases whose machine needs a driver call (a read: no lock, no write when idle), and
    those whose ready machine its driver says is gone (asked here, with no lock held)."""
    ledger = ctx.read()
    now = clock.now()
    marks = ", ".join(f"'{s}'" for s in machines.OPEN_MACHINE)
    recs = {r.lease: r for r in ledger.machines.where(f"state IN ({marks})")
            if only is None or r.lease in only}
    leases = ledger.leases.many(recs)
    if drivers.default is not None:
        fresh = ledger.leases.where("status = 'active' AND id NOT IN (SELECT lease FROM "
                                    "machines)", order="CAST(substr(id, 3) AS INTEGER)")
        leases.update((x.id, x) for x in fresh if only is None or x.id in only)
    tenants = ledger.tenants.many({x.tenant for x in leases.values() if x.tenant})
    plans = ledger.plans.many({x.plan for x in leases.values()})
    mine = drivers.default.name if drivers.default is not None else None
    gone = _gone(drivers, [r for r in recs.values() if r.state is MachineState.READY])
    due = []
    for lease_id, lease in leases.items():
        rec = recs.get(lease_id)
        if rec is not None and _claimed_by_other(rec, now, f"{host} pid {os.getpid()}"):
            continue
        spec = machines.spec_for(lease, tenants.get(lease.tenant or ""), plans.get(lease.plan),
                                 now)
        if machines.next_action(rec, lease, spec, machines.spec_sha(spec), host=host,
                                shared=shared, gone=lease_id in gone, driver=mine):
            due.append(lease_id)
    return due, gone


def _gone(drivers: Drivers, ready: list[MachineRecord]) -> set[str]:
    """Ready machines whose driver can tell, in one call, that they are not there (an LXD
    instance deleted behind cloudlease's back): made again on this pass."""
    by_driver: dict[str, list[str]] = {}
    for rec in ready:
        by_driver.setdefault(rec.driver, []).append(rec.lease)
    gone: set[str] = set()
    for name, leases in by_driver.items():
        driver = drivers.named(name)
        if driver is not None and hasattr(driver, "missing"):
            gone |= driver.missing(leases)
    return gone


def _claimed_by_other(rec: MachineRecord, now: datetime, me: str) -> bool:
    if rec.claimed_until is None or rec.claimed_until <= now or rec.claimed_by == me:
        return False
    host, _, pid = (rec.claimed_by or "").partition(" pid ")
    if host == host_name() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False  # the runner that claimed it died: take over now
        except PermissionError:
            pass
    return True


def _claim(ctx: Context, ledger: Ledger, lease_id: str, drivers: Drivers, *, me: str,
           host: str, shared: bool, now: datetime, until: datetime,
           report: Any, gone: bool = False) -> Claim | None:
    """Re-read the lease and its machine under the lock; claim it when a call is due."""
    lease: Lease | None = ledger.leases.get(lease_id)
    rec = ledger.machines.get(lease_id)
    if lease is None or rec is not None and _claimed_by_other(rec, now, me):
        return None
    driver = drivers.named(rec.driver) if rec is not None else drivers.default
    if driver is None:
        return None
    tenant = ledger.tenants.get(lease.tenant) if lease.tenant else None
    spec = machines.spec_for(lease, tenant, ledger.plans.get(lease.plan), now)
    sha = machines.spec_sha(spec)
    mine = drivers.default.name if drivers.default is not None else None
    action = machines.next_action(rec, lease, spec, sha, host=host, shared=shared, gone=gone,
                                  driver=mine)
    if action is None:
        return None
    keys_needed = machines.needs_keys(driver)
    reason = (machines.blocked_reason(spec, keys_needed)
              if action in machines.TOWARDS_READY else None)
    if reason is not None and (rec is None or rec.blocked
                               or rec.state is MachineState.PENDING):
        # nothing was made yet and nothing can be: say why, without a driver call
        base = rec or machines.pending(lease_id, driver.name, host, now)
        after = machines.blocked(base, reason, action=action, sha=sha, now=now)
        _record(ctx, ledger, rec, after, now, report)
        return None
    base = rec or machines.pending(lease_id, driver.name, host, now)
    ledger.machines[lease_id] = base.replace(claimed_until=until, claimed_by=me)
    return Claim(lease_id, driver, spec, sha, action, machines.to_machine(rec), keys_needed)


def _call(claim: Claim) -> Machine:
    """The driver call, with no lock held. Drivers return failures as state ``failed``;
    a driver that raises (a bug) is recorded the same way, so one lease cannot stop the
    others (CLOUDLEASE_DEBUG=1 lets it raise)."""
    try:
        return getattr(claim.driver, claim.action)(claim.spec, claim.current)
    except Exception as exc:
        if os.environ.get("CLOUDLEASE_DEBUG"):
            raise
        return failed(claim.driver.name, claim.current,
                      f"{claim.action}: internal error in the driver: "
                      f"{type(exc).__name__}: {exc}")


def _save(ctx: Context, ledger: Ledger, claim: Claim, machine: Machine, *, me: str,
          host: str, now: datetime, report: Any) -> bool:
    """Record a call's outcome while the claim is ours; True when the lease moved on
    meanwhile (it ended while being provisioned) and wants another call now."""
    cur = ledger.machines.get(claim.lease)
    if cur is None or cur.claimed_by != me:
        return False  # the claim expired and another runner took over: its result stands
    no_key = claim.keys_needed and not claim.spec.ssh_keys
    after = machines.after_call(cur, machine, action=claim.action, sha=claim.sha,
                                blocked=no_key, host=host)
    _record(ctx, ledger, cur, after, now, report)
    lease = ledger.leases.get(claim.lease)
    wanted = machines.want_for(lease) if lease is not None else None
    return wanted is not None and wanted.value != _reached(claim.action)


def _reached(action: str) -> str:
    return {"suspend": "suspended", "release": "released"}.get(action, "ready")


def _record(ctx: Context, ledger: Ledger, before: MachineRecord | None, after: MachineRecord,
            now: datetime, report: Any) -> None:
    ledger.machines[after.lease] = after
    events = machines.events(before, after)
    deliver.enqueue(ctx, ledger, events, now)
    report.events += [f"{e.name} {e.subject}" for e in events]
    report.machines.append({"lease": after.lease, "action": after.action,
                            "state": after.state.value, "error": after.error})
