"""Every file in examples/ is exercised: config parses and derives, cron line runs,
the hook handles events, the example command driver makes real machines through the CLI,
the CI smoke script passes."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
from decimal import Decimal
from pathlib import Path

from cloudlease import config
from cloudlease.bitcoin.wallet import DescriptorWallet, parse_wallet_source
from tests.conftest import REPO
from tests.machine_helpers import set_hooks, set_provision

EXAMPLES = REPO / "examples"


def test_example_config_is_valid_and_derives_bip84_vectors():
    raw = tomllib.loads((EXAMPLES / "config.toml").read_text(), parse_float=Decimal)
    settings = config.parse(raw, "examples/config.toml")
    assert settings.network == "mainnet" and settings.wallet_kind == "descriptor"
    assert set(settings.hooks) == {"provision_ready", "provision_failed", "lease_ended"}
    assert settings.provision.driver == "command"
    assert shlex.split(settings.provision.command)[0].endswith("/podman-machine.py")
    (hook,) = settings.webhooks
    assert hook.url.startswith("https://") and "lease_ended" in hook.events
    assert "payment_processing" not in hook.events
    descriptor = parse_wallet_source(settings.descriptor, "mainnet")
    wallet = DescriptorWallet(descriptor, "mainnet")
    assert wallet.address_at(0) == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    assert wallet.address_at(1) == "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"


def _cli_dir() -> str:
    return str(Path(sys.executable).parent)


def test_cron_line_runs(home, tmp_path):
    lines = [x for x in (EXAMPLES / "cron.txt").read_text().splitlines()
             if x.strip() and not x.startswith("#")]
    assert lines[0].startswith("MAILTO=")  # stderr is mailed: one line when it matters
    fields = lines[1].split(None, 5)
    assert len(fields[:5]) == 5  # minute hour day month weekday
    command, _, log = fields[5].partition(">>")
    argv = shlex.split(command)
    assert argv[0].startswith("/") and "2>" not in fields[5]  # absolute; stderr not in the log
    assert log.strip().startswith("/") and log.strip().endswith(".jsonl")
    argv[0] = str(Path(_cli_dir()) / "cloudlease")
    argv = [str(home) if a == "/var/lib/cloudlease" else a for a in argv]
    # cron's bare environment: no PATH to speak of, no CLOUDLEASE_HOME
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # nothing for cron to mail when all went well
    assert '"transitions"' in json.dumps(json.loads(proc.stdout))


def test_example_hook_tells_the_operator_about_machines(cli, home, tmp_path):
    hook = EXAMPLES / "hooks" / "notify.sh"
    set_hooks(home, lease_active=str(hook), provision_failed=str(hook))
    # ssh-account with a tenant who has no key: the machine fails (no driver call, no root)
    set_provision(home, driver="ssh-account", state_dir="/var/lib/cl-test-example")
    cli("tenant", "add", "bob")
    lease = cli.json("rent", "--hours", "1", "--tenant", "bob")
    cli("devchain", "pay", lease["payment"]["id"])
    cli("devchain", "mine")
    assert not cli.json("tick")["hooks_failed"]
    log = (home / "events.log").read_text()
    assert f"lease_active {lease['id']} lease paid and active" in log
    assert f"provision_failed {lease['id']} machine FAILED: no SSH key for tenant bob" in log


def test_example_command_driver_makes_a_real_container_per_lease(cli, home, tmp_path,
                                                                 monkeypatch):
    """examples/provision/podman-machine.py as the [provision] command, through the CLI:
    paid lease → container with the plan's limits → ssh login → removed at the end."""
    import random
    import time

    from tests.machine_helpers import release_all, start_lease_ids_at
    from tests.provision_parts import build_image, keypair, need, ssh

    need("podman", "runc", "busybox", "sshd", "ssh", "ssh-keygen")
    image = build_image(tmp_path / "image")
    keys_dir = Path(f"/var/lib/cl-test-example-{os.getpid()}")
    command = (f"{EXAMPLES / 'provision' / 'podman-machine.py'} --image {image} --network "
               f"podman --runtime runc --port-min 22800 --port-max 22899 --keys-dir {keys_dir}")
    set_provision(home, driver="command", command=command, timeout_seconds=120)
    start_lease_ids_at(home, random.randrange(100_000, 999_999))
    key, pub = keypair(tmp_path / "keys", "alice")
    try:
        cli("plan", "add", "small", "--price-per-hour", "1000 sat", "--memory", "128M",
            "--pids", "64")
        cli("tenant", "add", "alice", "--ssh-key", pub)
        lease = cli.json("rent", "--hours", "1", "--plan", "small", "--tenant", "alice")
        cli("devchain", "pay", lease["payment"]["id"])
        cli("devchain", "mine")
        cli("tick")
        m = cli.json("lease", "show", lease["id"])["machine"]
        assert (m["state"], m["driver"]) == ("ready", "command"), m["error"]
        assert m["ssh"]["user"] == "root" and 22800 <= m["ssh"]["port"] <= 22899
        name = f"cl-{lease['id'].lower()}"
        for _ in range(50):  # the container's sshd starts with it
            out = ssh(key, m["ssh"]["port"], "root", "cat /root/.ssh/authorized_keys")
            if out.returncode == 0:
                break
            time.sleep(0.1)
        assert out.returncode == 0 and out.stdout == f"restrict,pty {pub}\n", out.stderr
        assert subprocess.run(["podman", "container", "exists", name]).returncode == 0
        monkeypatch.setenv("CLOUDLEASE_NOW", cli.json("lease", "show", lease["id"])["ends_at"])
        cli("tick")
        assert cli.json("lease", "show", lease["id"])["machine"]["state"] == "released"
        assert subprocess.run(["podman", "container", "exists", name]).returncode == 1
    finally:
        release_all(home)
        shutil.rmtree(keys_dir, ignore_errors=True)


def test_ci_smoke_script_passes(tmp_path):
    exe = shutil.which("cloudlease", path=_cli_dir())
    assert exe, "the cloudlease console script should be installed next to python"
    proc = subprocess.run(["bash", str(EXAMPLES / "ci-smoke.sh")], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "CLOUDLEASE": exe})
    assert proc.returncode == 0, proc.stderr
    assert "smoke test passed" in proc.stdout
