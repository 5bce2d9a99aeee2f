"""A hook delivery claimed by a process that died on this host is taken over by the next
pass at once (as machines are), not when its claim expires (timeout + margin later).
Real processes: a tick killed mid-hook, then another tick; every child reaped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import run_cli

HOOK = """#!/bin/sh
echo "$CLOUDLEASE_EVENT_ID" >> {log}
if [ ! -e {first} ]; then
    echo $$ > {first}
    exec sleep 600
fi
"""


def wait_for(path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text().strip():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.05)


def test_a_dead_runners_delivery_is_taken_over_at_once(cli, home, tmp_path):
    log, first = tmp_path / "log", tmp_path / "first"
    hook = tmp_path / "hook.sh"
    hook.write_text(HOOK.format(log=log, first=first))
    hook.chmod(0o755)
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace("[hooks]\n", f'[hooks]\nlease_active = "{hook}"\n'))
    cli("rent", "--hours", "1", "--method", "onchain")
    cli("devchain", "pay", "P-1")
    cli("devchain", "mine")
    env = {**os.environ, "CLOUDLEASE_HOME": str(home)}
    runner = subprocess.Popen([sys.executable, "-m", "cloudlease", "tick"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(first)  # the hook runs, claimed by the runner...
        runner.kill()  # ...which dies mid-delivery
        runner.wait(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        if first.exists() and first.read_text().strip():
            try:
                os.kill(int(first.read_text()), signal.SIGKILL)  # the orphaned hook
            except ProcessLookupError:
                pass
    (held,) = cli.json("hooks", "list")
    assert held["status"] == "pending" and held["attempts"] == 0
    again = run_cli("tick", "--json", env=env)  # same host, the claimer is gone: at once
    assert again.returncode == 0, again.stderr
    (done,) = cli.json("hooks", "list")
    assert done["status"] == "delivered", done
    assert log.read_text().split() == [done["event"]] * 2  # tried, then delivered once
