"""The ``ssh-account`` driver: a Unix account per lease on this host, behind its own sshd.

Per lease ``L-7``:

- user ``cl-l-7`` with a fresh uid from ``uid_min..uid_max`` that no earlier account had
  and no later one will get (``uids.py``), its own group with the same gid, member of
  ``tenant_group``, no subordinate ids, password ``*`` (none can match), home
  ``/home/cl-l-7`` mode 0700, umask 077, account expiry the day after ``ends_at`` (a
  backstop: the lease's release is the cut-off);
- cgroup ``<controller>/<cgroup_parent>/cl-l-7`` with the plan's limits (v1 or v2);
- an sshd on ``listen_address`` and a port from ``port_min..port_max`` that it holds
  itself (chosen when it starts, another when a squatter was first: ``ports.py``),
  started inside that cgroup (so every login is limited), hardened (keys only, no root, no
  forwarding of any kind, no agent/X11, ``AllowUsers cl-l-7``, its own host key), in IPC
  and mount namespaces of its own: private SysV IPC and POSIX message queues, private
  ``/tmp``, ``/var/tmp``, ``/dev/shm`` and ``/run/lock``, and a ``/proc`` that shows the
  tenant only its own processes;
- state under ``<state_dir>/cl-l-7/`` (root only): sshd_config, host key, pid, log, keys.

suspend stops the sshd, locks the account (``!`` password: sshd refuses it) and freezes the
cgroup; resume reverses it. release stops the sshd, locks the account, freezes the cgroup,
empties the lease's namespaces (IPC objects, message queues, private temp dirs), kills
everything in the cgroup and everything the uid owns anywhere (a ``nohup`` or ``setsid``
escapee included), removes cgroup and account, then sweeps what the uid left in the
host's namespaces (SysV objects, message queues, files in shared writable places and at
or cron spools: ``sweep.py``) and the lease's state. Every step checks before it acts, so
a run after a crash half-way finishes the job.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable
from pathlib import Path

from cloudlease.config.provision import ProvisionSettings
from cloudlease.core.machine_inputs import authorized_keys_line
from cloudlease.provision import accounts, ports, sshd, statedir, sweep, uids
from cloudlease.provision.base import Machine, MachineSpec, State, failed, iso, result
from cloudlease.provision.cgroups import LeaseCgroup
from cloudlease.provision.runner import StepFailed, run, which


class SshAccountDriver:
    name = "ssh-account"

    def __init__(self, settings: ProvisionSettings, home: Path,
                 home_base: Path = Path("/home")) -> None:
        self.settings = settings
        self.state_dir = settings.state_path(home)
        self.home_base = home_base
        self.timeout = settings.timeout_seconds

    # --- the interface ----------------------------------------------------------------------
    def provision(self, spec: MachineSpec, current: Machine | None) -> Machine:
        return self._guard(spec, current, self._ready)

    def resume(self, spec: MachineSpec, current: Machine | None) -> Machine:
        return self._guard(spec, current, self._ready)

    def extend(self, spec: MachineSpec, current: Machine | None) -> Machine:
        return self._guard(spec, current, self._ready)

    def suspend(self, spec: MachineSpec, current: Machine | None) -> Machine:
        return self._guard(spec, current, self._suspend)

    def release(self, spec: MachineSpec, current: Machine | None) -> Machine:
        return self._guard(spec, current, self._release)

    # --- steps ------------------------------------------------------------------------------
    def _guard(self, spec: MachineSpec, current: Machine | None,
               step: Callable[[MachineSpec, Machine | None], Machine]) -> Machine:
        try:
            if os.geteuid() != 0:
                raise StepFailed("the ssh-account driver must run as root")
            with statedir.locked(self.state_dir):
                return step(spec, current)
        except StepFailed as exc:
            return failed(self.name, current, str(exc))

    def _ready(self, spec: MachineSpec, current: Machine | None) -> Machine:
        if not spec.ssh_keys:
            keys = self.state_dir / accounts.user_name(spec.lease_id) / "authorized_keys"
            if keys.exists():  # the tenant's keys were removed: revoke them at once
                statedir.write_private(keys, "")
            who = spec.tenant or "the lease"
            raise StepFailed(f"no SSH key for {who}: add one with 'cloudlease tenant edit "
                             f"{spec.tenant or 'NAME'} --ssh-key KEY' (the lease stays paid)")
        lines = [authorized_keys_line(k) for k in spec.ssh_keys]
        if self.settings.private_tmp:
            real = os.path.realpath(self.state_dir)
            for d in sshd.PRIVATE_TMP:
                if real == d or real.startswith(d + "/"):
                    raise StepFailed(f"state_dir {self.state_dir} is under {d}, which each "
                                     "lease's sshd sees as a private, empty tmpfs: choose "
                                     "another state_dir (or private_tmp = false)")
        user = accounts.user_name(spec.lease_id)
        t = self.timeout
        accounts.ensure_group(self.settings.tenant_group, t)
        entry = accounts.ensure_user(
            user=user, lease_id=spec.lease_id, group=self.settings.tenant_group,
            home=self.home_base / user, shell=self._shell(), ends_at=spec.ends_at, timeout=t,
            new_uid=lambda: uids.allocate(self.state_dir, self.settings.uid_min,
                                          self.settings.uid_max))
        accounts.set_expiry(user, spec.ends_at, t)
        cgroup = LeaseCgroup(user, self.settings.cgroup_parent, self.settings.cgroup)
        cgroup.create(spec.limits)
        cgroup.thaw()
        state = statedir.lease_dir(self.state_dir, user)
        statedir.write_private(state / "authorized_keys", "".join(f"{line}\n" for line in lines))
        fingerprint = self._host_key(state, user)
        accounts.set_password_field(user, accounts.NO_PASSWORD, t)
        port = self._serve(spec, user, state, cgroup, current)
        return result(self.name, State.READY, current,
                      ssh={"host": self.settings.public_host, "port": port, "user": user},
                      details={"user": user, "uid": entry.pw_uid, "port": port,
                               "home": entry.pw_dir, "ends_at": iso(spec.ends_at),
                               "cgroup": f"v{cgroup.version}",
                               "host_key_fingerprint": fingerprint})

    def _host_key(self, state: Path, user: str) -> str:
        """The lease's own ed25519 host key (made once); its fingerprint."""
        key = state / "ssh_host_ed25519_key"
        if not key.exists() or not key.with_suffix(".pub").exists():
            key.unlink(missing_ok=True)
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"cloudlease-{user}",
                 "-f", str(key)], timeout=self.timeout, what="ssh-keygen")
        return run(["ssh-keygen", "-l", "-f", str(key.with_suffix(".pub"))],
                   timeout=self.timeout, what="ssh-keygen").stdout.decode().split()[1]

    def _serve(self, spec: MachineSpec, user: str, state: Path, cgroup: LeaseCgroup,
               current: Machine | None) -> int:
        """The lease's sshd, running on a port it holds itself: the running one when it
        serves the current config on its recorded port, else one started on a port free
        at that moment (another one when a squatter takes it first; see ``ports.py``)."""
        s = self.settings
        recorded = statedir.port_of(self.state_dir, user) or statedir.as_int(
            (current.details if current else {}).get("port"))
        config = state / "sshd_config"
        pid = sshd.running_pid(state)
        if pid is not None and recorded and statedir.read_text(config) == self._config(
                user, recorded, state) and ports.holds(pid, s.listen_address, recorded):
            return recorded
        sshd.stop(state)
        sshd_bin = which("sshd", "apt-get install openssh-server")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privsep directory
        held = statedir.held_ports(self.state_dir, exclude=user)
        squatted: dict[int, str] = {}
        starts = 0
        for port in ports.candidates(s.listen_address, s.port_min, s.port_max, held,
                                     recorded, squatted):
            statedir.write_private(state / "port", f"{port}\n")
            statedir.write_private(config, self._config(user, port, state))
            try:
                pid = sshd.start(sshd=sshd_bin, state=state, join=cgroup.procs_files(),
                                 private_tmp=s.private_tmp, hide=s.hide_processes,
                                 tmp_size=spec.limits.memory_bytes, timeout=self.timeout)
            except sshd.PortTaken:
                pid = None
            if pid is not None and ports.holds(pid, s.listen_address, port):
                return port
            sshd.stop(state)
            squatted[port] = ports.owner(s.listen_address, port)
            starts += 1
            if starts >= ports.MAX_STARTS:
                break
        (state / "port").unlink(missing_ok=True)
        raise ports.exhausted(s.listen_address, s.port_min, s.port_max, held, squatted,
                              starts)

    def _config(self, user: str, port: int, state: Path) -> str:
        return sshd.config_text(user=user, address=self.settings.listen_address, port=port,
                                state=state, cat=which("cat", "coreutils"))

    def _suspend(self, spec: MachineSpec, current: Machine | None) -> Machine:
        user = accounts.user_name(spec.lease_id)
        state = self.state_dir / user
        sshd.stop(state)
        entry = accounts.lookup(user)
        if entry is not None:
            self._check_ours(entry, spec)
            accounts.set_password_field(user, accounts.LOCKED, self.timeout)
        LeaseCgroup(user, self.settings.cgroup_parent, self.settings.cgroup).freeze()
        return result(self.name, State.SUSPENDED, current,
                      ssh=current.ssh if current else None)

    def _release(self, spec: MachineSpec, current: Machine | None) -> Machine:
        user = accounts.user_name(spec.lease_id)
        state = self.state_dir / user
        sshd.stop(state)
        entry = accounts.lookup(user)
        uid = None
        if entry is not None:
            self._check_ours(entry, spec)
            uid = entry.pw_uid
            accounts.set_password_field(user, accounts.LOCKED, self.timeout)
        cgroup = LeaseCgroup(user, self.settings.cgroup_parent, self.settings.cgroup)
        cgroup.freeze()  # nothing of the tenant runs while its things are taken apart
        pid = sweep.private_pid(cgroup.procs())
        if pid is not None:
            sweep.wipe_namespaces(pid, statedir.lease_dir(self.state_dir, user),
                                  sshd.PRIVATE_TMP, self.timeout)
        cgroup.kill_all()
        if uid is not None:
            accounts.kill_user(uid)
        cgroup.kill_all()  # anything a uid-less helper left behind
        cgroup.remove()
        accounts.remove_user(user, self.timeout)
        recorded_uid = uid if uid is not None else statedir.as_int(
            (current.details if current else {}).get("uid"))
        if recorded_uid is not None and _uid_unused(recorded_uid):
            sweep.sweep_uid(recorded_uid, statedir.lease_dir(self.state_dir, user),
                            self.timeout)
        statedir.remove_lease_dir(self.state_dir, user)
        return result(self.name, State.RELEASED, current, ssh=None)

    # --- helpers ----------------------------------------------------------------------------
    def _check_ours(self, entry, spec: MachineSpec) -> None:
        if not accounts.is_ours(entry, spec.lease_id, self.settings.tenant_group):
            raise StepFailed(f"user {entry.pw_name} exists and is not this lease's account")

    def _shell(self) -> str:
        return self.settings.shell if os.path.exists(self.settings.shell) else "/bin/sh"



def _uid_unused(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return False
    except KeyError:
        return True
