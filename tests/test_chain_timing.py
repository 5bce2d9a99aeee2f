"""Chain and payment state through the operations and the CLI, under real-world timing:
racing ticks (a deterministic harness), late cron runs, zero-conf caps, reorgs, money that
must be honoured or flagged for refund, contradictory Esplora answers, and pools whose
runway cannot be known. (The pure rules: tests/test_chain_state.py.)"""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cloudlease.bitcoin.backends.devchain import DevchainBackend
from cloudlease.bitcoin.devchain import Devchain
from cloudlease.ops.check import check
from cloudlease.ops.context import Context
from tests.machine_helpers import set_hooks

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def clock(monkeypatch) -> Callable[[datetime | timedelta], None]:
    """Pin CLOUDLEASE_NOW to T + offset (or an absolute time)."""
    def at(when: datetime | timedelta) -> None:
        monkeypatch.setenv("CLOUDLEASE_NOW", iso(T + when if isinstance(when, timedelta)
                                                 else when))
    at(timedelta(0))
    return at


def minutes(m: float) -> timedelta:
    return timedelta(minutes=m)


def lease_of(cli, lease_id: str) -> dict:
    return cli.json("lease", "show", lease_id)


def settle(cli, request_id: str) -> None:
    cli("devchain", "pay", request_id)
    cli("devchain", "mine")
    cli("tick")


# -- a deterministic timing harness ------------------------------------------------------
class Paused:
    """A backend that answers like the devchain but holds its answer (after reading the
    chain) until released: the check it serves applies an answer taken *then*."""

    def __init__(self, path: Path) -> None:
        self.inner = DevchainBackend(path)
        self.name = self.inner.name
        self.answered = threading.Event()
        self.release = threading.Event()

    def tip(self):
        return self.inner.tip()

    def orphaned(self, hashes):
        return self.inner.orphaned(hashes)

    def watch(self, addresses) -> None:
        self.inner.watch(addresses)

    def received(self, addresses):
        answer = self.inner.received(addresses)
        self.answered.set()
        assert self.release.wait(30), "the test never released the paused check"
        return answer


def in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised by the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def finish(thread: threading.Thread, box: dict):
    thread.join(30)
    assert not thread.is_alive()
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_an_answer_from_before_a_block_never_undoes_a_settlement(cli, home, clock):
    """Tick A asks the chain (payment unconfirmed), a block is mined, tick B settles the
    request, then A's answer is applied: nothing moves back, no false reorg."""
    lease = cli.json("rent", "--hours", "2")
    pid = lease["payment"]["id"]
    cli("devchain", "pay", pid)
    ctx = Context.at(home)
    paused = Paused(home / "devchain.json")
    thread, box = in_thread(lambda: check(ctx, tick=True, backend=paused))
    assert paused.answered.wait(30)
    cli("devchain", "mine")
    b = cli.json("tick")  # tick B, with the newer chain
    assert {"id": pid, "from": "new", "to": "settled"} in b["transitions"]
    paused.release.set()
    a = finish(thread, box)  # tick A applies its older answer now
    assert a.transitions == [] and a.held == [pid]
    shown = lease_of(cli, lease["id"])
    assert shown["status"] == "active" and shown["note"] is None
    assert shown["payment"]["status"] == "settled"
    cli("verify")


