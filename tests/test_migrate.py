"""Migrating a first-format home (ledger.toml, audit.log, archive/) to the SQL ledger:
verified first, everything copied, old files kept, and every command shows what the
first format showed. The fixtures in tests/data/legacy were written by the cloudlease
that used that format (see make.sh there), with the outputs it gave."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

DATA = Path(__file__).parent / "data" / "legacy"
NOW = "2026-06-01T12:00:00Z"
COMMANDS = ["lease list", "tenant list", "plan list", "risk", "pool list", "invoice list",
            "export --format json", "export --format hledger"]


def _home(tmp_path: Path, name: str) -> Path:
    home = tmp_path / name
    shutil.copytree(DATA / name, home)
    (home / "keys.toml").chmod(0o600)  # as the old release wrote it (git keeps no modes)
    return home


def _env(home: Path) -> dict[str, str]:
    return {"CLOUDLEASE_HOME": str(home), "CLOUDLEASE_NOW": NOW, "NO_COLOR": "1"}


def _expected(name: str, command: str) -> object:
    f = command.replace(" ", "_").replace("-", "")
    return json.loads((DATA / f"expected-{name}" / f"{f}.json").read_text())


def _shows(now: object, before: object) -> bool:
    """Everything the first format showed is shown the same (new fields may be added;
    investor accounts now follow the books' one case convention: lower case)."""
    if isinstance(before, dict):
        return isinstance(now, dict) and all(k in now and _shows(now[k], v)
                                             for k, v in before.items())
    if isinstance(before, list):
        return isinstance(now, list) and len(now) == len(before) and all(
            _shows(a, b) for a, b in zip(now, before, strict=True))
    if isinstance(before, str) and before.startswith("{") and isinstance(now, str):
        return _shows(json.loads(now), json.loads(before))  # a JSON journal
    if isinstance(before, str):
        before = re.sub(r"(investors:)([A-Za-z0-9-]+)", lambda m: m[1] + m[2].lower(),
                        before)
    return now == before


def _same_order(doc: object) -> object:
    """Sealed leases used to list in their segment's text order (L-1, L-10, L-100...);
    they now list by number. Compare lists of records by id."""
    if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "id" in doc[0]:
        return sorted(doc, key=lambda d: int(str(d["id"]).rpartition("-")[2] or 0))
    return doc


@pytest.mark.parametrize("name", ["small", "sealed"])
def test_migration_on_first_use_shows_the_same(tmp_path, name):
    home = _home(tmp_path, name)
    old_files = {p.relative_to(home): p.read_bytes() for p in home.rglob("*")
                 if p.is_file() and p.name in ("ledger.toml", "audit.log")
                 or p.parent.name == "archive"}
    first = run_cli("lease", "list", "--json", env=_env(home))
    assert first.returncode == 0, first.stderr
    assert "migrated ledger.toml" in first.stderr and "legacy-toml-2026-06-01" in first.stderr
    for command in COMMANDS:
        proc = run_cli(*command.split(), "--json", env=_env(home))
        assert proc.returncode == 0, (command, proc.stderr)
        assert "migrated" not in proc.stderr  # said once
        assert _shows(_same_order(json.loads(proc.stdout)),
                      _same_order(_expected(name, command))), command
    assert not (home / "ledger.toml").exists() and (home / "ledger.db").exists()
    kept = home / "legacy-toml-2026-06-01"
    for rel, data in old_files.items():
        assert (kept / rel).read_bytes() == data, rel
    report = json.loads(run_cli("verify", "--full", "--json", env=_env(home)).stdout)
    assert report["ok"], report["problems"]
    # and it keeps working: a new rent continues the numbering
    rent = json.loads(run_cli("rent", "--hours", "1", "--plan", "standard", "--json",
                              "--no-wait", env=_env(home)).stdout)
    before = len(_expected(name, "lease list"))
    assert rent["id"] == f"L-{before + 1}"


def test_migrated_hook_queue_is_retried(tmp_path):
    home = _home(tmp_path, "small")
    proc = run_cli("tick", "--json", env={**_env(home), "CLOUDLEASE_NOW": NOW})
    assert proc.returncode == 9, proc.stderr  # a hook failed: the document, and exit 9
    failed = json.loads(proc.stdout)["hooks_failed"]
    assert failed and all(f["event"] == "lease_ended" for f in failed)  # `false` still fails


def test_check_writes_nothing(tmp_path):
    home = _home(tmp_path, "sealed")
    before = sorted(p.name for p in home.iterdir())  # (a lock file may appear)
    out = json.loads(run_cli("ledger", "migrate", "--check", "--json", env=_env(home)).stdout)
    assert out["migrated"] is False and out["leases"] == 206 and out["problems"] == []
    assert sorted(p.name for p in home.iterdir() if p.name != "ledger.lock") == before
    done = json.loads(run_cli("ledger", "migrate", "--json", env=_env(home)).stdout)
    assert done["migrated"] and done["moved_to"] == "legacy-toml-2026-06-01"
    again = json.loads(run_cli("ledger", "migrate", "--json", env=_env(home)).stdout)
    assert again["migrated"] is False and "already" in again["message"]


@pytest.mark.parametrize("tamper,fragment", [
    (lambda h: (h / "ledger.toml").write_text((h / "ledger.toml").read_text().replace(
        "amount_sats = 1000", "amount_sats = 1", 1)), "edited outside cloudlease"),
    (lambda h: next((h / "archive").iterdir()).write_bytes(b"{}"), "altered"),
])
def test_a_tampered_old_ledger_is_refused_unless_forced(tmp_path, tamper, fragment):
    home = _home(tmp_path, "sealed")
    tamper(home)
    def files() -> dict:
        return {p: p.read_bytes() for p in home.rglob("*")
                if p.is_file() and p.name != "ledger.lock"}

    snapshot = files()
    proc = run_cli("lease", "list", "--json", env=_env(home))
    assert proc.returncode == 5 and "Traceback" not in proc.stderr
    err = json.loads(proc.stderr)["error"]["message"]
    assert "not migrated" in err and fragment in err and "--force" in err
    assert files() == snapshot
    if fragment == "altered":
        return  # a segment that does not parse cannot be migrated at all
    forced = run_cli("ledger", "migrate", "--force", "--json", env=_env(home))
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["problems"]
    dump = run_cli("ledger", "dump", "--format", "json", env=_env(home))
    doc = json.loads(dump.stdout)
    assert fragment in doc["meta"]["migrated_despite"]


PAUSE = """
import os, sys, time
from pathlib import Path
from cloudlease.ops.context import Context
from cloudlease.ledger import migrate
where = sys.argv[2]
def pause():
    print("paused", flush=True)
    time.sleep(60)
if where == "before-rename":
    real = migrate.os.replace
    def replace(src, dst):
        if str(dst).endswith("ledger.db"):
            pause()
        return real(src, dst)
    migrate.os.replace = replace
else:
    real = migrate.os.replace
    moved = []
    def replace(src, dst):
        real(src, dst)
        if "legacy-toml" in str(dst):
            moved.append(dst)
            if len(moved) == 1:
                pause()
    migrate.os.replace = replace
Context.at(sys.argv[1]).db()
"""


@pytest.mark.parametrize("where", ["before-rename", "mid-move"])
def test_migration_killed_half_way_completes_on_the_next_run(tmp_path, where):
    home = _home(tmp_path, "small")
    toml = (home / "ledger.toml").read_bytes()
    env = {**os.environ, **_env(home)}
    with subprocess.Popen([sys.executable, "-c", PAUSE, str(home), where], text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as p:
        line = p.stdout.readline().strip()
        assert line == "paused", p.stderr.read()
        p.kill()
        p.communicate()
    if where == "before-rename":
        assert (home / "ledger.toml").read_bytes() == toml and not (home / "ledger.db").exists()
    else:
        assert (home / "ledger.db").exists()
    proc = run_cli("lease", "list", "--json", env=_env(home))
    assert proc.returncode == 0, proc.stderr
    assert _shows(json.loads(proc.stdout), _expected("small", "lease list"))  # new fields ok
    assert not (home / "ledger.toml").exists()
    assert (home / "legacy-toml-2026-06-01" / "ledger.toml").read_bytes() == toml
    assert not list(home.glob(".ledger.db.*"))
    report = json.loads(run_cli("verify", "--full", "--json", env=_env(home)).stdout)
    assert report["ok"], report
