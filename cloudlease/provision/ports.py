"""The leases' ports: ``port_min..port_max`` belong to the operator, but any local user (a
tenant, ``nobody``) can bind a port in it first. So a port is chosen at the moment of use,
the lease's own server (its sshd, or conmon for a published container port) is started
on it, that server is checked to hold the listening socket, and another port is tried
when a squatter got there first. Squatted ports are skipped, never waited for: a lease
fails (stays paid, retried on the next tick) only when no port of the range is left, and
its error then names who holds them.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from cloudlease.provision.runner import StepFailed

MAX_STARTS = 8  # servers started per call before giving up (each start that loses a race)
_LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    """A listening TCP socket on this host's network namespace."""

    address: str
    port: int
    uid: int
    inode: int


def port_free(address: str, port: int) -> bool:
    """Nothing listens on ``address:port`` (or on a wildcard covering it)."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def _address(hexa: str) -> str:
    raw = bytes.fromhex(hexa)
    # /proc/net/tcp* print each 32-bit word in host (little-endian) order
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def listeners(port: int, proc: str = "/proc/net") -> list[Listener]:
    """Every listening TCP socket on ``port`` (IPv4 and IPv6)."""
    found = []
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(proc, name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10 or f[3] != _LISTEN:
                continue
            host, _, hexport = f[1].partition(":")
            if int(hexport, 16) == port:
                found.append(Listener(_address(host), port, int(f[7]), int(f[9])))
    return found


def _covers(listener: str, address: str) -> bool:
    return listener == address or ipaddress.ip_address(listener).is_unspecified


def holds(pid: int, address: str, port: int) -> bool:
    """The process ``pid`` holds the socket listening on ``address:port``."""
    inodes = {x.inode for x in listeners(port) if _covers(x.address, address)}
    if not inodes:
        return False
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and int(link[8:-1]) in inodes:
            return True
    return False


def owner(address: str, port: int) -> str:
    """Who listens on ``address:port``, for messages (``uid 65534``), or ``another
    program`` when the socket table does not say."""
    for x in listeners(port):
        if _covers(x.address, address) or _covers(address, x.address):
            return f"uid {x.uid}"
    return "another program"


def candidates(address: str, low: int, high: int, held: Iterable[int],
               preferred: int | None, squatted: dict[int, str]) -> Iterator[int]:
    """The ports worth trying, in order: ``preferred`` (the lease's last port) first, then
    the range; never one another lease holds; a port some other program already listens
    on is recorded in ``squatted`` and skipped."""
    taken = set(held)
    order = [preferred] if preferred and low <= preferred <= high else []
    order += [p for p in range(low, high + 1) if p != preferred]
    for port in order:
        if port in taken or port in squatted:
            continue
        if port_free(address, port):
            yield port
        else:
            squatted[port] = ""  # whose: looked up only if the range runs out


def exhausted(address: str, low: int, high: int, held: Iterable[int],
              squatted: dict[int, str], starts: int) -> StepFailed:
    """The failure when no port was left: how many leases hold, and who holds the rest."""
    inside = set(range(low, high + 1))
    leases = len(set(held) & inside)
    others = sorted(set(squatted) & inside)
    named = ", ".join(f"{p} by {squatted[p] or owner(address, p)}" for p in others[:3])
    more = ", …" if len(others) > 3 else ""
    why = f"{leases} held by leases, {len(others)} in use by other programs"
    if others:
        why += f" ({named}{more})"
    if starts >= MAX_STARTS:
        why += f"; {starts} ports were taken by others while starting on them"
    return StepFailed(f"port range {low}-{high} exhausted: {why}")