def test_a_wait_loop_racing_cron_only_moves_forward(cli, home, clock):
    """``rent --wait``'s loop (pay check on one id) and cron ticks interleave with blocks
    and a reorg; whichever applies last, no request goes backwards without a reorg."""
    lease = cli.json("rent", "--hours", "1")
    pid = lease["payment"]["id"]
    ctx = Context.at(home)
    chain = Devchain(home / "devchain.json")
    chain.pay(lease["payment"]["address"], lease["payment"]["amount_sats"])
    seen: list[dict] = []
    for step in range(4):
        waiter = Paused(home / "devchain.json")
        thread, box = in_thread(lambda w=waiter: check(ctx, [pid], backend=w))
        assert waiter.answered.wait(30)
        chain.mine()  # the chain moves on while the wait loop's answer is in flight
        seen += cli.json("tick")["transitions"]
        waiter.release.set()
        report = finish(thread, box)
        seen += report.transitions
        assert report.statuses[pid] == "settled"  # the wait loop sees the settlement
        assert lease_of(cli, lease["id"])["status"] == "active", step
    backwards = [t for t in seen if (t["from"], t["to"]) in
                 {("settled", "processing"), ("settled", "new"), ("active", "suspended")}]
    assert backwards == []
    chain.reorg(4)  # a real reorg (to a shorter chain) is still recognised
    assert {"id": pid, "from": "settled", "to": "processing"} in cli.json("tick")["transitions"]
    assert lease_of(cli, lease["id"])["status"] == "suspended"
    clock(minutes(20))
    chain.mine()
    cli("tick")
    shown = lease_of(cli, lease["id"])
    assert shown["status"] == "active" and shown["payment"]["status"] == "settled"
    assert shown["ends_at"] == iso(T + timedelta(hours=1) + minutes(20))  # time given back


def test_an_answer_from_before_a_reorg_is_stale(cli, home, clock):
    lease = cli.json("rent", "--hours", "1")
    pid = lease["payment"]["id"]
    settle(cli, pid)
    ctx = Context.at(home)
    clock(minutes(1))
    paused = Paused(home / "devchain.json")
    thread, box = in_thread(lambda: check(ctx, tick=True, backend=paused))  # pre-reorg
    assert paused.answered.wait(30)
    clock(minutes(2))
    cli("devchain", "reorg")
    assert cli.json("lease", "show", lease["id"])["status"] == "active"
    cli("tick")
    assert lease_of(cli, lease["id"])["status"] == "suspended"
    paused.release.set()
    assert finish(thread, box).held == [pid]  # asked before the reorg: no re-settling
    assert lease_of(cli, lease["id"])["payment"]["status"] == "processing"


# -- late is when the chain first saw it ---------------------------------------------------
def test_paid_at_once_but_first_checked_20_minutes_later_is_not_late(cli, home, clock):
    lease = cli.json("rent", "--hours", "2")
    clock(timedelta(seconds=10))
    cli("devchain", "pay", lease["payment"]["id"])
    cli("devchain", "mine")
    clock(minutes(20))
    cli("tick")
    shown = lease_of(cli, lease["id"])
    assert shown["status"] == "active" and "late" not in shown["payment"]["flags"]
    assert shown["payment"]["paid_at"] == iso(T + timedelta(seconds=10))


@pytest.mark.parametrize("paid_after", [timedelta(seconds=1), minutes(3), minutes(60)])
def test_paid_after_the_window_is_late_whenever_tick_runs(cli, home, clock, paid_after):
    lease = cli.json("rent", "--hours", "2")
    clock(minutes(15) + paid_after)
    cli("devchain", "pay", lease["payment"]["id"])
    clock(minutes(15) + paid_after + minutes(2))
    cli("tick")
    req = lease_of(cli, lease["id"])["payment"]
    assert req["status"] == "expired" and "late" in req["flags"]


def test_a_late_cron_run_through_esplora_changes_nothing(cli, esplora_home, clock):
    """Esplora has no mempool first-seen time: a payment first listed by a cron run after
    expiry is on time when the previous look (before expiry) had not seen it yet."""
    cli_ = cli
    on_time = cli_.json("rent", "--hours", "1")
    late = cli_.json("rent", "--hours", "1")
    clock(minutes(14))
    cli_("tick")  # before expiry: nothing paid yet
    clock(minutes(14.5))
    cli_("devchain", "pay", on_time["payment"]["id"])
    clock(minutes(18))  # the next cron run is late
    cli_("tick")
    assert lease_of(cli_, on_time["id"])["payment"]["status"] == "processing"
    assert lease_of(cli_, late["id"])["payment"]["status"] == "expired"
    clock(minutes(19))
    cli_("devchain", "pay", late["payment"]["id"])  # after a look had expired it
    clock(minutes(20))
    cli_("devchain", "mine")
    cli_("tick")
    assert lease_of(cli_, on_time["id"])["status"] == "active"
    req = lease_of(cli_, late["id"])["payment"]
    assert req["status"] == "expired" and "late" in req["flags"]


