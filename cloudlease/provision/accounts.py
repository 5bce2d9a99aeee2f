"""Unix accounts for leases: one user per lease in a dedicated group, created and removed
with the shadow tools (useradd, usermod, chage, userdel), each step idempotent."""

from __future__ import annotations

import grp
import os
import pwd
import re
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cloudlease.provision.runner import StepFailed, run

NO_PASSWORD = "*"      # no password can match; sshd (UsePAM no) still takes keys
LOCKED = "!*"          # "!" prefix: sshd refuses every login, keys included
UID_TRIES = 5
_NOT_UNIQUE = 4  # groupadd/useradd: the id is taken
_USER = re.compile(r"^cl-[a-z0-9][a-z0-9-]{0,28}$")


def user_name(lease_id: str) -> str:
    """``L-7`` → ``cl-l-7``."""
    name = "cl-" + lease_id.lower()
    if not _USER.match(name):
        raise StepFailed(f"lease id {lease_id!r} does not make a user name (want letters, "
                         "digits and '-', at most 29 characters)")
    return name


def comment(lease_id: str) -> str:
    return f"cloudlease lease {lease_id}"


def expiry_day(ends_at: datetime) -> str:
    """The shadow expiry date for a lease ending at ``ends_at``: the day after it (UTC),
    since an account is expired from the start of its expiry day. A backstop only: the
    lease's release at its end is the real cut-off."""
    return (ends_at.astimezone(UTC).date() + timedelta(days=1)).isoformat()


def lookup(user: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(user)
    except KeyError:
        return None


def ensure_group(group: str, timeout: float) -> None:
    try:
        grp.getgrnam(group)
    except KeyError:
        run(["groupadd", "--system", group], timeout=timeout, what="groupadd", ok=(0, 9))


def ensure_user(*, user: str, lease_id: str, group: str, home: Path, shell: str,
                ends_at: datetime, timeout: float,
                new_uid: Callable[[], int]) -> pwd.struct_passwd:
    """The lease's account, created if missing with the uid (and gid) ``new_uid()`` hands
    out; refuses a same-named account not ours."""
    entry = lookup(user)
    created = entry is None
    if entry is None:
        _create(user, lease_id, group, home, shell, ends_at, timeout, new_uid)
        entry = lookup(user)
        if entry is None:  # pragma: no cover - useradd said yes
            raise StepFailed(f"useradd did not create {user}")
    elif not is_ours(entry, lease_id, group):
        raise StepFailed(f"user {user} exists and is not this lease's account")
    home_path = Path(entry.pw_dir)
    if not home_path.is_dir():
        home_path.mkdir(mode=0o700, parents=True)
    os.chown(home_path, entry.pw_uid, entry.pw_gid)
    os.chmod(home_path, 0o700)
    if created:  # the tenant's own afterwards; login shells start with umask 077
        profile = home_path / ".profile"
        profile.unlink(missing_ok=True)
        fd = os.open(profile, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("umask 077\n[ -n \"$BASH_VERSION\" ] && [ -f ~/.bashrc ] && . ~/.bashrc\n")
        os.chown(profile, entry.pw_uid, entry.pw_gid)
    return entry


def _create(user: str, lease_id: str, group: str, home: Path, shell: str,
            ends_at: datetime, timeout: float, new_uid: Callable[[], int]) -> None:
    """groupadd + useradd with a fresh uid as uid and gid (another one when some other
    program took it meanwhile); no subordinate ids (with them a tenant could map 65,536
    more uids through newuidmap, and the next account would get the same range back), no
    lastlog/faillog record."""
    try:
        grp.getgrnam(user)
        # a group of that name without its user: left by a run that died in between
        run(["groupdel", user], timeout=timeout, what="groupdel", ok=(0, 6))
    except KeyError:
        pass
    for _ in range(UID_TRIES):
        uid = new_uid()
        if run(["groupadd", "--gid", str(uid), user], timeout=timeout, what="groupadd",
               ok=(0, _NOT_UNIQUE)).returncode:
            continue
        made = run(["useradd", "--create-home", "--home-dir", str(home), "--shell", shell,
                    "--uid", str(uid), "--gid", str(uid), "--groups", group, "--no-log-init",
                    "--comment", comment(lease_id), "--password", NO_PASSWORD,
                    "--expiredate", expiry_day(ends_at), "--key", "UMASK=077",
                    "--key", "HOME_MODE=0700", "--key", "SUB_UID_COUNT=0",
                    "--key", "SUB_GID_COUNT=0", user],
                   timeout=timeout, what="useradd", ok=(0, _NOT_UNIQUE))
        if made.returncode == 0:
            return
        run(["groupdel", user], timeout=timeout, what="groupdel", ok=(0, 6))
    raise StepFailed(f"useradd: {UID_TRIES} fresh uids in a row were taken by others")


def is_ours(entry: pwd.struct_passwd, lease_id: str, group: str) -> bool:
    try:
        members = grp.getgrnam(group).gr_mem
    except KeyError:
        return False
    return entry.pw_gecos == comment(lease_id) and entry.pw_name in members


def password_field(user: str) -> str:
    try:
        for line in Path("/etc/shadow").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name == user:
                return rest.split(":", 1)[0]
    except OSError:
        pass
    return ""


def set_password_field(user: str, value: str, timeout: float) -> None:
    if password_field(user) != value:
        run(["usermod", "--password", value, user], timeout=timeout, what="usermod")


def set_expiry(user: str, ends_at: datetime, timeout: float) -> None:
    run(["chage", "--expiredate", expiry_day(ends_at), user], timeout=timeout, what="chage")


def expiry(user: str) -> str | None:
    """The account's expiry date as ``YYYY-MM-DD`` (from /etc/shadow), or None."""
    try:
        for line in Path("/etc/shadow").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == user and len(fields) > 7 and fields[7]:
                return (datetime(1970, 1, 1, tzinfo=UTC).date()
                        + timedelta(days=int(fields[7]))).isoformat()
    except (OSError, ValueError):
        pass
    return None


def user_pids(uid: int) -> set[int]:
    """Every process with ``uid`` as its real, effective, saved or filesystem uid."""
    found: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if str(uid) in line.split()[1:]:
                            found.add(int(entry.name))
                        break
        except OSError:
            continue
    return found


def kill_user(uid: int, timeout: float = 10.0) -> None:
    """SIGSTOP then SIGKILL every process of ``uid`` until none is left (zombies aside)."""
    deadline = time.monotonic() + timeout
    while pids := {p for p in user_pids(uid) if not _zombie(p)}:
        if time.monotonic() > deadline:
            raise StepFailed(f"processes of uid {uid} survive SIGKILL: {sorted(pids)[:5]}")
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        time.sleep(0.01)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def remove_user(user: str, timeout: float) -> None:
    """userdel with its home and mail; the per-user group goes with it."""
    if lookup(user) is None:
        return
    run(["userdel", "--remove", "--force", user], timeout=timeout, what="userdel",
        ok=(0, 6, 12))  # 6: already gone; 12: home already gone
    if lookup(user) is not None:
        raise StepFailed(f"userdel left {user} in place")
