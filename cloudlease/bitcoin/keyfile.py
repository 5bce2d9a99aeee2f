"""Keeping ``keys.toml`` safe on disk, and what ``wallet show`` reports about it.

A keystore that is a symbolic link (or not a regular file), that group or others may read
or write, or that another user owns, is refused (``LedgerError``). It is opened with
``O_NOFOLLOW``, written atomically with mode 0600 in a folder made 0700, and before an
append its last table is checked whole. Messages never quote the file's content.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

from cloudlease.core.errors import LedgerError
from cloudlease.files.fsio import atomic_write


def open_nofollow(path: Path, flags: int) -> int:
    """``os.open`` that never follows a symbolic link (ELOOP becomes a clear error)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise link_error(path) from None
        raise


def check_mode(path: Path, info: os.stat_result) -> None:
    """Refuse (``LedgerError``) a keystore whose ``info`` shows a symbolic link, not a
    regular file, access for group or others, or another owner."""
    if stat.S_ISLNK(info.st_mode):
        raise link_error(path)
    if not stat.S_ISREG(info.st_mode):
        raise LedgerError(f"{path} is not a regular file; cloudlease refuses it")
    mode = stat.S_IMODE(info.st_mode)
    fix = f"run chmod 600 {path}"
    if mode & 0o044:
        raise LedgerError(f"{path.name} is readable by others (mode {mode:04o}); {fix}")
    if mode & 0o022:
        raise LedgerError(f"{path.name} is writable by others (mode {mode:04o}); {fix}")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise LedgerError(f"{path.name} belongs to another user (uid {info.st_uid})")


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` atomically with mode 0600 (the folder made 0700 if missing); refuse a
    symbolic link."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.is_symlink():  # os.replace would swap the link for a file silently
        raise link_error(path)
    atomic_write(path, data, mode=0o600)


def link_error(path: Path) -> LedgerError:
    return LedgerError(f"{path} is a symbolic link; cloudlease refuses to read or write keys "
                       "through one: put the keystore file itself there (mode 0600)")


def health(path: str | os.PathLike[str], *, expected: bool) -> dict[str, Any]:
    """What ``wallet show`` reports about the keystore, without reading any key.

    ``expected``: the wallet is a keys wallet that has handed out addresses, so the file
    must exist. Returns ``{"path", "exists", "mode" ("0600" or None), "problem"}`` where
    ``problem`` is one line for a note (None when all is well): missing while expected, a
    symbolic link, not a regular file, readable or writable by others, another user's.
    """
    path = Path(path)
    result: dict[str, Any] = {"path": str(path), "exists": False, "mode": None,
                              "problem": None}
    try:
        info = path.lstat()
    except FileNotFoundError:
        if expected:
            result["problem"] = (f"the keystore {path} is missing: the keys of the addresses "
                                 "handed out are not here; restore it from a backup")
        return result
    except OSError as exc:
        result["problem"] = f"cannot check the keystore {path}: {exc.strerror}"
        return result
    result["exists"] = True
    result["mode"] = f"{stat.S_IMODE(info.st_mode):04o}"
    try:
        check_mode(path, info)
    except LedgerError as exc:
        result["problem"] = exc.message
    return result


def parse(raw: bytes) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        # tomllib messages give a position, never the content.
        raise LedgerError(f"keys.toml is not valid TOML ({exc})") from None


def clean_tail(fd: int, size: int) -> bool:
    """Whether the file's last table is whole (so appending after it is safe)."""
    tail = os.pread(fd, min(size, 1024), max(0, size - 1024))
    if not tail.endswith(b"\n"):
        return False
    start = tail.rfind(b"\n[keys.")
    if start < 0:
        return b"[keys." not in tail  # only the header so far
    try:
        table = parse(tail[start + 1:])
    except LedgerError:
        return False
    entries = list(table.get("keys", {}).values())
    return len(entries) == 1 and isinstance(entries[0], dict) and "wif" in entries[0]

