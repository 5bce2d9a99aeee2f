"""Concurrency and crash safety with real processes (not threads), on both engines.

- many writers at once: every rent lands, ids and addresses are never handed out twice,
  and the audit chain verifies (on PostgreSQL, from two "hosts" sharing one ledger);
- writers killed with SIGKILL at random moments in rent, tick and invoice issue: the
  ledger always opens and verifies, and the next write works;
- two overlapping ``tick`` runs never fire a hook twice, and a slow hook never blocks a
  concurrent ``rent`` (hooks run outside the writer lock).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloudlease.bitcoin.devchain import Devchain
from cloudlease.model import LeaseStatus
from cloudlease.ops import leases
from cloudlease.ops.context import Context
from cloudlease.ops.verify import verify
from tests.conftest import VPUB, release_together

# A worker that rents N leases in-process once the test says "go" (stdin), so that all
# workers contend for the lock at the same moment rather than as they finish importing.
RENT_WORKER = """
import sys
import bit  # noqa: F401  - pay the import before the start line
from cloudlease.ops.context import Context
from cloudlease.ops import leases
ctx = Context.at(sys.argv[1], lock_timeout=60)
ctx.settings
n = int(sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()
ids = []
for _ in range(n):
    r = leases.rent(ctx, 1)
    ids.append(f"{r.lease.id}={r.request.address}")
print(" ".join(ids), flush=True)
"""

# Writers that loop until killed.
LOOPS = {
    "rent": """
from cloudlease.ops import leases
def step():
    leases.rent(ctx, 1)
""",
    "tick": """
from cloudlease.ops import leases
from cloudlease.ops.check import check
from cloudlease.bitcoin.devchain import Devchain
chain = Devchain(ctx.home.devchain)
def step():
    r = leases.rent(ctx, 1)
    chain.pay(r.request.address, r.request.amount_sats)
    chain.mine(1)
    check(ctx, tick=True)
""",
    "issue": """
from cloudlease.ops import invoicing, tenants
from cloudlease.core import clock
import itertools
counter = itertools.count()
def step():
    name = f"t{next(counter)}-{os.getpid()}"
    tenants.add(ctx, name)
    inv, _ = invoicing.create(ctx, name, clock.now().strftime("%Y-%m"))
    try:
        invoicing.issue(ctx, inv.id)
    except Exception:
        pass  # an empty draft cannot be issued: still a write, still interruptible
""",
}
LOOP_WRITER = """
import os, sys
import bit  # noqa: F401
from cloudlease.ops.context import Context
ctx = Context.at(sys.argv[1], lock_timeout=60)
ctx.settings
{body}
print("ready", flush=True)
while True:
    step()
"""


def _env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1"}


def _python(code: str, *args: str, **kw) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], text=True, env=_env(), **kw)


def _check_ledger(home: Path, expected_leases: int, *, keys: bool = True) -> None:
    """Ids L-1..L-n with no gap, one distinct address per request, a key for every
    address (keys wallet), and a clean full verify."""
    ctx = Context.at(home)
    ledger = ctx.read()
    ids = [x.id for x in ledger.leases.where()]
    assert sorted(ids, key=lambda i: int(i[2:])) == [f"L-{i}" for i in
                                                      range(1, expected_leases + 1)]
    assert ledger.counter("lease") == expected_leases
    addresses = [r.address for r in ledger.requests.where()]
    assert len(addresses) == len(set(addresses)) >= expected_leases
    if keys:
        from cloudlease.bitcoin.keystore import KeyStore

        assert set(addresses) <= set(KeyStore(home / "keys.toml").addresses())
    report = verify(ctx, full=True)
    assert report.ok, report.problems
    ctx.close()


# -- many writers at once ------------------------------------------------------------------
def test_eight_processes_rent_at_once(home: Path):
    workers, per_worker = 8, 25
    procs = [_python(RENT_WORKER, str(home), str(per_worker), stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(workers)]
    results = [out.split() for out in release_together(procs)]
    pairs = [item.split("=") for r in results for item in r]
    ids = [i for i, _ in pairs]
    assert sorted(ids, key=lambda x: int(x[2:])) == [f"L-{i}" for i in range(1, 201)]
    assert len({a for _, a in pairs}) == 200
    for r in results:  # each worker saw its own ids increase
        numbers = [int(item.split("=")[0][2:]) for item in r]
        assert numbers == sorted(numbers) and len(numbers) == per_worker
    _check_ledger(home, 200)
    ctx = Context.at(home)
    assert verify(ctx).audit_entries == 1 + 200  # init + one entry per rent
    ctx.close()


def test_two_hosts_rent_at_once_on_one_postgresql_ledger(cli, pg_database, tmp_path):
    hosts = [tmp_path / "host-a", tmp_path / "host-b"]
    for h in hosts:
        cli("init", "--home", str(h), "--xpub", VPUB, "--ledger-url", pg_database)
    procs = [_python(RENT_WORKER, str(h), "25", stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for h in hosts for _ in range(4)]
    pairs = [item.split("=") for out in release_together(procs) for item in out.split()]
    assert sorted((i for i, _ in pairs), key=lambda x: int(x[2:])) == \
        [f"L-{i}" for i in range(1, 201)]
    assert len({a for _, a in pairs}) == 200
    for h in hosts:
        _check_ledger(h, 200, keys=False)
    # the addresses are the wallet's indexes 0..199, each handed out once
    from cloudlease.bitcoin.wallet import DescriptorWallet, parse_wallet_source

    wallet = DescriptorWallet(parse_wallet_source(VPUB, "regtest"), "regtest")
    assert {a for _, a in pairs} == {wallet.address_at(i) for i in range(200)}


def test_cli_rents_from_four_processes_at_once(engine_home: Path):
    outputs = []
    for _ in range(5):
        procs = [subprocess.Popen(
            [sys.executable, "-m", "cloudlease", "rent", "--hours", "1", "--json",
             "--no-wait", "--home", str(engine_home), "--lock-timeout", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
            for _ in range(4)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            outputs.append(json.loads(out))
    ids = sorted((o["id"] for o in outputs), key=lambda x: int(x[2:]))
    assert ids == [f"L-{i}" for i in range(1, 21)]
    assert len({o["payment"]["address"] for o in outputs}) == 20
    _check_ledger(engine_home, 20, keys=not os.environ.get("CLOUDLEASE_LEDGER_URL"))


# -- writers killed at random moments --------------------------------------------------------
@pytest.mark.parametrize("what", sorted(LOOPS))
def test_writer_killed_at_random_moments_leaves_a_sound_ledger(engine_home: Path, what: str):
    rng = random.Random(f"{what}-20261201")
    ctx = Context.at(engine_home, lock_timeout=30)
    shared = bool(os.environ.get("CLOUDLEASE_LEDGER_URL"))
    code = LOOP_WRITER.format(body=LOOPS[what])
    for _ in range(8):
        with _python(code, str(engine_home), stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE) as p:
            line = p.stdout.readline().strip()
            assert line == "ready", p.stderr.read()
            time.sleep(rng.uniform(0.05, 0.6))
            p.kill()  # SIGKILL
            p.communicate()
        ctx.close()
        report = verify(ctx, full=True)  # the ledger always opens and verifies
        assert report.ok, report.problems
        before = ctx.read().counter("lease")
        rental = leases.rent(ctx, 1)  # and the next write works
        assert rental.lease.id == f"L-{before + 1}"
    assert verify(ctx, full=True).ok
    if not shared:
        assert not list(engine_home.glob(".keys.toml.*.tmp")), "stale keystore temp left"
    ctx.close()


# -- hooks: once, and outside the lock --------------------------------------------------------
def _hook(home: Path, tmp_path: Path, event: str, body: str) -> Path:
    fired = tmp_path / "fired.txt"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\necho "$CLOUDLEASE_EVENT_ID $CLOUDLEASE_LEASE_ID" >> '
                    f'"{fired}"\n{body}\n')
    hook.chmod(0o755)
    config = home / "config.toml"
    lines = config.read_text().splitlines()
    at = lines.index("[hooks]") + 1
    lines.insert(at, f"{event} = {json.dumps(str(hook))}")
    config.write_text("\n".join(lines) + "\n")
    return fired


def _paid_rentals(home: Path, n: int) -> list:
    ctx = Context.at(home)
    rentals = [leases.rent(ctx, 1) for _ in range(n)]
    ctx.close()
    chain = Devchain(home / "devchain.json")
    chain.pay_many([(r.request.address, r.request.amount_sats) for r in rentals])
    chain.mine(1)
    return rentals


@pytest.mark.parametrize("stagger", [0.0, 0.7])
def test_overlapping_ticks_fire_each_hook_once(engine_home: Path, tmp_path: Path,
                                               stagger: float):
    fired = _hook(engine_home, tmp_path, "lease_active", "sleep 0.5")
    rentals = _paid_rentals(engine_home, 3)
    cmd = [sys.executable, "-m", "cloudlease", "tick", "--json", "--home", str(engine_home),
           "--lock-timeout", "30"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=_env())
    time.sleep(stagger)
    second = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env())
    reports = []
    for p in (first, second):
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        reports.append(json.loads(out))
    lines = fired.read_text().splitlines()
    event_ids = [line.split()[0] for line in lines]
    assert len(lines) == 3 and len(set(event_ids)) == 3, lines
    assert all(re.fullmatch(r"E-\d+", e) for e in event_ids)
    assert sorted(line.split()[1] for line in lines) == sorted(r.lease.id for r in rentals)
    delivered = [d for r in reports for d in r["hooks_delivered"]]
    assert sorted(delivered) == sorted(f"lease_active {e}" for e in event_ids)
    ctx = Context.at(engine_home)
    led = ctx.read()
    assert {d.status.value for d in led.deliveries.where()} == {"delivered"}
    assert all(led.leases[r.lease.id].status == LeaseStatus.ACTIVE for r in rentals)
    assert verify(ctx, full=True).ok
    ctx.close()


def test_a_slow_hook_never_blocks_a_rent(engine_home: Path, tmp_path: Path):
    """The hook runs after the tick committed, outside the lock: while it is running (it
    waits to be released), a rent that may wait only 1 s for the lock gets it. Events,
    not timing: the hook says it started, the test releases it."""
    release = tmp_path / "release"
    fired = _hook(engine_home, tmp_path, "lease_active",
                  f'while [ ! -e "{release}" ]; do sleep 0.05; done')
    _paid_rentals(engine_home, 1)
    tick = subprocess.Popen([sys.executable, "-m", "cloudlease", "tick", "--json", "--home",
                             str(engine_home)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    try:
        deadline = time.monotonic() + 120
        while not (fired.exists() and fired.read_text().strip()):
            assert time.monotonic() < deadline and tick.poll() is None, "the hook never ran"
            time.sleep(0.05)
        rent = subprocess.run([sys.executable, "-m", "cloudlease", "rent", "--hours", "1",
                               "--json", "--home", str(engine_home), "--lock-timeout", "1"],
                              capture_output=True, text=True, env=_env(), timeout=120)
        assert rent.returncode == 0, rent.stderr  # the lock was free: no exit 5
        assert tick.poll() is None  # ...while the hook was still running
    finally:
        release.touch()
        out, err = tick.communicate(timeout=120)
    assert tick.returncode == 0, err
    assert json.loads(out)["hooks_delivered"]


def test_a_failed_hook_is_retried_on_the_next_tick_only_once(engine_home: Path,
                                                             tmp_path: Path):
    flag = tmp_path / "ok"
    fired = _hook(engine_home, tmp_path, "lease_active", f'[ -e "{flag}" ] || exit 3')
    _paid_rentals(engine_home, 1)
    ctx = Context.at(engine_home)
    from cloudlease.ops.check import check

    first = check(ctx, tick=True)
    assert first.hooks_failed and not first.hooks_delivered
    assert "exit 3" in first.hooks_failed[0]["error"]
    flag.touch()
    second = check(ctx, tick=True)
    assert len(second.hooks_delivered) == 1 and not second.hooks_failed
    third = check(ctx, tick=True)
    assert not third.hooks_delivered and not third.hooks_failed
    assert len(fired.read_text().splitlines()) == 2  # one failure, one delivery
    ctx.close()
