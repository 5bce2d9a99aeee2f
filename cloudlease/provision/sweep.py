"""What a tenant leaves in the kernel and in shared places, found and removed at release.

Two sweeps, both idempotent:

- :func:`wipe_namespaces`: inside the lease's own IPC and mount namespaces (where its
  sshd and every login run; see ``sshd.py``), while its processes are frozen: every SysV
  shared memory segment, semaphore set and message queue (``ipcrm --all``: the namespace
  is the lease's alone), every POSIX message queue, and everything in its private
  ``/tmp``, ``/var/tmp``, ``/dev/shm`` and ``/run/lock``. The namespaces die with the
  lease's last process anyway; wiping first also empties them when someone kept one
  alive past the lease (a namespace or directory file descriptor handed to another
  process).
- :func:`sweep_uid`: in the host's namespaces, after every process of the uid is dead:
  SysV objects owned or created by the uid (``/proc/sysvipc``), its POSIX message queues
  (seen through an ``mqueue`` file system mounted privately), and its files and
  directories in the shared writable places (``LEFTOVER_DIRS``, recursively through the
  directories others may write into: at and cron spools included, where they exist).
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from cloudlease.provision.runner import StepFailed, run, which

LEFTOVER_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/mail",
                 "/var/spool/cron/crontabs", "/var/spool/cron/atjobs",
                 "/var/spool/cron/atspool")
SYSV = {"shm": "-m", "sem": "-s", "msg": "-q"}  # /proc/sysvipc/<kind> → ipcrm option
# run inside the lease's namespaces: $1 a directory to mount the namespace's mqueue file
# system on (in a private copy of its mount namespace), then the private temp dirs
_WIPE = ('ipcrm --all && mount -t mqueue mqueue "$1" && find "$1" -mindepth 1 -delete && '
         'shift && for d in "$@"; do find "$d" -xdev -mindepth 1 -delete || exit 1; done')
_MQ_SWEEP = 'mount -t mqueue mqueue "$1" && find "$1" -mindepth 1 -uid "$2" -delete'


# --- the lease's own namespaces -----------------------------------------------------------
def namespace(pid: int | str, kind: str) -> str | None:
    """``ipc:[4026531839]``-style identity of a process's namespace, or None."""
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def private_pid(pids: Iterable[int]) -> int | None:
    """One of ``pids`` whose IPC namespace is not the host's (ours), if any."""
    host = namespace("self", "ipc")
    for pid in sorted(pids):
        ns = namespace(pid, "ipc")
        if ns is not None and ns != host:
            return pid
    return None


def private_mounts(pid: int, dirs: Sequence[str]) -> list[str]:
    """Those of ``dirs`` that are, in ``pid``'s mount namespace, a file system of their own
    other than the one the host has there (the private tmpfs mounts), never a host one."""
    found: dict[str, str] = {}
    try:
        lines = Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) > 4:
            found[fields[4].replace("\\040", " ")] = fields[2]  # mount point → major:minor
    private = []
    for d in dirs:
        try:
            host = os.stat(d)
        except OSError:
            continue
        if d in found and found[d] != f"{os.major(host.st_dev)}:{os.minor(host.st_dev)}":
            private.append(d)
    return private


