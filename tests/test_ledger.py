"""The SQL ledger engine: schema, audit chain, integrity on every write, incremental and
full verification, refusals of broken or foreign ledgers, the writer lock, dump and
backup. Engine-independent tests run on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cloudlease.core.errors import LedgerError
from cloudlease.ledger import schema
from cloudlease.ops import leases
from cloudlease.ops.context import Context
from cloudlease.ops.verify import verify
from tests.conftest import VPUB, ledger_snapshot, run_cli


def _sql(home: Path, sql: str, params: tuple = ()) -> None:
    """A change made behind cloudlease's back, with the engine's own client library."""
    ctx = Context.at(home)
    db = ctx.db()
    try:
        if db.dialect == "sqlite":
            con = sqlite3.connect(home / "ledger.db")
            with con:
                con.execute(sql, params)
            con.close()
        else:
            db.conn.execute(sql.replace("?", "%s"), params)
    finally:
        ctx.close()


def _rent(cli, n: int = 1) -> list[dict]:
    return [cli.json("rent", "--hours", "1", "--no-wait") for _ in range(n)]


# -- the happy path ------------------------------------------------------------------------
def test_one_audit_entry_per_write_and_only_changed_rows(cli, engine_home):
    _rent(cli, 2)
    ctx = Context.at(engine_home)
    db = ctx.db()
    entries = db.query("SELECT seq, command FROM audit ORDER BY seq")
    assert [e[0] for e in entries] == [1, 2, 3]
    rows = db.query("SELECT tbl, key FROM audit_rows WHERE seq = 3 ORDER BY tbl, key")
    changed = {(t, k) for t, k in rows}
    assert ("leases", "L-2") in changed and ("payment_requests", "P-2") in changed
    assert ("leases", "L-1") not in changed  # untouched rows are not rewritten
    assert db.query("SELECT count(*) FROM ledger_touch") == [(0,)]
    # a command that changes nothing writes nothing
    before = ledger_snapshot(engine_home)
    cli("tick")
    cli("lease", "list")
    assert ledger_snapshot(engine_home) == before
    ctx.close()


def test_verify_incremental_then_full(cli, engine_home):
    _rent(cli, 3)
    first = cli.json("verify")
    assert first["ok"] and first["checked_from"] == 0 and first["audit_entries"] == 4
    _rent(cli, 2)
    again = cli.json("verify")
    assert again["ok"] and again["checked_from"] == 4 and again["audit_entries"] == 6
    full = cli.json("verify", "--full")
    assert full["ok"] and full["full"] and full["checked_from"] == 0
    assert full["rows_checked"] >= 5 + 5  # every lease and request, at least


def test_schema_has_the_documented_tables(cli, engine_home):
    ctx = Context.at(engine_home)
    from cloudlease.ledger.store import table_names

    names = table_names(ctx.db())
    ctx.close()
    for table in ("tenants", "plans", "pools", "leases", "payment_requests", "payments",
                  "contributions", "payouts", "invoices", "audit", "audit_rows"):
        assert table in names
    ddl = cli.json("ledger", "schema")["ddl"]
    assert "amount_sats" in ddl and "CREATE TABLE audit" in ddl


# -- edits behind the tool's back ------------------------------------------------------------
def test_edited_row_is_refused_named_and_never_blessed(cli, engine_home):
    lease = _rent(cli)[0]
    rid = lease["payment"]["id"]
    _sql(engine_home, "UPDATE payment_requests SET amount_sats = 1 WHERE id = ?", (rid,))
    before = ledger_snapshot(engine_home)
    err = cli.json("rent", "--hours", "1", code=5)
    assert f"payment request {rid} was changed outside cloudlease" in err["message"]
    assert ledger_snapshot(engine_home) == before
    # paying the edited amount never activates: tick is a write, and is refused too
    cli("devchain", "pay", rid, "--sats", "1")
    assert cli.json("tick", code=5)["code"] == "tampered"
    report = cli.json("verify", "--full", code=5)
    assert any(f"payment request {rid} does not match its audit record" in p
               for p in report["problems"])
    # the operator reverts it: resolve clears the log, and writes work again
    _sql(engine_home, "UPDATE payment_requests SET amount_sats = ? WHERE id = ?",
         (lease["payment"]["amount_sats"], rid))
    assert cli.json("ledger", "resolve")["reverted"] == [f"payment request {rid}"]
    cli.json("rent", "--hours", "1")
    assert cli.json("verify", "--full")["ok"]


def test_edit_with_the_triggers_dropped_is_still_caught(cli, engine_home):
    lease = _rent(cli)[0]
    rid = lease["payment"]["id"]
    ctx = Context.at(engine_home)
    dialect = ctx.db().dialect
    ctx.close()
    drop = ("DROP TRIGGER cl_touch_payment_requests_u" if dialect == "sqlite"
            else "DROP TRIGGER cl_touch_payment_requests ON payment_requests")
    _sql(engine_home, drop)
    err = cli.json("tick", code=5)
    assert "trigger" in err["message"] and "removed" in err["message"]
    # even a writer that never looks at the triggers checks every row it loads
    _sql(engine_home, "UPDATE payment_requests SET amount_sats = 1 WHERE id = ?", (rid,))
    from cloudlease.ledger.session import Ledger

    ctx = Context.at(engine_home)
    db = ctx.db()
    with pytest.raises(LedgerError, match=f"payment request {rid} does not match its audit"):
        with db.write(5):
            led = Ledger(db, writable=True)  # no preflight: the rows alone
            led.requests.get(rid)
            led.check_loaded()
    ctx.close()
    problems = cli.json("verify", "--full", code=5)["problems"]
    assert any("was removed" in p for p in problems)
    assert any(f"payment request {rid} does not match" in p for p in problems)


@pytest.mark.parametrize("sql,fragment", [
    ("DELETE FROM audit WHERE seq = 2", "audit entry 2"),
    ("UPDATE audit SET command = 'nothing to see' WHERE seq = 2", "audit entry 2"),
    ("DELETE FROM audit_rows WHERE seq = 2", "audit entry 2"),
    ("DELETE FROM leases WHERE id = 'L-1'", "lease L-1"),
    ("INSERT INTO tenants (name, created_at) VALUES ('mallory', '2026-01-01T00:00:00+00:00')",
     "tenant mallory"),
    ("UPDATE counters SET value = 1 WHERE kind = 'lease'", "counter lease"),
])
def test_verify_catches_every_kind_of_edit(cli, engine_home, sql, fragment):
    _rent(cli, 2)
    cli("verify")  # a checkpoint: the edit must be found from there too
    _sql(engine_home, sql)
    report = cli.json("verify", code=5)
    assert not report["ok"] and any(fragment in p for p in report["problems"]), report
    full = cli.json("verify", "--full", code=5)
    assert any(fragment in p for p in full["problems"]), full
    assert cli.json("rent", "--hours", "1", code=5)["code"] == "tampered"


def test_audit_chain_rows_cannot_be_accepted(cli, engine_home):
    _rent(cli, 2)
    _sql(engine_home, "DELETE FROM audit WHERE seq = 2")
    err = cli.json("ledger", "resolve", "--accept", "--reason", "oops", code=4)
    assert "restore a backup" in err["message"]


def test_accepting_an_edit_is_recorded_in_the_chain(cli, engine_home):
    _rent(cli)
    _sql(engine_home, "UPDATE leases SET note = 'fixed by hand' WHERE id = 'L-1'")
    err = cli.json("ledger", "resolve", code=4)
    assert "lease L-1" in err["message"]
    cli.json("ledger", "resolve", "--accept", code=2)  # a reason is required
    done = cli.json("ledger", "resolve", "--accept", "--reason", "typo in the note")
    assert done["accepted"] == ["lease L-1"]
    assert cli.json("lease", "show", "L-1")["note"] == "fixed by hand"
    assert cli.json("verify", "--full")["ok"]
    ctx = Context.at(engine_home)
    (command,) = ctx.db().one("SELECT command FROM audit ORDER BY seq DESC LIMIT 1")
    ctx.close()
    assert "accepted: lease L-1" in command and "typo in the note" in command


# -- ledgers that cannot be used --------------------------------------------------------------
@pytest.mark.parametrize("damage,fragment", [
    (lambda p: p.write_bytes(b"SQLite format 2\0" + b"x" * 5000), "not a valid cloudlease"),
    (lambda p: p.write_bytes(p.read_bytes()[:3000]), "not a valid cloudlease"),
    (lambda p: (p.unlink(), p.mkdir()), "is a directory"),
    (lambda p: (p.unlink(), p.symlink_to("/etc/hostname")), "symbolic link"),
])
def test_damaged_ledger_files_are_exit_5(cli, home, damage, fragment):
    _rent(cli)
    for extra in ("ledger.db-wal", "ledger.db-shm"):
        (home / extra).unlink(missing_ok=True)
    damage(home / "ledger.db")
    for args in (("lease", "list"), ("rent", "--hours", "1"), ("verify",)):
        proc = run_cli(*args, "--json")
        assert proc.returncode == 5, (args, proc.stderr)
        err = json.loads(proc.stderr)["error"]
        assert fragment in err["message"] and "Traceback" not in proc.stderr


def test_newer_schema_is_refused(cli, engine_home):
    _sql(engine_home, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    err = cli.json("lease", "list", code=5)
    assert "newer than this cloudlease understands" in err["message"]
    assert err["code"] == "schema_too_new"


def test_a_database_that_is_not_a_ledger(cli, tmp_path):
    home = tmp_path / "h"
    home.mkdir()
    (home / "config.toml").write_text('network = "regtest"\n')
    con = sqlite3.connect(home / "ledger.db")
    con.execute("CREATE TABLE notes (x TEXT)")
    con.commit()
    con.close()
    err = cli.json("lease", "list", "--home", str(home), code=5)
    assert "holds no cloudlease ledger" in err["message"]


def _as_nobody(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           sys.executable, "-m", "cloudlease", *args], capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as another user")
def test_read_only_home_reads_and_verifies_but_refuses_writes(cli, tmp_path):
    home = cli.home
    cli("init", "--xpub", VPUB)  # a watch-only home: no keystore to protect
    _rent(cli, 2)
    cli("verify")
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="cl-ro-", dir="/tmp"))
    try:
        top.chmod(0o755)
        copy = top / "ro"
        shutil.copytree(home, copy)
        for p in [copy, *copy.rglob("*")]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        env = {"PATH": os.environ["PATH"], "CLOUDLEASE_HOME": str(copy), "NO_COLOR": "1",
               "HOME": str(top), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        listed = _as_nobody(["lease", "list", "--json"], env)
        assert listed.returncode == 0, listed.stderr
        assert len(json.loads(listed.stdout)) == 2
        checked = _as_nobody(["verify", "--json"], env)
        assert checked.returncode == 0, checked.stderr
        assert json.loads(checked.stdout)["ok"]
        wrote = _as_nobody(["tenant", "add", "zed", "--json"], env)
        assert wrote.returncode == 5 and "Traceback" not in wrote.stderr
        assert "read-only" in json.loads(wrote.stderr)["error"]["message"]
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small file system")
def test_full_disk_is_exit_5_and_changes_nothing(cli, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        home = mnt / "home"
        cli("init", "--home", str(home))
        cli("rent", "--hours", "1", "--home", str(home))
        before = ledger_snapshot(home)
        filler = mnt / "filler"
        try:
            with open(filler, "wb") as fh:
                while True:
                    fh.write(b"\0" * 4096)
                    fh.flush()
        except OSError:
            pass
        proc = run_cli("rent", "--hours", "1", "--json", "--home", str(home))
        assert proc.returncode == 5, proc.stderr
        assert "Traceback" not in proc.stderr
        message = json.loads(proc.stderr)["error"]["message"]
        assert "full" in message or "space" in message or "cannot write" in message
        filler.unlink()
        assert ledger_snapshot(home) == before
        assert cli.json("verify", "--full", "--home", str(home))["ok"]
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


# -- the writer lock ----------------------------------------------------------------------------
def test_lock_timeout_names_the_holder_on_sqlite(cli, home):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from cloudlease.ops.context import Context\n"
         "ctx = Context.at(sys.argv[1])\n"
         "with ctx.transaction('hold') as led:\n"
         "    print('holding', flush=True)\n"
         "    time.sleep(30)\n", str(home)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        err = cli.json("rent", "--hours", "1", "--lock-timeout", "0.5", code=5)
        assert f"pid {holder.pid}" in err["message"] and err["code"] == "locked"
    finally:
        holder.kill()
        holder.communicate()
    cli.json("rent", "--hours", "1")  # the kernel dropped the dead holder's lock


def test_lock_timeout_names_the_holder_on_postgresql(cli, pg_database, monkeypatch):
    import psycopg

    monkeypatch.setenv("CLOUDLEASE_LEDGER_URL", pg_database)
    cli("init", "--xpub", VPUB)
    from cloudlease.ledger.db import PG_LOCK_KEY

    # another ledger on the same cluster (its own database) holding its own writer lock is
    # not this ledger's holder: advisory locks, and their holders, are per database
    other_db = os.environ["CLOUDLEASE_TEST_PG_URL"]
    with psycopg.connect(other_db, application_name="a ledger next door") as other, \
            psycopg.connect(pg_database, application_name="the other host: tick") as con:
        other.execute("BEGIN")
        other.execute("SELECT pg_advisory_xact_lock(%s)", (PG_LOCK_KEY,))
        con.execute("BEGIN")
        con.execute("SELECT pg_advisory_xact_lock(%s)", (PG_LOCK_KEY,))
        err = cli.json("rent", "--hours", "1", "--lock-timeout", "0.5", code=5)
        assert "the other host: tick" in err["message"] and err["code"] == "locked"
        assert "next door" not in err["message"]
        con.execute("ROLLBACK")
        other.execute("ROLLBACK")
    cli.json("rent", "--hours", "1")


# -- PostgreSQL: URLs and attaching hosts -------------------------------------------------------
@pytest.mark.parametrize("url,code,fragment", [
    ("postgresql://cloudlease@127.0.0.1:1/x", 5, "cannot reach the ledger"),
    ("postgresql://127.0.0.1:5432/x?sslmode=bogus", 5, "malformed"),
    # what config.toml's ledger.url refuses is a bad option, refused before anything
    ("postgresql://127.0.0.1:port/x", 2, "--ledger-url: URL has an invalid port"),
    ("mysql://127.0.0.1/x", 2, "--ledger-url: URL must start with postgresql://"),
])
def test_bad_ledger_urls(cli, monkeypatch, url, code, fragment):
    err = cli.json("init", "--xpub", VPUB, "--ledger-url", url, code=code)
    assert fragment in err["message"]
    assert not (cli.home / "config.toml").exists()


def test_wrong_password_is_clear_and_never_printed(cli, pg_database, monkeypatch):
    from urllib.parse import urlsplit

    parts = urlsplit(pg_database)
    bad = pg_database.replace(f":{parts.password}@", ":n0t-the-Passw0rd@")
    err = cli.json("init", "--xpub", VPUB, "--ledger-url", bad, code=5)
    assert "password authentication failed" in err["message"]
    assert "n0t-the-Passw0rd" not in err["message"] and parts.password not in err["message"]


def test_second_host_attaches_and_both_share_one_ledger(cli, pg_database, tmp_path):
    a, b = tmp_path / "host-a", tmp_path / "host-b"
    first = cli.json("init", "--home", str(a), "--xpub", VPUB, "--ledger-url", pg_database)
    second = cli.json("init", "--home", str(b), "--xpub", VPUB, "--ledger-url", pg_database)
    assert not first["attached"] and second["attached"]
    assert first["ledger_id"] == second["ledger_id"]
    assert (a / "config.toml").stat().st_mode & 0o777 == 0o600  # it holds a password
    x = cli.json("rent", "--hours", "1", "--home", str(a))
    y = cli.json("rent", "--hours", "1", "--home", str(b))
    assert (x["id"], y["id"]) == ("L-1", "L-2")
    assert x["payment"]["address"] != y["payment"]["address"]
    assert [r["id"] for r in cli.json("lease", "list", "--home", str(a))] == ["L-1", "L-2"]


def test_attach_with_other_network_or_wallet_is_refused(cli, pg_database, tmp_path):
    cli.json("init", "--home", str(tmp_path / "a"), "--xpub", VPUB, "--ledger-url",
             pg_database)
    other = cli.json("init", "--home", str(tmp_path / "b"), "--network", "signet",
                     "--xpub", VPUB, "--ledger-url", pg_database, code=4)
    assert "network" in other["message"]
    assert not (tmp_path / "b" / "config.toml").exists()


def test_keys_wallet_is_refused_on_a_shared_ledger(cli, pg_database):
    err = cli.json("init", "--ledger-url", pg_database, code=2)
    assert "watch-only" in err["message"]


def test_a_url_pointing_at_another_ledger_is_refused(cli, pg_database, tmp_path, monkeypatch):
    import psycopg

    cli.json("init", "--home", str(tmp_path / "a"), "--xpub", VPUB, "--ledger-url",
             pg_database)
    admin, _, _ = pg_database.rpartition("/")
    with psycopg.connect(pg_database.rpartition("/")[0] + "/postgres", autocommit=True) as con:
        con.execute("CREATE DATABASE cl_other_ledger")
    other = f"{admin}/cl_other_ledger"
    try:
        cli.json("init", "--home", str(tmp_path / "b"), "--xpub", VPUB, "--ledger-url", other)
        monkeypatch.setenv("CLOUDLEASE_LEDGER_URL", other)
        err = cli.json("lease", "list", "--home", str(tmp_path / "a"), code=5)
        assert "belongs to ledger" in err["message"]
    finally:
        with psycopg.connect(admin + "/postgres", autocommit=True) as con:
            con.execute("DROP DATABASE IF EXISTS cl_other_ledger WITH (FORCE)")


# -- dump and backup --------------------------------------------------------------------------
def test_dump_is_stable_and_complete(cli, engine_home, tmp_path):
    _rent(cli, 3)
    text = cli("ledger", "dump").stdout
    import tomllib

    doc = tomllib.loads(text)
    assert list(doc["leases"]) == ["L-1", "L-2", "L-3"]
    assert doc["counters"]["lease"] == 3 and doc["meta"]["network"] == "regtest"
    assert doc["audit"]["entries"] == 4
    assert cli("ledger", "dump").stdout == text  # stable
    as_json = json.loads(cli("ledger", "dump", "--format", "json").stdout)
    assert as_json["leases"]["L-2"]["hours"] == 1
    out = tmp_path / "d.toml"
    cli("ledger", "dump", "-o", str(out))
    assert out.read_text() == text
    cli.json("ledger", "dump", "-o", str(out), code=2)  # exists without --force


def test_backup_is_a_ledger_that_verifies(cli, engine_home, tmp_path, monkeypatch):
    _rent(cli, 2)
    target = tmp_path / "copy" / "ledger.db"
    target.parent.mkdir()
    info = cli.json("ledger", "backup", str(target))
    assert info["audit_entries"] == 3 and target.exists()
    cli.json("ledger", "backup", str(target), code=2)  # exists without --force
    import re

    text = (engine_home / "config.toml").read_text()
    (target.parent / "config.toml").write_text(re.sub(r'(?m)^url = ".*"$', 'url = ""', text))
    monkeypatch.delenv("CLOUDLEASE_LEDGER_URL", raising=False)
    ctx = Context.at(target.parent)
    db = ctx.db()
    assert db.dialect == "sqlite"
    from cloudlease.ledger import integrity

    found = integrity.check(db, full=True)
    ctx.close()
    assert found.problems == [] and found.audit_entries == 3


# -- many rows, one at a time ---------------------------------------------------------------
def test_rent_cost_does_not_follow_history(cli, home):
    """A write touches only the rows it needs: the rows a rent loads do not grow with the
    number of leases."""
    from cloudlease.ledger import session

    ctx = Context.at(home)
    for _ in range(30):
        leases.rent(ctx, 1)
    loaded: list[int] = []
    real = session.Table._load_rows

    def counting(self, rows):
        out = real(self, list(rows))
        loaded.append(len(out))
        return out

    session.Table._load_rows = counting  # type: ignore[method-assign]
    try:
        leases.rent(ctx, 1)
    finally:
        session.Table._load_rows = real  # type: ignore[method-assign]
    assert sum(loaded) < 40, loaded  # a few meta/counter/plan rows and the gap check
    assert verify(ctx).ok
    ctx.close()


def test_schema_names_every_record_field():
    for spec in schema.SPECS:
        ddl = "\n".join(schema.table_ddl(spec, "sqlite"))
        for name in spec.codec.names:
            assert f"    {name} " in ddl


def test_a_host_with_a_copied_config_and_the_url_in_its_environment(cli, pg_database,
                                                                   tmp_path, monkeypatch):
    a, c = tmp_path / "host-a", tmp_path / "host-c"
    c.mkdir()
    monkeypatch.setenv("CLOUDLEASE_LEDGER_URL", pg_database)
    cli.json("init", "--home", str(a), "--xpub", VPUB)  # the URL only in the environment
    assert 'url = ""' in (a / "config.toml").read_text()
    shutil.copy(a / "config.toml", c / "config.toml")
    (c / "config.toml").chmod(0o600)
    first = cli.json("rent", "--hours", "1", "--home", str(a))
    second = cli.json("rent", "--hours", "1", "--home", str(c))
    assert (first["id"], second["id"]) == ("L-1", "L-2")
    assert len(cli.json("lease", "list", "--home", str(c))) == 2


def test_full_verify_walks_the_chain_beside_the_rows(cli, engine_home, monkeypatch):
    """On a long chain the full check walks it in a second process: what either half
    finds is reported, from either engine."""
    from cloudlease.ledger import integrity

    _rent(cli, 3)
    monkeypatch.setattr(integrity, "PARALLEL_FROM", 0)
    assert cli.json("verify", "--full")["ok"]
    _sql(engine_home, "UPDATE audit SET command = 'hidden' WHERE seq = 2")
    _sql(engine_home, "UPDATE leases SET hours = 9 WHERE id = 'L-3'")
    problems = cli.json("verify", "--full", code=5)["problems"]
    assert any("audit entry 2 was edited" in p for p in problems), problems
    assert any("lease L-3 does not match its audit record" in p for p in problems), problems
