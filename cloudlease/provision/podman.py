"""The ``podman`` driver: a container per lease from the operator's image.

Per lease ``L-7``, container ``cl-l-7`` (label ``cloudlease.lease=L-7``) runs the image's
own command with the plan's limits (``--cpus``, ``--memory`` with no extra swap,
``--pids-limit``), ``--security-opt no-new-privileges``, explicit ``--ulimit nofile``/``nproc``
(root in some sandboxes lacks CAP_SYS_RESOURCE, and podman's defaults then fail), and the
tenant's keys (each behind ``restrict,pty``) mounted read-only at ``authorized_keys_path``.

Root in the container is not root on the host: each container runs in a user namespace of
its own (``--userns=auto:size=65536``: podman maps its uids 0-65535 onto a range of the
host's that no other container holds, taken from the ``containers`` entries of
/etc/subuid and /etc/subgid, which must exist and must not overlap any other range or the
ssh-account driver's uids), and with every capability dropped but what sshd needs
(:func:`capabilities`). The machine's ``details`` carry the ``uid_map``.

Access: with ``network = "none"`` (the default) the container has no network at all —
only loopback — and the tenant gets no ssh (``ssh`` is null; the operator reaches it with
``podman exec``). With a podman network (e.g. ``"podman"``, the default bridge) the
image's sshd port (``container_ssh_port``) is published on ``listen_address`` and a port
from ``port_min..port_max`` (held by conmon; another port when a squatter took it), and
the tenant logs in as ``container_user``; the container can then also reach out through
that network. The image must run an sshd that reads ``authorized_keys_path`` (see
``tests/test_provision_podman.py`` for a tiny one).

suspend pauses the container (cgroup freezer: its processes stop, the sshd no longer
answers); resume unpauses; release removes it (``rm --force``) and its state.
"""

from __future__ import annotations

import json
from pathlib import Path

from cloudlease.config.provision import ProvisionSettings
from cloudlease.core.machine_inputs import authorized_keys_line
from cloudlease.provision import accounts, ports, statedir, uids
from cloudlease.provision.base import (
    Machine,
    MachineSpec,
    State,
    failed,
    iso,
    result,
    stderr_tail,
)
from cloudlease.provision.cgroups import cpu_quota_us
from cloudlease.provision.runner import StepFailed, run, which

USERNS_SIZE = 65536  # uids (and gids) per container: 0..65535 inside, nobody included
SUBID_OWNER = "containers"  # whose /etc/subuid and /etc/subgid ranges --userns=auto uses


def capabilities(settings: ProvisionSettings) -> list[str]:
    """What the image's sshd needs, and nothing else (found by taking each away): SETUID
    and SETGID to drop privileges, SYS_CHROOT for its privilege-separation chroot,
    NET_BIND_SERVICE for a port below 1024, CHOWN and FOWNER to hand a pty to a user that
    is not root. Everything a login starts has at most these."""
    caps = ["SETUID", "SETGID", "SYS_CHROOT"]
    if 0 < settings.container_ssh_port < 1024:
        caps.append("NET_BIND_SERVICE")
    if settings.container_user != "root":
        caps += ["CHOWN", "FOWNER"]
    return caps


def check_subids(settings: ProvisionSettings) -> None:
    """``--userns=auto`` takes each container's ids from the ranges of ``containers`` in
    /etc/subuid and /etc/subgid: they must be there, large enough, and clear of every
    other range and of the ssh-account driver's uids."""
    for path in uids.SUBID_FILES:
        ranges = uids.subid_ranges(path)
        mine = [(first, count) for owner, first, count in ranges if owner == SUBID_OWNER]
        if sum(count for _, count in mine) < USERNS_SIZE:
            raise StepFailed(
                f"podman runs each container in a user namespace of its own "
                f"(--userns=auto), which needs subordinate ids for '{SUBID_OWNER}' in "
                f"{path}: add a line such as '{SUBID_OWNER}:2147483647:2147483648' (to "
                "/etc/subuid and /etc/subgid; see examples/provision/README.md)")
        for first, count in mine:
            clash = uids.overlaps(first, first + count - 1, [path], skip=SUBID_OWNER)
            if clash is None and first <= settings.uid_max and \
                    settings.uid_min <= first + count - 1:
                clash = f"provision.uid_min..uid_max ({settings.uid_min}-{settings.uid_max})"
            if clash is not None:
                raise StepFailed(f"{path}'s range for {SUBID_OWNER} ({first}-"
                                 f"{first + count - 1}) overlaps {clash}: a container's "
                                 "root could be someone else on this host")


