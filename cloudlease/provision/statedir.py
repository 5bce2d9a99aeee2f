"""The drivers' own files under ``state_dir`` (root only, 0700): one folder per lease, the
port it holds, and a lock that serialises provisioning runs on this host."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cloudlease.files.fsio import flock_within
from cloudlease.provision.runner import StepFailed

LOCK_WAIT = 60.0


def lease_dir(state_dir: Path, name: str) -> Path:
    """``<state_dir>/<name>``, made root-only (0700) if missing."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(state_dir, 0o700)
    d = state_dir / name
    d.mkdir(mode=0o700, exist_ok=True)
    os.chmod(d, 0o700)
    return d


def remove_lease_dir(state_dir: Path, name: str) -> None:
    shutil.rmtree(state_dir / name, ignore_errors=True)


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write a file atomically (temp file in the same folder, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def rewrite_in_place(path: Path, text: str, mode: int = 0o600) -> None:
    """Replace a file's content keeping its inode (a container bind-mounts that inode, so
    a renamed new file would go unseen); a missing file is written as new."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
    except FileNotFoundError:
        write_private(path, text, mode)
        return
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def as_int(value: object) -> int | None:
    try:
        return int(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


def port_of(state_dir: Path, name: str) -> int | None:
    return as_int(read_text(state_dir / name / "port"))


def held_ports(state_dir: Path, exclude: str) -> set[int]:
    """Ports recorded by every other lease's folder."""
    held: set[int] = set()
    if state_dir.is_dir():
        for d in state_dir.iterdir():
            if d.name != exclude and d.is_dir() and (port := port_of(state_dir, d.name)):
                held.add(port)
    return held


@contextmanager
def locked(state_dir: Path, wait: float = LOCK_WAIT) -> Iterator[None]:
    """An exclusive lock on ``<state_dir>/.lock`` (waits up to ``wait`` seconds)."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(state_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not flock_within(fd, wait):
            raise StepFailed(f"another run holds {state_dir}/.lock for more than "
                             f"{wait:g}s") from None
        yield
    finally:
        os.close(fd)
