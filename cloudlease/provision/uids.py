"""Fresh ids for tenants: a uid (and the same gid) per lease account that is never handed
out twice, and the subordinate id ranges of ``/etc/subuid`` and ``/etc/subgid`` they must
stay clear of.

A uid that a tenant once had may still own something the kernel keeps per uid (a file in
a place nobody swept, a queued signal's accounting, an IPC object in some namespace): a
new tenant given that uid would inherit it. So each account gets the next uid above a
high-water mark kept in ``<state_dir>/uids`` (read and written only under the state dir's
lock, which every driver call holds) and above every account already in the range; the
range ends at ``[provision] uid_max``. The mark is written, flushed, before the account is
made, so a crash in between burns a uid rather than reusing one.
"""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Iterable
from pathlib import Path

from cloudlease.provision.runner import StepFailed

MARK = "uids"  # <state_dir>/uids: the last uid handed out
SUBID_FILES = ("/etc/subuid", "/etc/subgid")


def subid_ranges(path: str) -> list[tuple[str, int, int]]:
    """``(owner, first id, count)`` of every well-formed line of a subid file."""
    found = []
    try:
        text = Path(path).read_text()
    except OSError:
        return found
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
            found.append((fields[0], int(fields[1]), int(fields[2])))
    return found


def overlaps(low: int, high: int, files: Iterable[str] | None = None,
             skip: str | None = None) -> str | None:
    """The first subordinate range (not ``skip``'s) meeting ``low..high``, described."""
    for path in SUBID_FILES if files is None else files:
        for owner, first, count in subid_ranges(path):
            if owner != skip and count and first <= high and low <= first + count - 1:
                return f"{path}'s range for {owner} ({first}-{first + count - 1})"
    return None


def read_mark(state_dir: Path) -> int | None:
    try:
        text = (state_dir / MARK).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _write_mark(state_dir: Path, uid: int) -> None:
    tmp = state_dir / f".{MARK}.tmp"
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, f"{uid}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, state_dir / MARK)


def highest_in_use(low: int, high: int) -> int | None:
    """The highest uid or gid of an existing account or group inside ``low..high``."""
    ids = [e.pw_uid for e in pwd.getpwall()] + [e.pw_gid for e in pwd.getpwall()]
    ids += [g.gr_gid for g in grp.getgrall()]
    inside = [i for i in ids if low <= i <= high]
    return max(inside) if inside else None


def _taken(uid: int) -> bool:
    for lookup in (pwd.getpwuid, grp.getgrgid):
        try:
            lookup(uid)
            return True
        except KeyError:
            continue
    return False


def allocate(state_dir: Path, low: int, high: int) -> int:
    """The next never-used uid of ``low..high`` (the caller holds the state dir's lock);
    the high-water mark moves to it before it is returned."""
    clash = overlaps(low, high)
    if clash is not None:
        raise StepFailed(f"provision.uid_min..uid_max ({low}-{high}) overlaps {clash}: "
                         "a tenant's uid could be another user's subordinate id; move the "
                         "range")
    floor = low
    for seen in (read_mark(state_dir), highest_in_use(low, high)):
        if seen is not None:
            floor = max(floor, seen + 1)
    uid = floor
    while uid <= high and _taken(uid):
        uid += 1
    if uid > high:
        raise StepFailed(f"the uid range {low}-{high} is used up (each lease takes a uid "
                         "that is never handed out again): raise provision.uid_max")
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_mark(state_dir, uid)
    return uid
