"""Helpers for the tests that drive machines through the CLI: config edits, payments, a
small command driver that records what it is asked, and releasing what a test made."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import Any

PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVr1l0y5hG4y4Tx0fQ3y8lN8lX6cR9n3B4Gk2JtY0nV t@x"
OTHER = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKzx9HmlRBaHT0bq2lb9Z7Hc0oJmF2IR/6h6dO0S6bP4 "
         "bob@laptop")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


def set_provision(home: Path, **keys: Any) -> None:
    """Replace the [provision] table of the home's config.toml (the template's last)."""
    cfg = home / "config.toml"
    text = cfg.read_text()
    head = text.split("\n[provision]\n")[0].rstrip("\n")
    body = "".join(f"{k} = {toml_value(v)}\n" for k, v in keys.items())
    cfg.write_text(f"{head}\n\n[provision]\n{body}")


def set_hooks(home: Path, **hooks: str) -> None:
    cfg = home / "config.toml"
    lines = "".join(f"{k} = {json.dumps(v)}\n" for k, v in hooks.items())
    cfg.write_text(cfg.read_text().replace("[hooks]\n", f"[hooks]\n{lines}", 1))


def pay(cli, request_id: str) -> dict:
    """Pay a request in full on the simulated chain and confirm it (no tick)."""
    cli("devchain", "pay", request_id)
    cli("devchain", "mine")
    return {}


def command_script(folder: Path) -> Path:
    """A command driver that logs each event (one JSON line per call to ``calls.jsonl``),
    sleeps while ``sleep`` holds seconds, fails while ``fail`` exists, and answers with
    access details for the actions that make the machine ready."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "machine.py"
    path.write_text(f"""#!{sys.executable}
import fcntl, json, os, sys, time
here = {str(folder)!r}
event = json.load(sys.stdin)
action = os.environ["CLOUDLEASE_ACTION"]
with open(os.path.join(here, "calls.jsonl"), "a") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.write(json.dumps({{**event, "env_action": action, "env": sorted(os.environ)}}) + "\\n")
if os.path.exists(os.path.join(here, "sleep")):
    time.sleep(float(open(os.path.join(here, "sleep")).read()))
if os.path.exists(os.path.join(here, "fail")):
    print("the VM host is down", file=sys.stderr)
    sys.exit(3)
if action in ("provision", "resume", "extend"):
    print(json.dumps({{"ssh": {{"host": "vm.example.net", "port": 2201, "user": "tenant"}},
                      "details": {{"vm": "vm-" + event["lease_id"]}}}}))
""")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def calls(folder: Path) -> list[dict]:
    log = folder / "calls.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def actions(folder: Path) -> list[str]:
    return [f"{c['action']} {c['lease_id']}" for c in calls(folder)]


def start_lease_ids_at(home: Path, number: int) -> None:
    """Make the next lease L-<number + 1>: tests that make real accounts and containers
    (named after the lease) then never meet another test's, or an operator's, names."""
    from cloudlease.ops.context import Context

    ctx = Context.at(home)
    try:
        with ctx.transaction("test: lease numbers") as ledger:
            ledger.set_counter("lease", number)
    finally:
        ctx.close()


def machine_records(home: Path) -> list:
    from cloudlease.ops.context import Context

    ctx = Context.at(home)
    try:
        return ctx.read().machines.all()
    finally:
        ctx.close()


def release_all(home: Path) -> None:
    """Release every machine a test home recorded, through its driver (kills and removes
    accounts, cgroups, sshds, containers), whatever state the test left it in."""
    from cloudlease.ops.context import Context
    from cloudlease.ops.provisioning import Drivers, settings_of
    from cloudlease.provision.base import Limits, MachineSpec

    ctx = Context.at(home)
    try:
        if not ctx.exists():
            return
        drivers = Drivers(settings_of(ctx), home)
        for rec in ctx.read().machines.all():
            driver = drivers.named(rec.driver)
            if driver is not None:
                spec = MachineSpec(rec.lease, None, (), Limits(), rec.updated_at, "test")
                driver.release(spec, None)
    finally:
        ctx.close()