def wipe_namespaces(pid: int, mqueue_dir: Path, dirs: Sequence[str], timeout: float) -> bool:
    """Empty the IPC namespace of ``pid`` and its private ``dirs`` (see the module). Does
    nothing unless that namespace is not the host's; True when it wiped.

    The namespaces are pinned by descriptors opened first and checked again after the
    mount table was read, so a pid that died and was reused meanwhile wipes nothing."""
    fds: list[int] = []
    try:
        for kind in ("ipc", "mnt"):
            try:
                fds.append(os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC))
            except OSError:
                return False
        ipc, mnt = (os.fstat(fd).st_ino for fd in fds)
        if ipc == os.stat("/proc/self/ns/ipc").st_ino:
            return False
        same_mnt = mnt == os.stat("/proc/self/ns/mnt").st_ino
        tmp = [] if same_mnt else private_mounts(pid, dirs)
        for kind, ino in (("ipc", ipc), ("mnt", mnt)):
            try:
                if os.stat(f"/proc/{pid}/ns/{kind}").st_ino != ino:
                    return False
            except OSError:
                return False
        enter = [f"--ipc=/proc/self/fd/{fds[0]}"]
        if not same_mnt:
            enter.append(f"--mount=/proc/self/fd/{fds[1]}")
        run([which("nsenter", "util-linux"), *enter, "--",
             which("unshare", "util-linux"), "--mount", "--propagation", "private", "--",
             "/bin/sh", "-c", _WIPE, "sh", str(mqueue_dir), *tmp],
            timeout=timeout, what="wiping the lease's namespaces", pass_fds=tuple(fds))
        return True
    finally:
        for fd in fds:
            os.close(fd)


# --- the host's namespaces, by uid --------------------------------------------------------
def sysv_owned(uid: int, root: str = "/proc/sysvipc") -> list[tuple[str, str]]:
    """``(kind, id)`` of each SysV object in this IPC namespace whose owner or creator is
    ``uid`` (kind: shm, sem, msg)."""
    found = []
    for kind in SYSV:
        try:
            lines = Path(root, kind).read_text().splitlines()
        except OSError:
            continue
        if not lines:
            continue
        head = lines[0].split()
        key = {"shm": "shmid", "sem": "semid", "msg": "msqid"}[kind]
        for line in lines[1:]:
            row = dict(zip(head, line.split(), strict=False))
            if str(uid) in (row.get("uid"), row.get("cuid")) and key in row:
                found.append((kind, row[key]))
    return found


def remove_sysv(uid: int, timeout: float) -> None:
    owned = sysv_owned(uid)
    if owned:
        args = [a for kind, ident in owned for a in (SYSV[kind], ident)]
        run([which("ipcrm", "util-linux"), *args], timeout=timeout, what="ipcrm", ok=(0, 1))
        left = sysv_owned(uid)
        if left:
            raise StepFailed(f"ipcrm left {len(left)} SysV objects of uid {uid}")


def remove_mqueues(uid: int, mountpoint: Path, timeout: float) -> None:
    """Unlink the uid's POSIX message queues in this IPC namespace: through an mqueue file
    system mounted on ``mountpoint`` in a private copy of the mount namespace (the host
    need not have one mounted)."""
    run([which("unshare", "util-linux"), "--mount", "--propagation", "private", "--",
         "/bin/sh", "-c", _MQ_SWEEP, "sh", str(mountpoint), str(uid)],
        timeout=timeout, what="removing POSIX message queues")


def remove_files(uid: int, dirs: Iterable[str]) -> None:
    """Remove what ``uid`` owns in ``dirs``, looking into every directory others may write
    into (never following a symlink, never crossing into another file system)."""
    for d in dirs:
        try:
            top = os.lstat(d)
        except OSError:
            continue
        if stat.S_ISDIR(top.st_mode):
            _sweep_dir(d, uid, top.st_dev)


def _sweep_dir(path: str, uid: int, dev: int) -> None:
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if st.st_dev != dev:
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        if st.st_uid == uid:
            try:
                if is_dir:
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass
        elif is_dir and st.st_mode & (stat.S_IWOTH | stat.S_IWGRP):
            _sweep_dir(entry.path, uid, dev)


def sweep_uid(uid: int, mountpoint: Path, timeout: float) -> None:
    """Everything of ``uid`` left in the host's namespaces (its processes are dead);
    ``mountpoint``: an empty root-only directory to look at message queues through."""
    remove_sysv(uid, timeout)
    remove_mqueues(uid, mountpoint, timeout)
    remove_files(uid, LEFTOVER_DIRS)
