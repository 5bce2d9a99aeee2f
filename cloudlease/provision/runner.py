"""Running programs for the drivers: argument lists (never a shell), a timeout, a clean
environment, and stderr trimmed into a one-line :class:`StepFailed` when they fail."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from cloudlease.provision.base import stderr_tail

CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class StepFailed(Exception):
    """An operational failure inside a driver; the driver returns it as state ``failed``."""


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: never the caller's (it may hold RPC credentials)."""
    env = {"PATH": CLEAN_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": "/root"}
    env.update(extra or {})
    return env


def which(program: str, install_hint: str) -> str:
    """The program's path, or StepFailed saying it is not installed and how to get it."""
    found = shutil.which(program, path=CLEAN_PATH + os.pathsep + os.environ.get("PATH", ""))
    if not found:
        raise StepFailed(f"{program} is not installed ({install_hint})")
    return found


def run(argv: Sequence[str], *, timeout: float, what: str | None = None,
        input: bytes | None = None, env: dict[str, str] | None = None,
        ok: Sequence[int] = (0,), cwd: str | None = None,
        pass_fds: Sequence[int] = ()) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv``; StepFailed (naming ``what`` and the last stderr line) unless its exit
    status is in ``ok``."""
    label = what or os.path.basename(argv[0])
    try:
        proc = subprocess.run(list(argv), input=input, capture_output=True, timeout=timeout,
                              env=env if env is not None else clean_env(), check=False, cwd=cwd,
                              stdin=None if input is not None else subprocess.DEVNULL,
                              pass_fds=tuple(pass_fds))
    except subprocess.TimeoutExpired:
        raise StepFailed(f"{label} timed out after {timeout:g}s") from None
    except OSError as exc:
        raise StepFailed(f"{label} could not start: {exc.strerror}") from None
    if proc.returncode not in ok:
        tail = stderr_tail(proc.stderr) or stderr_tail(proc.stdout)
        raise StepFailed(f"{label} failed (exit {proc.returncode}): {tail}".rstrip(": "))
    return proc
