"""Shell completion completes values — plans, tenants, pools, lease and request ids,
events, invoices, and the fixed choices — from the ledger, through Click's completion
protocol (``_CLOUDLEASE_COMPLETE``, ``COMP_WORDS``) in a real process, without the
writer lock, and never creating a home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLOUDLEASE = str(Path(sys.executable).parent / "cloudlease")


def complete(line: str, home: Path, **env: str) -> list[str]:
    words = line.split(" ")
    proc = subprocess.run([CLOUDLEASE], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "CLOUDLEASE_HOME": str(home),
                               "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1),
                               "_CLOUDLEASE_COMPLETE": "complete_bash", **env})
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    return proc.stdout.split()


@pytest.fixture
def filled(cli, home):
    cli("plan", "add", "gpu-hour", "--price-per-hour", "2000 sat")
    cli("tenant", "add", "alice")
    cli("tenant", "add", "albert")
    cli("pool", "add", "gpu", "--slots", "1", "--cost-per-hour", "1 sat", "--consideration",
        "ownership", "--investor-pct", "10")
    for _ in range(2):
        cli("rent", "--hours", "1", "--plan", "standard", "--no-wait")
    return home


@pytest.mark.parametrize("line,want", [
    ("cloudlease rent --plan ", {"standard", "gpu-hour"}),
    ("cloudlease rent --plan g", {"gpu-hour"}),
    ("cloudlease rent --tenant al", {"alice", "albert"}),
    ("cloudlease rent --method ", {"onchain", "lightning", "both"}),
    ("cloudlease lease show ", {"L-1", "L-2"}),
    ("cloudlease lease extend l", {"L-1", "L-2"}),
    ("cloudlease pay show ", {"P-1", "P-2"}),
    ("cloudlease pay check P-", {"P-1", "P-2"}),
    ("cloudlease pay list --lease ", {"L-1", "L-2"}),
    ("cloudlease pay list --status s", {"settled"}),
    ("cloudlease lease list --status ex", {"expired"}),
    ("cloudlease devchain pay ", {"P-1", "P-2"}),
    ("cloudlease pool show ", {"gpu"}),
    ("cloudlease pool fund gpu --tenant ", {"alice", "albert"}),
    ("cloudlease risk --pool ", {"gpu"}),
    ("cloudlease tenant show a", {"alice", "albert"}),
    ("cloudlease export --format ", {"csv", "hledger", "beancount", "json"}),
    ("cloudlease invoice show D-1 --format ", {"table", "json", "md", "html"}),
    ("cloudlease ledger dump --format ", {"toml", "json"}),
    ("cloudlease pool add x --consideration o", {"ownership"}),
    ("cloudlease init --network t", {"testnet", "testnet4"}),
])
def test_values_complete(filled, line, want):
    assert set(complete(line, filled)) == want


def test_completion_takes_no_lock(filled):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from cloudlease.ops.context import Context\n"
         "with Context.at(sys.argv[1]).transaction('hold'):\n"
         "    print('holding', flush=True)\n"
         "    sys.stdin.read()\n", str(filled)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert set(complete("cloudlease lease show ", filled)) == {"L-1", "L-2"}
    finally:
        holder.stdin.close()
        holder.wait(timeout=120)
        holder.stdout.close()


def test_no_home_completes_nothing_and_creates_nothing(tmp_path):
    home = tmp_path / "nowhere"
    assert complete("cloudlease lease show ", home) == []
    assert not home.exists()
    assert set(complete("cloudlease rent --method b", home)) == {"both"}  # no ledger needed


def test_home_on_the_command_line(filled, tmp_path):
    other = tmp_path / "empty"
    assert complete(f"cloudlease lease show --home {filled} ", other) == ["L-1", "L-2"]
