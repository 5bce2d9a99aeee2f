"""Read-only work succeeds where nothing can be written: on a full disk and on a
read-only bind mount of the home, ``lease list``, ``verify``, ``export`` to stdout and
the other read commands work; a write is exit 5 in one line saying why, and changes
nothing. Real mounts (as root); every mount is undone."""

from __future__ import annotations

import json
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import in_ci, ledger_snapshot, run_cli

READS = [["lease", "list"], ["lease", "show", "L-1"], ["verify"], ["verify", "--full"],
         ["export", "--format", "hledger"], ["export", "--format", "json"], ["pay", "list"],
         ["pay", "show", "P-1"], ["tenant", "list"], ["pool", "list"], ["risk"],
         ["wallet", "show"], ["ledger", "dump"]]
WRITES = [["rent", "--hours", "1", "--no-wait"], ["tick"], ["tenant", "add", "zed"]]


def need_root() -> None:
    if os.geteuid() != 0:
        reason = "needs root to mount file systems"
        if in_ci():
            pytest.fail(f"CI is set, so this test may not skip: {reason}")
        pytest.skip(reason)


@contextmanager
def mounted(*args: str, where: Path):
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", *args, str(where)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(path: Path) -> None:
    try:
        with open(path, "wb") as fh:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
    except OSError:
        pass


def make_home(home: Path) -> None:
    env = {**os.environ, "CLOUDLEASE_HOME": str(home)}
    for args in (["init"], ["rent", "--hours", "1", "--no-wait"],
                 ["rent", "--hours", "2", "--no-wait"]):
        proc = run_cli(*args, env=env)
        assert proc.returncode == 0, proc.stderr


def check_reads_and_refused_writes(home: Path, why: str) -> None:
    env = {**os.environ, "CLOUDLEASE_HOME": str(home)}
    for args in READS:
        proc = run_cli(*args, env=env)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    listed = run_cli("lease", "list", "--json", env=env)
    assert [x["id"] for x in json.loads(listed.stdout)] == ["L-1", "L-2"]
    for args in WRITES:
        proc = run_cli(*args, "--json", env=env)
        assert proc.returncode == 5, (args, proc.stderr)
        (line,) = proc.stderr.strip().splitlines()
        message = json.loads(line)["error"]["message"]
        assert why in message or "space" in message, (args, message)


def test_a_full_disk_still_reads(tmp_path):
    need_root()
    with mounted("-t", "tmpfs", "-o", "size=4m", "tmpfs", where=tmp_path / "small") as mnt:
        home = mnt / "home"
        make_home(home)
        before = ledger_snapshot(home)
        fill(mnt / "filler")
        check_reads_and_refused_writes(home, "full or read-only")
        (mnt / "filler").unlink()
        assert ledger_snapshot(home) == before
        proc = run_cli("tick", env={**os.environ, "CLOUDLEASE_HOME": str(home)})
        assert proc.returncode == 0, proc.stderr  # space again: writes work again


def test_a_read_only_mount_still_reads(tmp_path):
    need_root()
    home = tmp_path / "home"
    make_home(home)
    before = ledger_snapshot(home)
    with mounted("--bind", "-o", "ro", str(home), where=tmp_path / "ro") as ro:
        check_reads_and_refused_writes(ro, "read-only")
    assert ledger_snapshot(home) == before