# -- zero-conf cap ------------------------------------------------------------------------
@pytest.fixture
def zero_conf(home: Path) -> Path:
    cfg = home / "config.toml"
    text = cfg.read_text().replace("confirmations = 1 ", "confirmations = 0 ")
    cfg.write_text(text.replace("zero_conf_max_sats = 0 ", "zero_conf_max_sats = 5000 "))
    return home


@pytest.mark.parametrize(("hours", "pay", "rbf", "at_zero"), [
    (10, None, False, "processing"),  # 10,000 sat > the 5,000 cap
    (4, None, False, "settled"),
    (5, None, False, "settled"),  # at the cap
    (4, "10000", False, "processing"),  # what arrived is over the cap
    (4, None, True, "processing"),  # RBF
    (6, None, False, "processing"),
])
def test_zero_conf_cap(cli, zero_conf, clock, hours, pay, rbf, at_zero):
    lease = cli.json("rent", "--hours", str(hours))
    args = ["devchain", "pay", lease["payment"]["id"]] + (["--sats", pay] if pay else []) + \
        (["--rbf"] if rbf else [])
    cli(*args)
    cli("tick")
    assert lease_of(cli, lease["id"])["payment"]["status"] == at_zero
    cli("devchain", "mine")
    cli("tick")
    assert lease_of(cli, lease["id"])["status"] == "active"


# -- money honoured or flagged --------------------------------------------------------------
def test_an_extension_paid_after_the_lease_ended_reopens_it(cli, home, clock):
    lease = cli.json("rent", "--hours", "1")
    settle(cli, lease["payment"]["id"])
    clock(minutes(55))
    ext = cli.json("lease", "extend", lease["id"], "--hours", "2")["payment"]
    clock(minutes(61))
    cli("tick")
    assert lease_of(cli, lease["id"])["status"] == "ended"
    clock(minutes(62))
    settle(cli, ext["id"])
    shown = lease_of(cli, lease["id"])
    assert shown["status"] == "active" and shown["paid_hours"] == 3
    assert shown["ends_at"] == iso(T + minutes(62) + timedelta(hours=2))
    assert "reopened" in shown["note"]
    assert shown["payments"][-1]["refund_sats"] == 0


def test_an_extension_the_pool_has_no_room_for_is_flagged_for_refund(cli, home, clock):
    cli("pool", "add", "one", "--slots", "1", "--cost-per-hour", "1 sat", "--consideration",
        "ownership", "--investor-pct", "10")
    cli("plan", "add", "solo", "--price-per-hour", "1000 sat", "--pool", "one")
    cli("tenant", "add", "alice")
    cli("pool", "fund", "one", "--tenant", "alice", "--amount", "100000 sat")
    cli("tick")
    fund = [r for r in cli.json("pool", "show", "one")["contributions"]]
    settle(cli, fund[0]["request"])
    lease = cli.json("rent", "--hours", "1", "--plan", "solo")
    settle(cli, lease["payment"]["id"])
    clock(minutes(55))
    ext = cli.json("lease", "extend", lease["id"], "--hours", "2")["payment"]
    clock(minutes(61))
    cli("tick")
    other = cli.json("rent", "--hours", "1", "--plan", "solo")  # takes the only slot
    settle(cli, other["payment"]["id"])
    settle(cli, ext["id"])
    shown = lease_of(cli, lease["id"])
    assert shown["status"] == "ended" and shown["paid_hours"] == 1
    req = shown["payments"][-1]
    assert req["status"] == "settled" and {"unhonoured", "refund_due"} <= set(req["flags"])
    assert req["refund_sats"] == 2_000 and "refund due" in req["closed_reason"]
    month = cli.json("pool", "show", "one")["current_month"]
    assert month["revenue_sats"] == 2_000  # the two leases, not the unhonoured extension


