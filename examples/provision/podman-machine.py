#!/usr/bin/env python3
"""A cloudlease ``command`` provisioning driver: one podman container per lease.

Use it in config.toml (adjust the options to your image and network):

    [provision]
    driver = "command"
    command = '''/usr/local/bin/podman-machine.py --image localhost/tenant:latest
        --network podman --runtime runc --port-min 23000 --port-max 23099'''

cloudlease runs it per event with CLOUDLEASE_ACTION (provision, suspend, resume, extend,
release) and the event as JSON on stdin (lease_id, tenant, ssh_keys, limits, ends_at, plan,
current). It must be idempotent: the same event can come twice, and a failed one (exit
non-zero, a message on stderr) comes again on the next tick. On success it prints the
tenant's access details as JSON, which cloudlease stores and shows:

    {"ssh": {"host": "127.0.0.1", "port": 23000, "user": "root"}, "details": {...}}

The image must run an sshd that reads /root/.ssh/authorized_keys (each key is written
behind ``restrict,pty``). Standard library only; needs root and podman.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

TIMEOUT = 60


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--image", required=True)
    parser.add_argument("--network", default="podman")
    parser.add_argument("--runtime", default="")
    parser.add_argument("--host", default="127.0.0.1", help="address to publish ssh on")
    parser.add_argument("--port-min", type=int, default=23000)
    parser.add_argument("--port-max", type=int, default=23099)
    parser.add_argument("--keys-dir", default="/var/lib/cloudlease-machines")
    args = parser.parse_args()
    action = os.environ.get("CLOUDLEASE_ACTION", "")
    event = json.load(sys.stdin)
    name = "cl-" + event["lease_id"].lower()
    podman = ["podman", *(["--runtime", args.runtime] if args.runtime else [])]
    keys = Path(args.keys_dir) / name / "authorized_keys"
    state = status(podman, name)
    if action in ("provision", "resume", "extend"):
        if not event["ssh_keys"]:
            return fail(f"tenant {event['tenant']} has no SSH key")
        keys.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        keys.write_text("".join(f"restrict,pty {k}\n" for k in event["ssh_keys"]))
        keys.chmod(0o644)
        if state is None:
            port = free_port(podman, args)
            if port is None:
                return fail(f"no free port in {args.port_min}-{args.port_max}")
            limits = event["limits"]
            cmd = [*podman, "run", "--detach", "--name", name,
                   "--label", f"cloudlease.lease={event['lease_id']}",
                   "--label", "cloudlease.example=podman-machine",
                   "--network", args.network, "--publish", f"{args.host}:{port}:22",
                   "--security-opt", "no-new-privileges",
                   "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
                   "--volume", f"{keys}:/root/.ssh/authorized_keys:ro"]
            if limits.get("cpus"):
                cmd += ["--cpus", limits["cpus"]]
            if limits.get("memory_bytes"):
                cmd += ["--memory", str(limits["memory_bytes"]),
                        "--memory-swap", str(limits["memory_bytes"])]
            if limits.get("pids"):
                cmd += ["--pids-limit", str(limits["pids"])]
            podman_run([*cmd, args.image])
        elif state == "paused":
            podman_run([*podman, "unpause", name])
        elif state != "running":
            podman_run([*podman, "start", name])
        port = published_port(podman, name)
        print(json.dumps({"ssh": {"host": args.host, "port": port, "user": "root"},
                          "details": {"container": name, "port": port}}))
        return 0
    if action == "suspend":
        if state == "running":
            podman_run([*podman, "pause", name])
        return 0
    if action == "release":
        if state is not None:
            podman_run([*podman, "rm", "--force", "--time", "0", name])
        if keys.exists():
            keys.unlink()
            keys.parent.rmdir()
        return 0
    return fail(f"unknown action {action!r}")


def status(podman: list[str], name: str) -> str | None:
    proc = subprocess.run([*podman, "container", "inspect", "--format", "{{.State.Status}}",
                           name], capture_output=True, text=True, timeout=TIMEOUT)
    return proc.stdout.strip() if proc.returncode == 0 else None


def published_port(podman: list[str], name: str) -> int:
    out = subprocess.run([*podman, "port", name, "22/tcp"], capture_output=True, text=True,
                         timeout=TIMEOUT, check=True).stdout
    return int(out.split()[0].rsplit(":", 1)[1])


def free_port(podman: list[str], args: argparse.Namespace) -> int | None:
    names = subprocess.run([*podman, "ps", "--all", "--filter",
                            "label=cloudlease.example=podman-machine", "--format",
                            "{{.Names}}"], capture_output=True, text=True, timeout=TIMEOUT,
                           check=True).stdout.split()
    taken = set()
    for other in names:
        try:
            taken.add(published_port(podman, other))
        except (subprocess.CalledProcessError, ValueError, IndexError):
            continue
    for port in range(args.port_min, args.port_max + 1):
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind((args.host, port))
            except OSError:
                continue
        return port
    return None


def podman_run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise SystemExit(fail(f"{cmd[1] if cmd[1] != '--runtime' else cmd[3]} failed: {tail}"))


def fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
