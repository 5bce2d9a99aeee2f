"""Operator hooks: a command per event, the event as JSON on stdin.

Hooks run after the ledger change that caused them is saved, so a failing hook never
undoes anything: it stays queued in the ledger and is retried on the next ``tick``
(delivery is at-least-once; each event carries an ``id`` to deduplicate on). A hook gets
a clean environment — PATH, HOME, LANG and ``CLOUDLEASE_*`` facts about the event —
never the caller's environment (which may hold RPC credentials), and never a key.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from typing import Any

MAX_ATTEMPTS = 50
_PASS_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")


@dataclass
class Outcome:
    event_id: str
    ok: bool
    error: str | None = None


def environment(event: dict[str, Any], home: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in _PASS_THROUGH if k in os.environ}
    env.update({
        "CLOUDLEASE_EVENT": str(event["event"]),
        "CLOUDLEASE_EVENT_ID": str(event["id"]),
        "CLOUDLEASE_HOME": home,
    })
    for key in ("lease_id", "request_id", "tenant", "network"):
        if event.get(key):
            env[f"CLOUDLEASE_{key.upper()}"] = str(event[key])
    return env


def run(command: str, event: dict[str, Any], home: str, timeout: float) -> Outcome:
    body = json.dumps(event, sort_keys=True).encode()
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return Outcome(event["id"], False, f"cannot parse hook command: {exc}")
    try:
        proc = subprocess.run(argv, input=body, capture_output=True, timeout=timeout,
                              env=environment(event, home), cwd=home, check=False)
    except subprocess.TimeoutExpired:
        return Outcome(event["id"], False, f"timed out after {timeout:g}s")
    except OSError as exc:
        return Outcome(event["id"], False, f"could not start {argv[0]!r}: {exc.strerror}")
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return Outcome(event["id"], False, f"exit {proc.returncode}: {tail[0][:200]}")
    return Outcome(event["id"], True)