def test_a_late_investment_accepted_counts_from_its_settlement(cli, home, clock):
    cli("pool", "add", "gpu", "--slots", "1", "--cost-per-hour", "1 sat", "--consideration",
        "ownership", "--investor-pct", "10")
    cli("tenant", "add", "alice")
    fund = cli.json("pool", "fund", "gpu", "--tenant", "alice", "--amount", "50000 sat")
    pid = fund["payment"]["id"]
    clock(minutes(16))
    cli("tick")
    assert cli.json("pool", "show", "gpu")["contributions"][0]["status"] == "cancelled"
    clock(minutes(20))
    cli("devchain", "pay", pid)
    cli("devchain", "mine")
    cli("tick")
    req = cli.json("pay", "show", pid)
    assert req["status"] == "expired" and {"late", "refund_due"} <= set(req["flags"])
    clock(minutes(30))
    accepted = cli.json("pay", "accept", pid)
    assert "refund_due" not in accepted["request"]["flags"]
    clock(minutes(31))
    cli("tick")
    (c,) = cli.json("pool", "show", "gpu")["contributions"]
    assert c["status"] == "settled" and c["settled_at"] == iso(T + minutes(31))
    assert cli.json("risk")[0]["tenants"][0]["principal_sats"] == 50_000


def test_overpayment_is_flagged_for_refund(cli, home, clock, tmp_path):
    log = tmp_path / "refunds.jsonl"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ncat >> {log}\necho >> {log}\n")
    hook.chmod(0o755)
    set_hooks(home, payment_refund_due=str(hook))
    lease = cli.json("rent", "--hours", "1")
    cli("devchain", "pay", lease["payment"]["id"], "--sats", "1500")
    cli("devchain", "mine")
    cli("tick")
    req = lease_of(cli, lease["id"])["payment"]
    assert req["status"] == "settled" and req["refund_sats"] == 500
    assert {"overpaid", "refund_due"} <= set(req["flags"])
    cli("tick")  # flagged once, so told once
    (event,) = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert event["event"] == "payment_refund_due" and event["refund_sats"] == 500
    assert event["request_id"] == req["id"] and event["lease_id"] == lease["id"]


# -- contradictory Esplora answers ----------------------------------------------------------
class _Twister(BaseHTTPRequestHandler):
    """Forwards to the devchain server; lists each transaction twice on /txs, the second
    time with a bigger value (an answer that contradicts itself)."""

    upstream = ""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        with urllib.request.urlopen(self.upstream + self.path, timeout=5) as resp:
            body = resp.read()
        if self.path.endswith("/txs"):
            txs = json.loads(body)
            twisted = []
            for tx in txs:
                other = json.loads(json.dumps(tx))
                for out in other["vout"]:
                    out["value"] *= 100
                twisted += [tx, other]
            body = json.dumps(twisted).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def twisted_home(esplora_home: Path) -> Iterator[Path]:
    cfg = esplora_home / "config.toml"
    text = cfg.read_text()
    upstream = re.search(r'"(http://127\.0\.0\.1:[0-9]+)"', text).group(1)
    handler = type("H", (_Twister,), {"upstream": upstream})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cfg.write_text(text.replace(upstream, f"http://127.0.0.1:{server.server_address[1]}"))
    yield esplora_home
    server.shutdown()
    server.server_close()


def test_an_esplora_answer_that_contradicts_itself_is_exit_6(cli, twisted_home, clock):
    lease = cli.json("rent", "--hours", "1")
    cli("devchain", "pay", lease["payment"]["id"])
    cli("devchain", "mine")
    before = cli.ledger_snapshot()
    err = cli.json("tick", code=6)
    assert "consistent" in err["message"]
    assert cli.ledger_snapshot() == before
    assert lease_of(cli, lease["id"])["status"] == "awaiting_payment"


