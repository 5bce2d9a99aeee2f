"""Leases become machines, driven through the CLI: the lease events (activation,
extension, suspension, resumption, end) reach a real ``command`` driver program, with
failures, retries, claims, hooks and key changes. No root needed:
the driver here is a small program; tests/test_machines_real.py does the same with real
accounts, sshds and containers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from cloudlease.core import clock
from tests.conftest import run_cli
from tests.machine_helpers import (
    OTHER,
    PUB,
    actions,
    calls,
    command_script,
    machine_records,
    pay,
    set_hooks,
    set_provision,
)


@pytest.fixture
def driver(cli, tmp_path: Path):
    """The home set up with the recording command driver; yields its folder."""
    folder = tmp_path / "driver"
    script = command_script(folder)
    set_provision(cli.home, driver="command", command=str(script), timeout_seconds=20)
    return folder


def machine(cli, lease_id: str) -> dict | None:
    return cli.json("lease", "show", lease_id)["machine"]


# --- the lease events reach the driver -----------------------------------------------------
def test_every_lease_event_reaches_the_driver_once(cli, engine_home, driver, monkeypatch):
    def at(when: str) -> None:
        monkeypatch.setenv("CLOUDLEASE_NOW", when)

    at("2026-03-01T00:00:00Z")
    cli("pool", "add", "gpu", "--slots", "2", "--cost-per-hour", "2500 sat",
        "--consideration", "revenue_share", "--investor-pct", "20", "--period-months", "3",
        "--suspend-on-throttle")
    cli("plan", "add", "small", "--price-per-hour", "1000 sat", "--pool", "gpu",
        "--cpus", "0.5", "--memory", "256M", "--pids", "64")
    cli("tenant", "add", "alice", "--ssh-key", PUB)
    lease = cli.json("rent", "--hours", "100", "--plan", "small", "--tenant", "alice")
    lid = lease["id"]
    assert machine(cli, lid) is None  # awaiting payment: nothing to make yet
    pay(cli, lease["payment"]["id"])
    tick = cli.json("tick")
    assert tick["machines"] == [{"lease": lid, "action": "provision", "state": "ready",
                                 "error": None}]
    shown = cli.json("lease", "show", lid)
    m = shown["machine"]
    assert (m["state"], m["driver"], m["ssh"]) == ("ready", "command", {
        "host": "vm.example.net", "port": 2201, "user": "tenant"})
    assert m["login"] == "ssh -p 2201 tenant@vm.example.net" and m["error"] is None
    assert m["details"] == {"vm": f"vm-{lid}", "ends_at": shown["ends_at"]}
    assert "log in with ssh -p 2201 tenant@vm.example.net" in cli("lease", "show", lid).stdout
    first = calls(driver)[0]
    assert (first["tenant"], first["ssh_keys"], first["plan"]) == ("alice", [PUB], "small")
    assert first["limits"] == {"cpus": "0.5", "memory_bytes": 268435456, "pids": 64}
    assert first["ends_at"] == shown["ends_at"]
    cli("tick")  # nothing to do: no call, no write
    assert actions(driver) == [f"provision {lid}"]

    ext = cli.json("lease", "extend", lid, "--hours", "2")
    pay(cli, ext["payment"]["id"])
    cli("tick")
    extended = cli.json("lease", "show", lid)
    assert calls(driver)[-1]["ends_at"] == extended["ends_at"] != shown["ends_at"]
    assert extended["machine"]["details"]["ends_at"] == extended["ends_at"]

    at("2026-03-03T00:00:00Z")  # 48 h at 2,500 sat > 102,000 sat paid: throttled
    cli("tick")
    assert cli.json("lease", "show", lid)["status"] == "suspended"
    assert machine(cli, lid)["state"] == "suspended"

    at("2026-03-03T00:10:00Z")  # an investor tops the pool up: back, with the time off added
    fund = cli.json("pool", "fund", "gpu", "--tenant", "alice", "--amount", "300000 sat")
    pay(cli, fund["payment"]["id"])
    cli("tick")
    resumed = cli.json("lease", "show", lid)
    assert resumed["status"] == "active" and resumed["machine"]["state"] == "ready"
    assert calls(driver)[-1]["ends_at"] == resumed["ends_at"]

    at(resumed["ends_at"])
    tick = cli.json("tick")
    assert {"id": lid, "from": "active", "to": "ended"} in tick["transitions"]
    gone = machine(cli, lid)
    assert (gone["state"], gone["ssh"], gone["login"]) == ("released", None, None)
    assert actions(driver) == [f"{a} {lid}" for a in
                               ("provision", "extend", "suspend", "resume", "release")]
    cli("tick")
    assert len(calls(driver)) == 5
    assert cli.json("verify")["ok"]


def test_pay_check_makes_the_machine_of_the_lease_it_activates(cli, home, driver):
    cli("tenant", "add", "alice", "--ssh-key", PUB)
    lease = cli.json("rent", "--hours", "2", "--tenant", "alice")
    pay(cli, lease["payment"]["id"])
    report = cli.json("pay", "check", lease["payment"]["id"])
    assert report["machines"][0]["state"] == "ready"
    assert machine(cli, lease["id"])["state"] == "ready"
    assert actions(driver) == [f"provision {lease['id']}"]


def test_a_failure_leaves_the_lease_paid_is_reported_and_retried(cli, engine_home, driver,
                                                                tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_RPC_URL", "http://user:hunter2@127.0.0.1:8332")
    monkeypatch.setenv("SOME_SECRET", "hunter2")
    hook = tmp_path / "hook.py"
    seen = tmp_path / "hook.jsonl"
    hook.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                    f"open({str(seen)!r}, 'a').write(json.dumps({{'body': json.load(sys.stdin),"
                    " 'env': dict(os.environ)}) + '\\n')\n")
    hook.chmod(0o755)
    set_hooks(engine_home, provision_failed=str(hook), provision_ready=str(hook))
    cli("tenant", "add", "alice", "--ssh-key", PUB)
    (driver / "fail").write_text("")
    lease = cli.json("rent", "--hours", "2", "--tenant", "alice")
    pay(cli, lease["payment"]["id"])
    tick = cli.json("tick")
    lid = lease["id"]
    assert f"provision_failed {lid}" in tick["events"]
    shown = cli.json("lease", "show", lid)
    assert shown["status"] == "active" and shown["payment"]["status"] == "settled"
    m = shown["machine"]
    assert m["state"] == "failed" and m["attempts"] == 1 and not m["blocked"]
    assert m["error"] == "provision: command exit 3: the VM host is down"
    human = cli("lease", "show", lid).stdout
    assert "machine failed (command): provision: command exit 3" in human
    assert "retried on the next tick" in human

    tick = cli.json("tick")  # still failing: retried, reported once
    assert tick["machines"][0]["state"] == "failed" and not tick["events"]
    assert machine(cli, lid)["attempts"] == 2
    (driver / "fail").unlink()
    tick = cli.json("tick")
    assert tick["machines"][0]["state"] == "ready"
    assert f"provision_ready {lid}" in tick["events"]
    assert machine(cli, lid)["attempts"] == 0 and machine(cli, lid)["error"] is None
    assert actions(driver) == [f"provision {lid}"] * 3

    events = [json.loads(line) for line in seen.read_text().splitlines()]
    assert [e["body"]["event"] for e in events] == ["provision_failed", "provision_ready"]
    failed = events[0]["body"]
    assert failed["lease_id"] == lid and failed["machine"]["state"] == "failed"
    assert failed["machine"]["error"].endswith("the VM host is down")
    for e in events:  # hooks never get the caller's environment, credentials or keys
        assert set(e["env"]) <= {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "CLOUDLEASE_EVENT",
                                 "CLOUDLEASE_EVENT_ID", "CLOUDLEASE_HOME",
                                 "CLOUDLEASE_LEASE_ID", "CLOUDLEASE_TENANT",
                                 "CLOUDLEASE_NETWORK", "CLOUDLEASE_REQUEST_ID"}, e["env"]
        assert "hunter2" not in json.dumps(e)
    for c in calls(driver):  # nor does the driver's program
        assert "CLOUDLEASE_RPC_URL" not in c["env"] and "SOME_SECRET" not in c["env"]
        assert "CLOUDLEASE_LEDGER_URL" not in c["env"]


def test_no_key_means_failed_with_the_reason_once_not_every_tick(cli, engine_home):
    # ssh-account needs a key; without one no driver call is made, so no root needed here
    set_provision(engine_home, driver="ssh-account", state_dir="/var/lib/cl-test-nokey")
    cli("tenant", "add", "bob")
    mine = cli.json("rent", "--hours", "2", "--tenant", "bob")
    anon = cli.json("rent", "--hours", "2")
    pay(cli, mine["payment"]["id"])
    pay(cli, anon["payment"]["id"])
    tick = cli.json("tick")
    assert {m["lease"]: m["state"] for m in tick["machines"]} == {
        mine["id"]: "failed", anon["id"]: "failed"}
    m = machine(cli, mine["id"])
    assert m["blocked"] and m["driver"] == "ssh-account"
    assert "no SSH key for tenant bob" in m["error"]
    assert "cloudlease tenant edit bob --ssh-key KEY" in m["error"]
    a = machine(cli, anon["id"])
    assert a["blocked"] and a["error"].startswith("anonymous lease: no tenant, so no SSH key")
    for lid in (mine["id"], anon["id"]):
        assert cli.json("lease", "show", lid)["status"] == "active"
    assert "tried again when the tenant's SSH keys change" in cli(
        "lease", "show", mine["id"]).stdout
    before = machine_records(engine_home)
    assert cli.json("tick")["machines"] == []  # not retried in a loop: no call, no write
    assert machine_records(engine_home) == before
    assert not Path("/var/lib/cl-test-nokey").exists()


def test_overlapping_ticks_drive_each_machine_once(cli, engine_home, driver):
    cli("tenant", "add", "alice", "--ssh-key", PUB)
    leases = [cli.json("rent", "--hours", "2", "--tenant", "alice") for _ in range(3)]
    for lease in leases:
        pay(cli, lease["payment"]["id"])
    (driver / "sleep").write_text("0.5")
    procs = [subprocess.Popen([sys.executable, "-m", "cloudlease", "tick", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=os.environ.copy()) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert sorted(actions(driver)) == sorted(f"provision {x['id']}" for x in leases)
    assert {m.state.value for m in machine_records(engine_home)} == {"ready"}
    assert all(m.claimed_by is None for m in machine_records(engine_home))


def _write_machine(home: Path, lease_id: str, **fields) -> None:
    from cloudlease.model import MachineRecord, MachineState
    from cloudlease.ops.context import Context

    ctx = Context.at(home)
    try:
        with ctx.transaction("test: a machine") as ledger:
            now = clock.now()
            base = ledger.machines.get(lease_id) or MachineRecord(
                lease=lease_id, driver="command", state=MachineState.PENDING, created_at=now,
                updated_at=now)
            if "state" in fields:
                fields["state"] = MachineState(fields["state"])
            ledger.machines[lease_id] = base.replace(**fields)
    finally:
        ctx.close()


def test_a_runner_that_died_mid_call_is_taken_over(cli, home, driver):
    cli("tenant", "add", "alice", "--ssh-key", PUB)
    lease = cli.json("rent", "--hours", "2", "--tenant", "alice")
    pay(cli, lease["payment"]["id"])
    cli("pay", "check", lease["payment"]["id"])
    lid = lease["id"]
    assert actions(driver) == [f"provision {lid}"]
    # a live runner elsewhere holds a claim: left alone until it expires
    later = clock.now() + timedelta(minutes=10)
    _write_machine(home, lid, state="pending", claimed_until=later,
                   claimed_by="elsewhere pid 1")
    assert cli.json("tick")["machines"] == []
    # the claimer was this host's and its process is gone: taken over at once
    _write_machine(home, lid, claimed_by=f"{socket.gethostname()} pid {_dead_pid()}")
    assert cli.json("tick")["machines"][0]["state"] == "ready"
    assert actions(driver) == [f"provision {lid}"] * 2


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_machines_of_an_earlier_driver_are_still_released(cli, home, driver, monkeypatch):
    cli("tenant", "add", "alice", "--ssh-key", PUB)
    lease = cli.json("rent", "--hours", "1", "--tenant", "alice")
    pay(cli, lease["payment"]["id"])
    cli("tick")
    set_provision(home, driver="none", command=str(driver / "machine.py"))
    shown = cli.json("lease", "show", lease["id"])
    monkeypatch.setenv("CLOUDLEASE_NOW", shown["ends_at"])
    cli("tick")
    assert actions(driver) == [f"provision {lease['id']}", f"release {lease['id']}"]
    assert machine(cli, lease["id"])["state"] == "released"


def test_on_a_shared_ledger_only_the_host_that_made_a_machine_drives_it(cli, engine_home,
                                                                        driver, monkeypatch):
    cli("tenant", "add", "alice", "--ssh-key", PUB)
    lease = cli.json("rent", "--hours", "1", "--tenant", "alice")
    pay(cli, lease["payment"]["id"])
    cli("tick")
    assert machine(cli, lease["id"])["host"] == socket.gethostname()
    _write_machine(engine_home, lease["id"], host="other-host")
    monkeypatch.setenv("CLOUDLEASE_NOW", cli.json("lease", "show", lease["id"])["ends_at"])
    cli("tick")
    shared = bool(os.environ.get("CLOUDLEASE_LEDGER_URL"))
    # PostgreSQL: other-host's machine, other-host's job; SQLite: no other host can exist
    assert machine(cli, lease["id"])["state"] == ("ready" if shared else "released")


def test_a_tenants_new_key_reaches_a_running_machine(cli, home, driver):
    cli("tenant", "add", "alice", "--ssh-key", PUB)
    lease = cli.json("rent", "--hours", "2", "--tenant", "alice")
    pay(cli, lease["payment"]["id"])
    cli("tick")
    cli("tenant", "edit", "alice", "--ssh-key", PUB, "--ssh-key", OTHER)
    cli("tick")
    assert [c["ssh_keys"] for c in calls(driver)] == [[PUB], [PUB, OTHER]]
    assert actions(driver)[-1] == f"provision {lease['id']}"
    cli("tick")
    assert len(calls(driver)) == 2


def test_key_material_in_json_is_public_keys_only(cli, home, driver, tmp_path):
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "a@b", "-f", str(key)],
                   check=True)
    private_body = "".join(key.read_text().splitlines()[1:-1])
    cli("tenant", "add", "alice", "--ssh-key-file", f"{key}.pub")
    lease = cli.json("rent", "--hours", "2", "--tenant", "alice")
    pay(cli, lease["payment"]["id"])
    cli("tick")
    outputs = [cli("tenant", "show", "alice", "--json").stdout,
               cli("lease", "show", lease["id"], "--json").stdout,
               cli("ledger", "dump", "--format", "json").stdout,
               run_cli("tick", "--json").stdout]
    public = (tmp_path / "id_ed25519.pub").read_text().split()[1]
    assert public in outputs[0] and public in outputs[2]
    for out in outputs:
        assert private_body[:40] not in out and "PRIVATE KEY" not in out
