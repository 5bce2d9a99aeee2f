"""The two-member LXD cluster of ``scripts/lxd-cluster`` for the lxd driver's tests and
benchmark: finding it (skip without it, fail with CI set), a home configured for it, a
real ``ssh`` run inside the cluster's network namespace (the proxy devices listen there),
LXD's API for looking behind the driver, and a sweep of what a test left behind.

    bash scripts/lxd-cluster install && bash scripts/lxd-cluster start
    eval "$(bash scripts/lxd-cluster env)"
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.provision_parts import in_ci

REPO = Path(__file__).resolve().parent.parent
ENV = ("LXD_NETNS", "LXD_URL", "LXD_DIRS", "LXD_IMAGE", "LXD_MEMBERS")
LABEL = "user.cloudlease.lease"


def need_lxd() -> dict[str, Any]:
    """The cluster's facts from ``scripts/lxd-cluster env``; skip (fail with CI set)
    without it."""
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root")
    missing = [v for v in ENV if not os.environ.get(v)]
    if missing:
        problems.append(f"{', '.join(missing)} not set")
    elif not os.path.exists(os.environ["LXD_URL"]) or not stat.S_ISSOCK(
            os.stat(os.environ["LXD_URL"]).st_mode):
        problems.append(f"no LXD socket at {os.environ['LXD_URL']}")
    if problems:
        message = ("no LXD cluster (" + "; ".join(problems) + "): run `bash scripts/lxd-cluster "
                   "install && bash scripts/lxd-cluster start && eval \"$(bash "
                   "scripts/lxd-cluster env)\"`")
        if in_ci():
            pytest.fail(f"CI is set, so lxd tests may not skip: {message}")
        pytest.skip(message)
    return {"netns": os.environ["LXD_NETNS"], "url": os.environ["LXD_URL"],
            "dirs": os.environ["LXD_DIRS"].split(","), "image": os.environ["LXD_IMAGE"],
            "members": os.environ["LXD_MEMBERS"].split(",")}


def toml(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return json.dumps(str(value))


def configure(home: Path, cluster: dict, *, provision: dict | None = None, **lxd: Any) -> None:
    """Replace the home's [provision] with the lxd driver on the test cluster."""
    section = {"driver": "lxd", "timeout_seconds": 60, "state_dir": str(home / "provision"),
               **(provision or {})}
    table = {"url": cluster["url"], "image": cluster["image"], "port_min": 24000,
             "port_max": 24999, **lxd}
    cfg = home / "config.toml"
    head = cfg.read_text().split("\n[provision]\n")[0].rstrip("\n")
    body = "".join(f"{k} = {toml(v)}\n" for k, v in section.items())
    body += "\n[provision.lxd]\n" + "".join(f"{k} = {toml(v)}\n" for k, v in table.items())
    cfg.write_text(f"{head}\n\n[provision]\n{body}")


def ssh(cluster: dict, key: Path, port: int, command: str, *, timeout: float = 30,
        user: str = "root", host: str = "127.0.0.1") -> subprocess.CompletedProcess[str]:
    """A real ``ssh`` inside the cluster's network namespace, never prompting."""
    return subprocess.run(
        ["nsenter", f"--net={cluster['netns']}", "ssh", "-i", str(key), "-p", str(port),
         "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
         "-o", "ConnectTimeout=5", "-o", "ServerAliveInterval=2",
         "-o", "ServerAliveCountMax=2", "-o", "IdentitiesOnly=yes", f"{user}@{host}",
         command], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def login(cluster: dict, key: Path, machine: dict, command: str, *,
          deadline: float = 90) -> subprocess.CompletedProcess[str]:
    """ssh into a lease's container, waiting (up to ``deadline`` s) for its sshd to come up
    with the container (ssh's own exit 255 means no session yet)."""
    end = time.monotonic() + deadline
    while True:
        out = ssh(cluster, key, machine["ssh"]["port"], command, timeout=60)
        if out.returncode != 255 or time.monotonic() > end:
            return out
        time.sleep(0.25)


def client(cluster: dict):
    """pylxd on the test cluster's unix socket (reads from the host namespace)."""
    import pylxd

    return pylxd.Client(endpoint=cluster["url"], timeout=60)


def instance(cluster: dict, name: str) -> dict | None:
    from pylxd import exceptions

    try:
        return client(cluster).api.instances[name].get(params={"recursion": 1}).json()[
            "metadata"]
    except exceptions.NotFound:
        return None


def delete_behind_our_back(cluster: dict, name: str) -> None:
    """Force-stop and delete an instance straight through LXD's API."""
    api = client(cluster).api
    for body, call in (({"action": "stop", "force": True}, api.instances[name].state.put),
                       (None, api.instances[name].delete)):
        reply = call(json=body) if body else call()
        op = reply.json()["metadata"]["id"]
        api.operations[op].wait.get(params={"timeout": 60}, timeout=90)


def sweep(cluster: dict) -> None:
    """Delete every instance a cloudlease test made (they carry the lease label)."""
    for inst in client(cluster).api.instances.get(params={"recursion": 1}).json()["metadata"]:
        if LABEL in (inst.get("config") or {}):
            try:
                delete_behind_our_back(cluster, inst["name"])
            except Exception:  # noqa: BLE001 - a sweep does what it can
                pass


def daemon_pid(cluster: dict, member: str) -> int:
    d = cluster["dirs"][cluster["members"].index(member)]
    return int(Path(d, "daemon.pid").read_text())


def kill_member(cluster: dict, member: str) -> None:
    """Stop a member's daemon at once (its containers go on running, as after a crash)."""
    pid = daemon_pid(cluster, member)
    os.kill(pid, signal.SIGKILL)
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def revive(cluster: dict) -> None:
    """Start any member whose daemon is gone and wait until both are online again."""
    subprocess.run(["bash", str(REPO / "scripts" / "lxd-cluster"), "start"], check=True,
                   timeout=300, capture_output=True)
