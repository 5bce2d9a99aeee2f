"""What the ``lxd`` driver reads off the cluster to place machines: which members may take
one (online, matching a member or ``@group`` target), how much memory and CPU each has
left, and which proxy ports the instances already hold.

A member's room is its memory less the larger of what is in use and what its instances'
``limits.memory`` already promise, and its CPU threads less the CPUs its instances'
``limits.cpu.allowance`` quotas promise (LXD itself does not refuse an over-committed
member: the check is cloudlease's, before a rent and before a create).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from cloudlease.provision.base import Limits

_ALLOWANCE = re.compile(r"^(\d+)ms/(\d+)ms$")


def used_ports(instances: list[dict[str, Any]]) -> set[int]:
    """Ports any instance's proxy devices listen on (whatever the address)."""
    ports: set[int] = set()
    for inst in instances:
        for device in (inst.get("devices") or {}).values():
            if device.get("type") == "proxy":
                tail = str(device.get("listen", "")).rsplit(":", 1)[-1]
                if tail.isdigit():
                    ports.add(int(tail))
    return ports


def _promised(instances: list[dict[str, Any]], member: str) -> tuple[int, Decimal]:
    memory, cpus = 0, Decimal(0)
    for inst in instances:
        if (inst.get("location") or "") != member:
            continue
        config = inst.get("config") or {}
        raw = str(config.get("limits.memory", ""))
        if raw.isdigit():
            memory += int(raw)
        match = _ALLOWANCE.match(str(config.get("limits.cpu.allowance", "")))
        if match:
            cpus += Decimal(match.group(1)) / Decimal(match.group(2))
    return memory, cpus


def eligible(members: list[dict[str, Any]], target: str) -> list[dict[str, Any]]:
    """The members a machine may go to: online, and the target member or in its group."""
    out = []
    for m in members:
        if str(m.get("status", "")).lower() != "online":
            continue
        if target.startswith("@") and target[1:] not in (m.get("groups") or []):
            continue
        if target and not target.startswith("@") and m.get("server_name") != target:
            continue
        out.append(m)
    return out


def no_room(api: Any, limits: Limits, target: str) -> str | None:
    """Why no member can take a machine with ``limits`` on ``target`` (None: one can)."""
    members = api.members()
    where = f"target {target}" if target else "the cluster"
    candidates = eligible(members, target)
    if not candidates:
        known = ", ".join(f"{m.get('server_name')} ({str(m.get('status', '?')).lower()})"
                          for m in members) or "none"
        return f"no online member for {where} (members: {known})"
    if limits.memory_bytes is None and limits.cpus is None:
        return None
    instances = api.instances()
    said = []
    for m in candidates:
        name = m.get("server_name") or ""
        res = api.resources(name)
        mem = res.get("memory") or {}
        total = int(mem.get("total") or 0)
        used, cpus = _promised(instances, name)
        free_mem = total - max(int(mem.get("used") or 0), used)
        free_cpu = Decimal(int((res.get("cpu") or {}).get("total") or 0)) - cpus
        short = []
        if limits.memory_bytes is not None and limits.memory_bytes > free_mem:
            short.append(f"{max(free_mem, 0) // 2**20} MiB memory free")
        if limits.cpus is not None and limits.cpus > free_cpu:
            short.append(f"{max(free_cpu, Decimal(0))} CPUs free")
        if not short:
            return None
        said.append(f"{name or 'the server'}: {', '.join(short)}")
    want = ", ".join(x for x in (
        f"{limits.memory_bytes // 2**20} MiB memory" if limits.memory_bytes else "",
        f"{limits.cpus} CPUs" if limits.cpus is not None else "") if x)
    return f"no room on {where} for {want} ({'; '.join(said)})"
