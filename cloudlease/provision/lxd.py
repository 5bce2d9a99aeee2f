"""The ``lxd`` driver: a container per lease on an LXD cluster (or a single LXD server).

Per lease ``L-7``, instance ``cl-l-7`` in ``[provision.lxd] project``, from ``image``, with
``profiles``, placed by the cluster or on the plan's ``target`` (else the table's
``target``; a member's name or ``@group``), and:

- the plan's limits: ``limits.cpu.allowance`` as a hard quota (``50ms/100ms`` for 0.5
  CPU), ``limits.memory`` with no swap, ``limits.processes``;
- ``security.idmap.isolated``: a user namespace of its own (no two tenants share a uid);
- no network but a proxy device ``ssh`` that listens on ``ssh_listen`` and a port from
  ``port_min..port_max`` on its member and connects to the container's sshd;
- the tenant's keys, each behind ``restrict,pty``, written to ``/root/.ssh/authorized_keys``
  through LXD's file API, and an SSH host key of its own (made here; its fingerprint is
  recorded, the image's keys are removed);
- ``user.cloudlease.lease`` naming the lease: an instance without it is never touched.

The instance's member is recorded (``machine.details.member``). suspend freezes it (its
processes stop; logins hang), resume unfreezes, extend only records the new end, release
stops it (forced after half of ``timeout_seconds``) and deletes it. Each step looks before
it acts, so a lost answer, a crash between create and start, an instance already there or
already gone all end in the same place. An instance deleted behind cloudlease's back is
made again when the lease is active, and ``details.note`` says so.

One driver serves every host sharing a ledger: the ledger says which leases have
machines, LXD says where they are.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from pathlib import Path
from typing import Any

from cloudlease.config.provision import ProvisionSettings
from cloudlease.core import clock
from cloudlease.core.machine_inputs import authorized_keys_line
from cloudlease.provision import accounts, statedir
from cloudlease.provision.base import Limits, Machine, MachineSpec, State, failed, iso, result
from cloudlease.provision.cgroups import cpu_quota_us
from cloudlease.provision.lxd_api import Lxd, LxdFailed
from cloudlease.provision.lxd_fit import no_room, used_ports
from cloudlease.provision.runner import StepFailed, run, which

LABEL = "user.cloudlease.lease"
HOST_KEY = "user.cloudlease.host_key"  # the fingerprint of the host key pushed in
DEVICE = "ssh"
SSHD_PORT = 22
START_TRIES = 3  # a port another listener took after it was chosen: pick another
OTHER_HOST_KEYS = ("ssh_host_rsa_key", "ssh_host_ecdsa_key", "ssh_host_dsa_key")


def container_name(lease_id: str) -> str:
    """``L-7`` → ``cl-l-7`` (a valid LXD instance name)."""
    return accounts.user_name(lease_id)


def cpu_allowance(cpus: Any) -> str:
    """A hard CPU quota in LXD's syntax: ``0.5`` → ``50ms/100ms`` (1 ms steps: ``1000ms``
    periods when a tenth of a millisecond would be lost)."""
    quota_us = cpu_quota_us(cpus)
    if quota_us % 1000 == 0:
        return f"{quota_us // 1000}ms/100ms"
    return f"{-(-cpu_quota_us(cpus, 1_000_000) // 1000)}ms/1000ms"


def limits_config(limits: Limits) -> dict[str, str]:
    out = {"limits.cpu.allowance": "", "limits.memory": "", "limits.memory.swap": "false",
           "limits.processes": ""}
    if limits.cpus is not None:
        out["limits.cpu.allowance"] = cpu_allowance(limits.cpus)
    if limits.memory_bytes is not None:
        out["limits.memory"] = str(limits.memory_bytes)
    if limits.pids is not None:
        out["limits.processes"] = str(limits.pids)
    return out


class LxdDriver:
    name = "lxd"

    def __init__(self, settings: ProvisionSettings, home: Path) -> None:
        self.settings = settings
        self.lxd = settings.lxd
        self.state_dir = settings.state_path(home)
        self.timeout = settings.timeout_seconds

    # --- the interface ----------------------------------------------------------------------
    def provision(self, spec: MachineSpec, current: Machine | None) -> Machine:
        return self._guard(self._ready, spec, current)

    def resume(self, spec: MachineSpec, current: Machine | None) -> Machine:
        return self._guard(self._ready, spec, current)

    def extend(self, spec: MachineSpec, current: Machine | None) -> Machine:
        return self._guard(self._ready, spec, current)

    def suspend(self, spec: MachineSpec, current: Machine | None) -> Machine:
        return self._guard(self._suspend, spec, current)

    def release(self, spec: MachineSpec, current: Machine | None) -> Machine:
        return self._guard(self._release, spec, current)

    def missing(self, lease_ids: list[str]) -> set[str]:
        """The leases among ``lease_ids`` whose instance is not on the cluster (empty when
        LXD cannot be asked: nothing is concluded from silence)."""
        api = Lxd(self.lxd, self.timeout)
        try:
            names = api.names()
        except StepFailed:
            return set()
        finally:
            api.close()
        return {lid for lid in lease_ids if container_name(lid) not in names}

    def fits(self, limits: Limits, target: str | None) -> str | None:
        """Why no member can take a machine with ``limits`` (None: one can). Raises
        :class:`StepFailed` when LXD cannot be asked."""
        api = Lxd(self.lxd, self.timeout)
        try:
            return no_room(api, limits, target or self.lxd.target)
        finally:
            api.close()

    # --- steps ------------------------------------------------------------------------------
    def _guard(self, step, spec: MachineSpec, current: Machine | None) -> Machine:
        api = Lxd(self.lxd, self.timeout)
        try:
            with statedir.locked(self.state_dir):
                return step(api, spec, current)
        except StepFailed as exc:
            return failed(self.name, current, str(exc))
        finally:
            api.close()

    def _ready(self, api: Lxd, spec: MachineSpec, current: Machine | None) -> Machine:
        name = container_name(spec.lease_id)
        inst = api.instance(name)
        if inst is not None:
            self._check_ours(inst, spec)
        if not spec.ssh_keys:
            if inst is not None:  # the tenant's keys were removed: revoke them at once
                self._push_keys(api, name, ())
            raise StepFailed(f"no SSH key for {spec.tenant or 'the lease'}: add one with "
                             f"'cloudlease tenant edit {spec.tenant or 'NAME'} --ssh-key KEY'"
                             " (the lease stays paid)")
        note = None
        made_before = bool(current and current.driver == self.name
                           and current.details.get("container"))
        if inst is not None and inst.get("status") not in ("Running", "Frozen") \
                and not (inst.get("config") or {}).get(HOST_KEY):
            # made but never set up (a crash or a member lost mid-create may leave it
            # without its files): no tenant ever had it, so it is made afresh
            self._delete(api, name)
            inst = None
        if inst is None:
            inst = self._create(api, spec, name, current)
            if made_before:
                note = (f"instance {name} was gone (deleted outside cloudlease); made again "
                        f"{iso(clock.now())}")
        config = inst.get("config") or {}
        wanted = limits_config(spec.limits)
        if any(config.get(k, "") != v for k, v in wanted.items()):
            api.patch(name, {"config": wanted})  # PATCH merges: the rest stays
        self._push_keys(api, name, spec.ssh_keys)
        fingerprint = config.get(HOST_KEY) or self._push_host_key(api, name)
        status = inst.get("status")
        if status == "Frozen":
            api.state(name, "unfreeze")
        elif status != "Running":
            self._start(api, name)
        inst = api.instance(name)
        if inst is None or inst.get("status") != "Running":
            raise StepFailed(f"instance {name} is {inst.get('status') if inst else 'gone'}, "
                             "not running")
        port = _port_of(inst)
        member = inst.get("location") or ""
        details: dict[str, Any] = {
            "container": name, "member": member, "project": self.lxd.project,
            "image": self.lxd.image, "port": port, "ends_at": iso(spec.ends_at),
            "host_key_fingerprint": fingerprint}
        if note:
            details.update(note=note, remade=int((current.details if current else {})
                                                 .get("remade") or 0) + 1)
        ssh = {"host": self._ssh_host(api, member), "port": port, "user": "root"} \
            if port else None
        return result(self.name, State.READY, current, ssh=ssh, details=details)

    def _create(self, api: Lxd, spec: MachineSpec, name: str,
                current: Machine | None) -> dict[str, Any]:
        s = self.lxd
        fingerprint = api.image(s.image)
        if fingerprint is None:
            raise StepFailed(f"image {s.image!r} is not on LXD (project {s.project}): import "
                             "it, or fix [provision.lxd] image")
        target = spec.target or s.target
        reason = no_room(api, spec.limits, target)
        if reason:
            raise StepFailed(reason)
        preferred = statedir.as_int((current.details if current else {}).get("port"))
        port = self._free_port(api, preferred, set())
        config = {k: v for k, v in limits_config(spec.limits).items() if v}
        config.update({LABEL: spec.lease_id, "user.cloudlease.plan": spec.plan,
                       "security.idmap.isolated": "true", "security.nesting": "false"})
        body = {"name": name, "type": "container", "profiles": list(s.profiles),
                "source": {"type": "image", "fingerprint": fingerprint},
                "config": config, "devices": {DEVICE: self._device(port)}}
        try:
            api.create(body, target)
        except LxdFailed:
            if api.instance(name) is None:  # a lost answer may still have made it
                raise
        inst = api.instance(name)
        if inst is None:
            raise StepFailed(f"LXD did not create {name}")
        for key in OTHER_HOST_KEYS:  # the image's own keys would be shared by every lease
            api.remove_file(name, f"/etc/ssh/{key}")
            api.remove_file(name, f"/etc/ssh/{key}.pub")
        return inst

    def _device(self, port: int) -> dict[str, str]:
        host = f"[{self.lxd.ssh_listen}]" if ":" in self.lxd.ssh_listen else self.lxd.ssh_listen
        return {"type": "proxy", "listen": f"tcp:{host}:{port}",
                "connect": f"tcp:127.0.0.1:{SSHD_PORT}", "bind": "host"}

    def _free_port(self, api: Lxd, preferred: int | None, avoid: set[int]) -> int:
        held = used_ports(api.instances()) | avoid
        s = self.lxd
        if preferred and s.port_min <= preferred <= s.port_max and preferred not in held:
            return preferred
        for port in range(s.port_min, s.port_max + 1):
            if port not in held:
                return port
        raise StepFailed(f"port range {s.port_min}-{s.port_max} exhausted: every port is "
                         "held by an instance's proxy device (raise [provision.lxd] port_max)")

    def _start(self, api: Lxd, name: str) -> None:
        """Start it; a proxy port taken by some other listener meanwhile gets another."""
        avoid: set[int] = set()
        for attempt in range(START_TRIES):
            try:
                api.state(name, "start", timeout=int(self.timeout))
                return
            except LxdFailed as exc:
                if "address already in use" not in str(exc) or attempt == START_TRIES - 1:
                    raise
                avoid.add(_port_of(api.instance(name) or {}) or 0)
                port = self._free_port(api, None, avoid)
                api.patch(name, {"devices": {DEVICE: self._device(port)}})

    def _push_keys(self, api: Lxd, name: str, keys: tuple[str, ...]) -> None:
        api.push(name, "/root/.ssh", b"", 0o700, directory=True)
        text = "".join(f"{authorized_keys_line(k)}\n" for k in keys)
        api.push(name, "/root/.ssh/authorized_keys", text.encode(), 0o600)

    def _push_host_key(self, api: Lxd, name: str) -> str:
        """A new ed25519 host key for this instance (made in a root-only folder, pushed,
        and forgotten here); its fingerprint is recorded on the instance."""
        keygen = which("ssh-keygen", "apt-get install openssh-client")
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.state_dir) as tmp:
            key = Path(tmp) / "key"
            run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", f"cloudlease-{name}", "-f",
                 str(key)], timeout=self.timeout, what="ssh-keygen")
            private, public = key.read_bytes(), key.with_suffix(".pub").read_bytes()
        api.push(name, "/etc/ssh/ssh_host_ed25519_key", private, 0o600)
        api.push(name, "/etc/ssh/ssh_host_ed25519_key.pub", public, 0o644)
        blob = base64.b64decode(public.split()[1])
        fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode() \
            .rstrip("=")
        api.patch(name, {"config": {HOST_KEY: fingerprint}})
        return fingerprint

    def _suspend(self, api: Lxd, spec: MachineSpec, current: Machine | None) -> Machine:
        name = container_name(spec.lease_id)
        inst = api.instance(name)
        if inst is not None:
            self._check_ours(inst, spec)
            if inst.get("status") == "Running":
                api.state(name, "freeze")
        return result(self.name, State.SUSPENDED, current,
                      ssh=current.ssh if current else None)

    def _release(self, api: Lxd, spec: MachineSpec, current: Machine | None) -> Machine:
        name = container_name(spec.lease_id)
        inst = api.instance(name)
        if inst is not None:
            self._check_ours(inst, spec)
            if inst.get("status") in ("Running", "Frozen"):
                try:
                    api.state(name, "stop", timeout=max(1, int(self.timeout / 2)))
                except LxdFailed:
                    if (api.instance(name) or {}).get("status") not in (None, "Stopped"):
                        api.state(name, "stop", force=True)
            self._delete(api, name)
        return result(self.name, State.RELEASED, current, ssh=None)

    def _delete(self, api: Lxd, name: str) -> None:
        try:
            api.delete(name)
        except LxdFailed:
            if api.instance(name) is not None:
                raise

    # --- helpers ----------------------------------------------------------------------------
    def _check_ours(self, inst: dict[str, Any], spec: MachineSpec) -> None:
        if (inst.get("config") or {}).get(LABEL) != spec.lease_id:
            raise StepFailed(f"instance {inst.get('name')} exists and is not this lease's "
                             f"(no {LABEL}={spec.lease_id}); cloudlease leaves it alone")

    def _ssh_host(self, api: Lxd, member: str) -> str:
        """What the tenant connects to: ``[provision] ssh_host``, else ``ssh_listen``, else
        (a wildcard listen address) the member's own address."""
        if self.settings.ssh_host:
            return self.settings.ssh_host
        if self.lxd.ssh_listen not in ("0.0.0.0", "::"):
            return self.lxd.ssh_listen
        for m in api.members():
            if m.get("server_name") == member and m.get("url"):
                from cloudlease.net import parse_url

                return parse_url(m["url"], schemes=("https",)).host
        return self.lxd.ssh_listen


def _port_of(inst: dict[str, Any]) -> int | None:
    device = (inst.get("devices") or {}).get(DEVICE) or {}
    listen = device.get("listen", "")
    return statedir.as_int(listen.rsplit(":", 1)[-1]) if listen else None
