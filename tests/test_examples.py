"""Every file in examples/ is exercised: config parses and derives, cron line runs,
the hook handles events, the CI smoke script passes."""

from __future__ import annotations

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

EXAMPLES = REPO / "examples"


def test_example_config_is_valid_and_derives_bip84_vectors():
    raw = tomllib.loads((EXAMPLES / "config.toml").read_text(), parse_float=Decimal)
    settings = config.parse(raw, "examples/config.toml")
    assert settings.network == "mainnet" and settings.wallet_kind == "descriptor"
    assert set(settings.hooks) == {"lease_active", "lease_ended", "lease_expired"}
    descriptor = parse_wallet_source(settings.descriptor, "mainnet")
    wallet = DescriptorWallet(descriptor, "mainnet")
    assert wallet.address_at(0) == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    assert wallet.address_at(1) == "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"


def _cli_dir() -> str:
    return str(Path(sys.executable).parent)


def test_cron_line_runs(home):
    line = [x for x in (EXAMPLES / "cron.txt").read_text().splitlines()
            if x.strip() and not x.startswith("#")][0]
    fields = line.split(None, 5)
    assert len(fields[:5]) == 5  # minute hour day month weekday
    command = fields[5].split(">>")[0].replace("/var/lib/cloudlease", str(home))
    env = {**os.environ, "PATH": f"{_cli_dir()}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(shlex.split(command), capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert '"transitions"' in proc.stdout


def test_example_hook_logs_events(cli, home, tmp_path):
    hook = EXAMPLES / "hooks" / "provision.sh"
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace(
        "[hooks]\n", f'[hooks]\nlease_active = "{hook}"\nlease_ended = "{hook}"\n'))
    lease = cli.json("rent", "--hours", "1")
    cli("devchain", "pay", lease["payment"]["id"])
    cli("devchain", "mine")
    cli("tick")
    log = (home / "hooks.log").read_text()
    assert f"lease_active start a machine for {lease['id']}" in log


def test_ci_smoke_script_passes(tmp_path):
    exe = shutil.which("cloudlease", path=_cli_dir())
    assert exe, "the cloudlease console script should be installed next to python"
    proc = subprocess.run(["bash", str(EXAMPLES / "ci-smoke.sh")], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "CLOUDLEASE": exe})
    assert proc.returncode == 0, proc.stderr
    assert "smoke test passed" in proc.stdout