# -- pools: unknown is never good news ------------------------------------------------------
def _set_rate(home: Path, rate: str | None) -> None:
    cfg = home / "config.toml"
    lines = [line for line in cfg.read_text().splitlines() if not line.startswith("fixed = ")]
    at = lines.index("[rates]") + 1
    if rate is not None:
        lines.insert(at, f'fixed = "{rate}"')
    cfg.write_text("\n".join(lines) + "\n")


def test_a_rate_outage_never_restores_a_throttled_pool(cli, home, clock, tmp_path):
    log = tmp_path / "events"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\necho "$CLOUDLEASE_EVENT" >> {log}\n')
    hook.chmod(0o755)
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace("[hooks]\n", "[hooks]\n" + "".join(
        f'{e} = "{hook}"\n' for e in ("pool_throttled", "pool_restored"))))
    # 5 USD an hour at 100,000 USD/BTC: 5,000 sat an hour
    cli("pool", "add", "gpu", "--slots", "2", "--cost-per-hour", "5 USD", "--consideration",
        "ownership", "--investor-pct", "10", "--min-runway-hours", "2",
        "--target-runway-hours", "4", "--suspend-on-throttle")
    cli("plan", "add", "gpu-hour", "--price-per-hour", "1000 sat", "--pool", "gpu")
    cli("tenant", "add", "alice")
    fund = cli.json("pool", "fund", "gpu", "--tenant", "alice", "--amount", "30000 sat")
    settle(cli, fund["payment"]["id"])
    lease = cli.json("rent", "--hours", "100", "--plan", "gpu-hour")
    settle(cli, lease["payment"]["id"])  # 30,000 + 100,000 sat: 26 h of runway
    clock(timedelta(hours=27))
    cli("tick")
    assert cli.json("pool", "show", "gpu")["throttled"] is True
    assert lease_of(cli, lease["id"])["status"] == "suspended"
    topup = [c for c in cli.json("pool", "show", "gpu")["contributions"] if c["topup"]][0]
    _set_rate(home, None)  # the rate source is down: the cost per hour is unknown
    clock(timedelta(hours=27, minutes=5))
    settle(cli, topup["request"])  # the money is back, but the runway cannot be known
    tick = cli.json("tick")
    (pool,) = tick["pools"]
    assert pool["runway_known"] is False and pool["throttled"] is True
    assert pool["change"] == "none" and "unknown" in pool["reason"]
    assert "pool_restored pool:gpu" not in tick["events"]
    assert lease_of(cli, lease["id"])["status"] == "suspended"
    assert "runway unknown" in cli("tick").stdout
    _set_rate(home, "100000")  # the rate is back: now it is known, and restored
    clock(timedelta(hours=27, minutes=10))
    tick = cli.json("tick")
    assert "pool_restored pool:gpu" in tick["events"]
    assert lease_of(cli, lease["id"])["status"] == "active"
    assert log.read_text().split() == ["pool_throttled", "pool_restored"]


def test_fiat_cost_accrued_by_many_ticks_equals_one(cli, home, clock, tmp_path, monkeypatch):
    def pool_in(path: Path) -> None:
        monkeypatch.setenv("CLOUDLEASE_HOME", str(path))
        cli("pool", "add", "gpu", "--slots", "1", "--cost-per-hour", "0.37 USD",
            "--consideration", "ownership", "--investor-pct", "10")
        cli("pool", "start", "gpu")  # it costs all the time, rented or not

    other = tmp_path / "other"
    cli("init", "--home", str(other))
    pool_in(other)
    pool_in(home)
    for step in range(1, 37):  # three hours of 5-minute ticks
        clock(minutes(5 * step))
        cli("tick")
    stepped = cli.json("pool", "show", "gpu")["current_month"]["cost_sats"]
    monkeypatch.setenv("CLOUDLEASE_HOME", str(other))
    cli("tick")
    once = cli.json("pool", "show", "gpu")["current_month"]["cost_sats"]
    assert stepped == once == 1110  # ceil(0.37 × 3 × 1e8 / 100,000)
