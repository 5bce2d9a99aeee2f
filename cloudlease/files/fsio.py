"""Crash-safe file primitives: atomic replace, durable append, an exclusive lock.

A power cut at any moment leaves either the old file or the new one, never a mix: data
goes to a temp file in the same directory, is fsynced, renamed over the target, and the
directory is fsynced so the rename itself survives.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import sys
import time
from pathlib import Path

from cloudlease.core.errors import LedgerError


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically and durably; the file gets ``mode``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


_STALE = re.compile(r"^\.(keys\.toml|ledger\.db)\.(\d{1,10})(\.[0-9a-f]+)?"
                    r"\.(tmp|new|new-wal|new-shm|new-journal)$")


def remove_stale_temps(directory: Path) -> None:
    """Drop temp files left by keystore writers and ledger builders (init, migrate) that
    died mid-write. Only our own ``.<file>.<pid>[.<hex>].tmp|new`` names are touched, and
    only when that pid is gone: a half-written copy is never needed (the real file was not
    replaced), and a keystore temp file holds private keys that should not linger."""
    for tmp in directory.glob(".*"):
        m = _STALE.match(tmp.name)
        if not m:
            continue
        pid = int(m.group(2))
        if pid != os.getpid() and not _alive(pid):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    return True


def flock_within(fd: int, timeout: float) -> bool:
    """Take an exclusive ``flock`` on ``fd``, waiting up to ``timeout`` seconds (polling
    with a short backoff); False when another process still holds it by then."""
    deadline = time.monotonic() + max(0.0, timeout)
    delay = 0.002
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


class FileLock:
    """An exclusive ``flock`` on ``path`` with a bounded wait.

    The holder writes its pid and command into the lock file, so a waiter that gives up
    can say who holds it. The kernel drops the lock when the holder dies, so a crashed
    writer never leaves the ledger locked.
    """

    def __init__(self, path: Path, timeout: float = 5.0, what: str = "ledger") -> None:
        self.path = path
        self.timeout = timeout
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            got = flock_within(fd, self.timeout)
        except OSError:
            os.close(fd)
            raise
        if not got:
            holder = _read_holder(fd)
            os.close(fd)
            raise LedgerError(
                f"{self.what} is locked by {holder}; gave up after {self.timeout:g}s "
                "(raise --lock-timeout, or wait for it to finish)",
                code="locked",
            ) from None
        os.ftruncate(fd, 0)
        cmd = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv[:3]))
        os.pwrite(fd, f"pid {os.getpid()} ({cmd})\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)  # closing drops the flock

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "another process"
