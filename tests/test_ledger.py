"""The ledger store: validation, upgrades, audit chain, recovery, archive, lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cloudlease.context import Context
from cloudlease.errors import LedgerError
from cloudlease.ledger import archive, audit, state, store
from cloudlease.ledger.fsio import FileLock
from cloudlease.model import LeaseStatus, RequestStatus
from cloudlease.ops import leases
from cloudlease.ops.verify import verify


@pytest.fixture
def ctx(home: Path) -> Context:
    return Context.at(home)


def rent_some(ctx: Context, n: int) -> list[str]:
    return [leases.rent(ctx, 1).lease.id for _ in range(n)]


def test_roundtrip_is_stable(ctx):
    rent_some(ctx, 3)
    data = ctx.home.ledger.read_bytes()
    assert state.dumps(state.loads(data)) == data


@pytest.mark.parametrize("mutate,message", [
    (lambda s: s[: len(s) // 2], "not valid TOML"),
    (lambda s: "garbage = [\n", "not valid TOML"),
    (lambda s: s.replace("hours = 1\n", 'hours = "one"\n', 1), "leases.L-1.hours: expected an "
                                                            "integer"),
    (lambda s: s + '\n[leases.L-1]\nid = "L-1"\n', "not valid TOML"),  # duplicate id
    (lambda s: s.replace("schema_version = 1", "schema_version = 99"), "newer than"),
    (lambda s: s.replace('id = "L-2"', 'id = "L-1"'), "does not match the table key"),
    (lambda s: s.replace('status = "awaiting_payment"', 'status = "paid"', 1),
     "not one of awaiting_payment"),
    (lambda s: s.replace("amount_sats = 1000", "amount_sats = 1000.5", 1),
     "expected an integer, got a decimal"),
])
def test_invalid_ledgers_are_refused_naming_the_fault(ctx, cli, mutate, message):
    rent_some(ctx, 2)
    text = ctx.home.ledger.read_text()
    ctx.home.ledger.write_text(mutate(text))
    with pytest.raises(LedgerError, match=message):
        store.read(ctx.home)
    err = cli.json("lease", "list", code=5)
    assert message.split(":")[0].split()[0] in err["message"]


def test_upgrade_from_schema_0(ctx):
    rent_some(ctx, 2)
    raw = tomllib.loads(ctx.home.ledger.read_text(), parse_float=Decimal)
    raw["schema_version"] = 0
    del raw["counters"]
    upgraded = state.from_toml_dict(raw)
    assert upgraded.schema_version == 1
    assert upgraded.counters == {"lease": 2, "request": 2}


def test_verify_passes_on_a_healthy_ledger(ctx):
    rent_some(ctx, 3)
    report = verify(ctx)
    assert report.ok, report.problems
    assert report.audit_entries == 4


def test_verify_catches_an_edited_ledger(ctx):
    rent_some(ctx, 2)
    text = ctx.home.ledger.read_text().replace("price_sats = 1000", "price_sats = 1", 1)
    ctx.home.ledger.write_text(text)
    report = verify(ctx)
    assert not report.ok
    assert any("edited outside cloudlease" in p for p in report.problems)


def test_verify_catches_an_edited_audit_entry(ctx):
    rent_some(ctx, 2)
    lines = ctx.home.audit.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["action"] = "something else"
    lines[1] = json.dumps(entry)
    ctx.home.audit.write_text("\n".join(lines) + "\n")
    assert any("edited" in p for p in verify(ctx).problems)


def test_verify_catches_a_truncated_audit_log(ctx):
    rent_some(ctx, 3)
    lines = ctx.home.audit.read_text().splitlines(keepends=True)
    ctx.home.audit.write_text("".join(lines[:2]))
    assert any("truncated" in p for p in verify(ctx).problems)


def test_verify_catches_a_lost_record(ctx):
    rent_some(ctx, 3)
    ledger = store.read(ctx.home)
    del ledger.leases["L-2"]
    # write it "properly", with a fresh audit entry, so only the invariant can catch it
    store._save(ctx.home, ledger, "tamper", {})
    problems = verify(ctx).problems
    assert any("lease record(s) lost" in p for p in problems)


def test_interrupted_write_is_harmless_and_recovered(ctx):
    rent_some(ctx, 1)
    ledger = store.read(ctx.home)
    last = audit.last_entry(ctx.home.audit)
    # an entry appended for a write that never replaced the ledger, then a torn line
    entry = audit.make_entry(last["seq"] + 1, last["hash"], "t", "rent", "f" * 64, {})
    audit.append(ctx.home.audit, entry)
    with ctx.home.audit.open("ab") as fh:
        fh.write(b'{"seq": 99, "trunc')
    report = verify(ctx)
    assert report.ok, report.problems
    assert report.notes
    rent_some(ctx, 1)  # the next write recovers: drops the dangling entry and torn tail
    report = verify(ctx)
    assert report.ok and not report.notes, (report.problems, report.notes)
    assert ledger.audit_seq + 1 == store.read(ctx.home).audit_seq


def test_lock_timeout_names_the_holder(ctx, cli):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path;"
         "from cloudlease.ledger.fsio import FileLock;"
         f"l = FileLock(Path({str(ctx.home.lock)!r})); l.acquire();"
         "print('locked', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = ctx.home.ledger.read_bytes()
        err = cli.json("rent", "--hours", "1", "--lock-timeout", "0.2", code=5)
        assert f"pid {holder.pid}" in err["message"]
        assert ctx.home.ledger.read_bytes() == before
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    cli("rent", "--hours", "1", "--lock-timeout", "2")  # the kernel dropped the dead lock


def test_lock_is_reentrant_across_processes_only(tmp_path):
    lock = FileLock(tmp_path / "x.lock", timeout=0.1)
    lock.acquire()
    other = FileLock(tmp_path / "x.lock", timeout=0.1)
    with pytest.raises(LedgerError, match=f"pid {os.getpid()}"):
        other.acquire()
    lock.release()
    other.acquire()
    other.release()


def _age_and_close(ctx: Context, ids: list[str], days: int) -> None:
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days)
    with ctx.transaction("test: close") as ledger:
        for lid in ids:
            lease = ledger.leases[lid]
            ledger.leases[lid] = lease.replace(status=LeaseStatus.CANCELLED, closed_at=old)
            for rid in lease.requests:
                ledger.requests[rid] = ledger.requests[rid].replace(
                    status=RequestStatus.EXPIRED)


def test_sealing_moves_old_history_out_and_keeps_it_readable(ctx, cli, monkeypatch):
    monkeypatch.setattr(archive, "SEAL_BATCH", 5)
    ids = rent_some(ctx, 8)
    cli("rent", "--hours", "1", "--idempotency-key", "k-1")
    _age_and_close(ctx, ids[:6], days=3)
    ledger = store.read(ctx.home)
    assert len(ledger.leases) == 3 and len(ledger.archives) == 1
    assert (ctx.home.archive_dir / "segment-000001.json").exists()
    listed = cli.json("lease", "list")
    assert [x["id"] for x in listed] == [f"L-{n}" for n in range(1, 10)]
    assert cli.json("lease", "show", "L-2")["status"] == "cancelled"
    report = verify(ctx)
    assert report.ok, report.problems
    assert report.archived_leases == 6
    assert verify(ctx, deep=True).ok
    assert store.read(ctx.home).archives["1"]["lease_ids"] == "1-6"
    # an altered segment is caught
    seg = ctx.home.archive_dir / "segment-000001.json"
    seg.chmod(0o644)
    seg.write_text(seg.read_text().replace('"hours": 1', '"hours": 2', 1))
    assert any("altered" in p for p in verify(ctx).problems)


def test_sealed_lease_keeps_its_idempotency_key(ctx, cli, monkeypatch):
    monkeypatch.setattr(archive, "SEAL_BATCH", 1)
    first = cli.json("rent", "--hours", "1", "--idempotency-key", "abc")
    _age_and_close(ctx, [first["id"]], days=3)
    assert store.read(ctx.home).idempotency["abc"]["lease"] == first["id"]
    again = cli.json("rent", "--hours", "1", "--idempotency-key", "abc")
    assert again["id"] == first["id"] and again["created"] is False


def test_verify_checks_the_keystore(ctx):
    rent_some(ctx, 2)
    assert verify(ctx).ok
    keys = ctx.home.keys
    text = keys.read_text()
    first = [line for line in text.splitlines() if line.startswith("[keys.")][0]
    keys.write_text(text.replace(first, first.replace("bcrt1q", "bcrt1qzz"), 1))
    problems = verify(ctx).problems
    assert any("no private key" in p for p in problems)
    keys.chmod(0o644)
    assert any("readable by others" in p for p in verify(ctx).problems)


def test_stale_temp_files_are_cleaned_and_odd_names_left_alone(ctx):
    home = ctx.home.path
    dead = home / ".ledger.toml.999999999.tmp"           # a pid that cannot be alive
    keys = home / ".keys.toml.999999999.0123abcd.tmp"   # a keystore writer that died
    huge = home / ".keys.toml.1234567890123456.tmp"      # not a pid we wrote: left alone
    other = home / ".notes.txt.12.tmp"
    for f in (dead, keys, huge, other):
        f.write_text("x")
    rent_some(ctx, 1)
    assert not dead.exists() and not keys.exists()
    assert huge.exists() and other.exists()


def test_old_funding_requests_are_sealed_too(ctx, cli, monkeypatch):
    monkeypatch.setattr(archive, "SEAL_BATCH", 2)
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-01-01T00:00:00Z")
    cli("pool", "add", "gpu", "--slots", "1", "--cost-per-hour", "1 sat", "--consideration",
        "ownership", "--investor-pct", "10")
    cli("tenant", "add", "alice")
    for _ in range(2):
        fund = cli.json("pool", "fund", "gpu", "--tenant", "alice", "--amount", "10000 sat")
        cli("devchain", "pay", fund["payment"]["id"])
    cli("devchain", "mine")
    cli("tick")
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-01-04T00:00:00Z")
    cli("tick")
    ledger = store.read(ctx.home)
    assert not ledger.requests and len(ledger.contributions) == 2
    assert ledger.archives["1"]["request_ids"] == "1-2"
    assert cli.json("pool", "show", "gpu")["funding_sats"] > 0
    report = verify(ctx)
    assert report.ok, report.problems


def test_a_change_to_wallet_state_alone_is_saved(ctx):
    with ctx.transaction("test: index") as ledger:
        ledger.wallet["next_index"] = 7
    assert store.read(ctx.home).wallet["next_index"] == 7
    with ctx.transaction("test: index") as ledger:
        ledger.wallet["next_index"] += 1
        ledger.hooks_pending.append({"event": {"id": "E-1", "event": "x"}, "attempts": 0})
    again = store.read(ctx.home)
    assert again.wallet["next_index"] == 8 and len(again.hooks_pending) == 1
    assert verify(ctx).ok
