"""The ``command`` driver: the operator's own program, run once per event.

The program gets the action in ``CLOUDLEASE_ACTION`` (``provision``, ``suspend``,
``resume``, ``extend``, ``release``) and the event as JSON on stdin::

    {"action": "provision", "lease_id": "L-7", "tenant": "alice",
     "ssh_keys": ["ssh-ed25519 AAAA... alice@laptop"],
     "limits": {"cpus": "0.5", "memory_bytes": 268435456, "pids": 64},
     "ends_at": "2025-01-01T12:00:00Z", "plan": "small",
     "current": {...the machine as last recorded, or null...}}

It runs with a clean environment (PATH, HOME, LANG, LC_ALL, TZ and ``CLOUDLEASE_ACTION``,
``CLOUDLEASE_LEASE_ID``, ``CLOUDLEASE_TENANT``, ``CLOUDLEASE_HOME``; never the caller's
variables, never a secret), in the cloudlease home, with ``timeout_seconds``. Exit 0 means
done; anything else is state ``failed`` with the exit status and the last line of stderr,
retried on the next tick, so the program must be idempotent. It may print one JSON object
on stdout: ``{"ssh": {"host": ..., "port": ..., "user": ...}, "details": {...}}`` — the
access details shown to the tenant, and up to 4 KB of its own facts (strings, whole
numbers, booleans), handed back as ``current.details`` on the next call.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

from cloudlease.config.provision import ProvisionSettings
from cloudlease.provision.base import Machine, MachineSpec, State, failed, iso, result, stderr_tail

PASS_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")
MAX_DETAILS = 4096
MAX_STDOUT = 64 * 1024
_HOST = re.compile(r"^[A-Za-z0-9.:\-\[\]]{1,253}$")
_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
_DONE = {"provision": State.READY, "resume": State.READY, "extend": State.READY,
         "suspend": State.SUSPENDED, "release": State.RELEASED}


class CommandDriver:
    name = "command"

    def __init__(self, settings: ProvisionSettings, home: Path) -> None:
        self.settings = settings
        self.home = home

    def provision(self, spec: MachineSpec, current: Machine | None) -> Machine:
        return self._call("provision", spec, current)

    def suspend(self, spec: MachineSpec, current: Machine | None) -> Machine:
        return self._call("suspend", spec, current)

    def resume(self, spec: MachineSpec, current: Machine | None) -> Machine:
        return self._call("resume", spec, current)

    def extend(self, spec: MachineSpec, current: Machine | None) -> Machine:
        return self._call("extend", spec, current)

    def release(self, spec: MachineSpec, current: Machine | None) -> Machine:
        return self._call("release", spec, current)

    def environment(self, action: str, spec: MachineSpec) -> dict[str, str]:
        env = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        env.update({"CLOUDLEASE_ACTION": action, "CLOUDLEASE_LEASE_ID": spec.lease_id,
                    "CLOUDLEASE_HOME": str(self.home)})
        if spec.tenant:
            env["CLOUDLEASE_TENANT"] = spec.tenant
        return env

    def _call(self, action: str, spec: MachineSpec, current: Machine | None) -> Machine:
        try:
            argv = shlex.split(self.settings.command)
        except ValueError as exc:
            return failed(self.name, current, f"cannot parse provision.command: {exc}")
        if not argv:
            return failed(self.name, current, "provision.command is empty")
        event = {**spec.event(action), "current": current.to_dict() if current else None}
        body = json.dumps(event, sort_keys=True).encode()
        timeout = self.settings.timeout_seconds
        cwd = self.home if self.home.is_dir() else None
        try:
            proc = subprocess.run(argv, input=body, capture_output=True, timeout=timeout,
                                  env=self.environment(action, spec), cwd=cwd, check=False)
        except subprocess.TimeoutExpired:
            return failed(self.name, current, f"{action}: command timed out after {timeout:g}s")
        except OSError as exc:
            return failed(self.name, current,
                          f"{action}: could not start {argv[0]!r}: {exc.strerror}")
        if proc.returncode != 0:
            tail = stderr_tail(proc.stderr)
            return failed(self.name, current,
                          f"{action}: command exit {proc.returncode}" + (f": {tail}" if tail
                                                                          else ""))
        try:
            ssh, details = parse_output(proc.stdout)
        except ValueError as exc:
            return failed(self.name, current, f"{action}: {exc}")
        state = _DONE[action]
        if state is State.RELEASED:
            ssh = None
        elif ssh is None and current is not None and current.driver == self.name:
            ssh = current.ssh
        return result(self.name, state, current, ssh=ssh,
                      details={**details, "ends_at": iso(spec.ends_at)})


def parse_output(raw: bytes) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(ssh, details) from what the command printed; ValueError says what is wrong."""
    text = raw[:MAX_STDOUT + 1].decode(errors="replace").strip()
    if not text:
        return None, {}
    if len(raw) > MAX_STDOUT:
        raise ValueError(f"command printed more than {MAX_STDOUT} bytes")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("command printed something that is not a JSON object") from None
    if not isinstance(doc, dict):
        raise ValueError("command printed JSON that is not an object")
    unknown = sorted(set(doc) - {"ssh", "details"})
    if unknown:
        raise ValueError(f"command printed an unknown key {unknown[0]!r} (known: ssh, details)")
    ssh = doc.get("ssh")
    if ssh is not None:
        ssh = check_ssh(ssh)
    details = doc.get("details") or {}
    if not isinstance(details, dict) or any(
            not isinstance(k, str) or not (v is None or isinstance(v, str | int | bool))
            for k, v in details.items()):
        raise ValueError("command's details must be an object of strings, whole numbers, booleans")
    if len(json.dumps(details)) > MAX_DETAILS:
        raise ValueError(f"command's details are larger than {MAX_DETAILS} bytes")
    details.pop("ends_at", None)
    return ssh, details


def check_ssh(ssh: Any) -> dict[str, Any]:
    if not isinstance(ssh, dict) or set(ssh) != {"host", "port", "user"}:
        raise ValueError("command's ssh must be an object with host, port and user")
    host, port, user = ssh["host"], ssh["port"], ssh["user"]
    if not isinstance(host, str) or not _HOST.match(host):
        raise ValueError(f"command's ssh.host is not a host name or address: {host!r}"[:120])
    if type(port) is not int or not 1 <= port <= 65535:
        raise ValueError(f"command's ssh.port must be from 1 to 65535: {port!r}"[:120])
    if not isinstance(user, str) or not _USER.match(user):
        raise ValueError(f"command's ssh.user is not a user name: {user!r}"[:120])
    return {"host": host, "port": port, "user": user}