class PodmanDriver:
    name = "podman"

    def __init__(self, settings: ProvisionSettings, home: Path, program: str = "podman") -> None:
        self.settings = settings
        self.state_dir = settings.state_path(home)
        self.program = program
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

    # --- steps ------------------------------------------------------------------------------
    def _guard(self, step, spec: MachineSpec, current: Machine | None) -> Machine:
        try:
            with statedir.locked(self.state_dir):
                return step(spec, current)
        except StepFailed as exc:
            return failed(self.name, current, str(exc))

    @property
    def publishes(self) -> bool:
        return self.settings.network != "none" and self.settings.container_ssh_port > 0

    def _ready(self, spec: MachineSpec, current: Machine | None) -> Machine:
        podman = which(self.program, "apt-get install podman")
        if self.publishes and not spec.ssh_keys:
            keys = self.state_dir / accounts.user_name(spec.lease_id) / "authorized_keys"
            if keys.exists():  # the tenant's keys were removed: revoke them at once
                statedir.rewrite_in_place(keys, "", mode=0o644)
            raise StepFailed(f"no SSH key for {spec.tenant or 'the lease'}: add one with "
                             f"'cloudlease tenant edit {spec.tenant or 'NAME'} --ssh-key KEY'"
                             " (the lease stays paid)")
        name = accounts.user_name(spec.lease_id)
        state = statedir.lease_dir(self.state_dir, name)
        keys = state / "authorized_keys"
        # read inside the container by container_user; the folder around it is 0700
        statedir.rewrite_in_place(keys, "".join(f"{authorized_keys_line(k)}\n"
                                                for k in spec.ssh_keys), mode=0o644)
        info = self._inspect(podman, name)
        port = statedir.port_of(self.state_dir, name)
        if info is None:
            port = self._create(podman, spec, name, state, keys, port)
            info = self._inspect(podman, name)
            if info is None:
                raise StepFailed(f"podman run did not create {name}")
        status = info.get("State", {}).get("Status", "")
        if status == "paused":
            self._podman(podman, ["unpause", name], "podman unpause")
        elif status != "running":
            self._podman(podman, ["start", name], "podman start")
        info = self._inspect(podman, name) or info
        if info.get("State", {}).get("Status") != "running":
            raise StepFailed(f"container {name} is {info.get('State', {}).get('Status')}, "
                             "not running (see 'podman logs')")
        pid = info.get("State", {}).get("Pid") or 0  # container uid, host uid, count
        uid_map = " ".join((statedir.read_text(Path(f"/proc/{pid}/uid_map")) or "").split())
        ssh = ({"host": self.settings.public_host, "port": port,
                "user": self.settings.container_user} if self.publishes and port else None)
        return result(self.name, State.READY, current, ssh=ssh,
                      details={"container": name, "container_id": info.get("Id", "")[:12],
                               "image": self.settings.image, "network": self.settings.network,
                               "port": port, "uid_map": uid_map,
                               "ends_at": iso(spec.ends_at)})

    def _create(self, podman: str, spec: MachineSpec, name: str, state: Path, keys: Path,
                recorded: int | None) -> int | None:
        """``podman run``; when it publishes, on a port free at that moment, and another
        one when a squatter takes it first (conmon, which holds a published port, must
        end up holding it; see ``ports.py``). The port, or None."""
        check_subids(self.settings)
        if not self.publishes:
            self._podman(podman, self._run_args(spec, name, keys, None), "podman run")
            return None
        s = self.settings
        held = statedir.held_ports(self.state_dir, exclude=name)
        squatted: dict[int, str] = {}
        starts = 0
        for port in ports.candidates(s.listen_address, s.port_min, s.port_max, held,
                                     recorded, squatted):
            statedir.write_private(state / "port", f"{port}\n")
            proc = self._podman(podman, self._run_args(spec, name, keys, port), "podman run",
                                ok=(0, 126))
            if proc.returncode == 0 and self._holds(podman, name, port):
                return port
            if proc.returncode and b"address already in use" not in proc.stderr:
                self._remove(podman, name)
                raise StepFailed(f"podman run failed (exit {proc.returncode}): "
                                 f"{stderr_tail(proc.stderr)}".rstrip(": "))
            self._remove(podman, name)
            squatted[port] = ports.owner(s.listen_address, port)
            starts += 1
            if starts >= ports.MAX_STARTS:
                break
        (state / "port").unlink(missing_ok=True)
        raise ports.exhausted(s.listen_address, s.port_min, s.port_max, held, squatted,
                              starts)

    def _holds(self, podman: str, name: str, port: int) -> bool:
        info = self._inspect(podman, name) or {}
        conmon = info.get("State", {}).get("ConmonPid") or 0
        return bool(conmon) and ports.holds(conmon, self.settings.listen_address, port)

    def _run_args(self, spec: MachineSpec, name: str, keys: Path, port: int | None) -> list[str]:
        s = self.settings
        args = ["run", "--detach", "--name", name, "--hostname", name,
                "--label", f"cloudlease.lease={spec.lease_id}",
                "--network", s.network,
                "--userns", f"auto:size={USERNS_SIZE}",
                "--cap-drop", "all", "--cap-add", ",".join(capabilities(s)),
                "--security-opt", "no-new-privileges",
                "--ulimit", f"nofile={s.ulimit_nofile}:{s.ulimit_nofile}",
                "--ulimit", f"nproc={s.ulimit_nproc}:{s.ulimit_nproc}",
                # U: owned by the container's root (host root is nobody in there, and
                # sshd's StrictModes refuses keys owned by nobody)
                "--volume", f"{keys}:{s.authorized_keys_path}:ro,U"]
        if port:
            host = f"[{s.listen_address}]" if ":" in s.listen_address else s.listen_address
            args += ["--publish", f"{host}:{port}:{s.container_ssh_port}/tcp"]
        limits = spec.limits
        if limits.cpus is not None:  # as a quota, the same rounding as the ssh-account driver
            args += ["--cpu-period", "100000", "--cpu-quota", str(cpu_quota_us(limits.cpus))]
        if limits.memory_bytes is not None:
            args += ["--memory", str(limits.memory_bytes),
                     "--memory-swap", str(limits.memory_bytes)]
        if limits.pids is not None:
            args += ["--pids-limit", str(limits.pids)]
        return [*args, s.image]

    def _suspend(self, spec: MachineSpec, current: Machine | None) -> Machine:
        podman = which(self.program, "apt-get install podman")
        name = accounts.user_name(spec.lease_id)
        info = self._inspect(podman, name)
        if info is not None and info.get("State", {}).get("Status") == "running":
            self._podman(podman, ["pause", name], "podman pause")
        return result(self.name, State.SUSPENDED, current,
                      ssh=current.ssh if current else None)

    def _release(self, spec: MachineSpec, current: Machine | None) -> Machine:
        podman = which(self.program, "apt-get install podman")
        name = accounts.user_name(spec.lease_id)
        self._remove(podman, name)
        statedir.remove_lease_dir(self.state_dir, name)
        return result(self.name, State.RELEASED, current, ssh=None)

    # --- helpers ----------------------------------------------------------------------------
    def _remove(self, podman: str, name: str) -> None:
        """``podman rm --force``, tried twice (podman 4.3 sometimes reports a busy shm mount
        of a container it removed anyway); the container must be gone."""
        for _ in range(2):
            if self._inspect(podman, name) is None:
                return
            self._podman(podman, ["rm", "--force", "--time", "0", name], "podman rm",
                         ok=(0, 1, 2, 125))
        if self._inspect(podman, name) is not None:
            raise StepFailed(f"podman rm left container {name} in place")

    def _podman(self, podman: str, args: list[str], what: str, ok: tuple[int, ...] = (0,)):
        runtime = ["--runtime", self.settings.runtime] if self.settings.runtime else []
        # cwd: conmon drops an "oom" marker file in its working directory after an OOM kill
        return run([podman, *runtime, *args], timeout=self.timeout, what=what, ok=ok,
                   cwd=str(self.state_dir))

    def _inspect(self, podman: str, name: str) -> dict | None:
        proc = run([podman, "container", "inspect", name], timeout=self.timeout,
                   what="podman inspect", ok=(0, 125))
        if proc.returncode != 0:
            return None
        try:
            found = json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise StepFailed("podman inspect printed something that is not JSON") from None
        return found[0] if found else None
