"""The whole Lightning flow through the CLI on the REAL regtest network of
``scripts/ln-regtest``: bitcoind is the chain backend, the merchant Electrum daemon is the
operator's node, and the customer daemon pays over a real channel. Marked ``lightning``:
without the network these tests skip and say how to start it; with ``CI`` set they fail.
Real nodes use real time: CLOUDLEASE_NOW is never pinned here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from cloudlease.core.errors import BackendError
from tests.test_bitcoind import RPC
from tests.test_lightning_electrum import ln, lnpay, script  # noqa: F401 - ln is a fixture

pytestmark = pytest.mark.lightning


@pytest.fixture
def chain(ln: dict[str, str]) -> RPC:  # noqa: F811
    rpc = RPC(ln["CLOUDLEASE_TEST_LN_BITCOIND_URL"])
    if "miner" not in rpc("listwallets"):
        rpc("loadwallet", "miner")
    return rpc


@pytest.fixture
def net_home(cli, ln: dict[str, str], chain: RPC) -> Any:  # noqa: F811
    cli("init", "--backend", "bitcoind", "--rpc-url", ln["CLOUDLEASE_TEST_LN_BITCOIND_URL"],
        "--lightning", "electrum", "--ln-url", ln["CLOUDLEASE_TEST_LN_MERCHANT_URL"])
    cfg = cli.home / "config.toml"
    wallet = f"cl-ln-{uuid.uuid4().hex[:10]}"
    cfg.write_text(cfg.read_text().replace('rpc_wallet = "cloudlease-watch"',
                                           f'rpc_wallet = "{wallet}"'))
    yield cli.home
    if wallet in chain("listwallets"):
        chain("unloadwallet", wallet)


def tick_until(cli, rid: str, status: str, seconds: float = 15) -> dict:
    """Electrum marks a request paid a moment before the HTLC is settled in the channel;
    the pass in between still says open. Tick until ``rid`` is ``status``."""
    deadline = time.monotonic() + seconds
    while True:
        tick = cli.json("tick")
        if tick["statuses"].get(rid) == status or time.monotonic() > deadline:
            return tick
        time.sleep(0.2)


def test_rent_lnpay_tick_active(cli, net_home, ln, tmp_path):  # noqa: F811
    log = tmp_path / "events.jsonl"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ncat >> {log}; echo >> {log}\n")
    hook.chmod(0o755)
    cfg = net_home / "config.toml"
    cfg.write_text(cfg.read_text().replace("[hooks]\n", f'[hooks]\nlease_active = "{hook}"\n'
                                           f'payment_processing = "{hook}"\n'))
    lease = cli.json("rent", "--hours", "2")
    p = lease["payment"]
    assert p["methods"] == ["onchain", "lightning"] and p["lightning"]["node"] == "electrum"
    assert p["lightning"]["invoice"].startswith("lnbcrt20u1")
    assert p["uri"].endswith("&lightning=" + p["lightning"]["invoice"])
    assert cli.json("tick")["statuses"] == {p["id"]: "new"}
    paid = lnpay(ln, p["lightning"]["invoice"])
    assert paid["result"]["success"] is True, paid
    tick = tick_until(cli, p["id"], "settled")
    assert {"id": lease["id"], "from": "awaiting_payment", "to": "active"} in tick["transitions"]
    req = cli.json("pay", "show", p["id"])
    assert req["lightning"]["preimage"] == paid["result"]["preimage"]
    assert req["lightning"]["paid_msat"] == 2_000_000 and req["flags"] == []
    events = [json.loads(x)["event"] for x in log.read_text().splitlines() if x.strip()]
    assert events == ["lease_active"]
    assert cli.json("lease", "show", lease["id"])["status"] == "active"
    cli("verify")


def test_paid_onchain_settles_and_a_later_invoice_payment_is_flagged(
        cli, net_home, ln, chain):  # noqa: F811
    lease = cli.json("rent", "--hours", "1")
    p = lease["payment"]
    chain("sendtoaddress", {"address": p["address"], "amount": "0.00001"}, wallet="miner")
    chain("generatetoaddress", 1, chain("getnewaddress", wallet="miner"))
    tick = cli.json("tick")
    assert tick["statuses"][p["id"]] == "settled"
    assert tick["ln_cancelled"] == []  # Electrum cannot cancel: the invoice is ignored...
    assert cli.json("lease", "show", lease["id"])["status"] == "active"
    # ...and if the customer pays it all the same, the surplus is flagged for refund
    assert lnpay(ln, p["lightning"]["invoice"])["result"]["success"] is True
    deadline = time.monotonic() + 15
    while True:
        tick = cli.json("tick")
        if tick["refunds_due"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert tick["refunds_due"] == [{"id": p["id"], "sats": 1000}]
    req = cli.json("pay", "show", p["id"])
    assert req["status"] == "settled" and req["flags"] == ["overpaid", "refund_due"]


@pytest.mark.slow
def test_an_unpaid_invoice_expires(cli, net_home, ln):  # noqa: F811
    cfg = net_home / "config.toml"
    cfg.write_text(cfg.read_text().replace("expiry_minutes = 15", "expiry_minutes = 1"))
    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    p = lease["payment"]
    assert cli.json("pay", "check", p["id"], code=7)["statuses"] == {p["id"]: "new"}
    time.sleep(62)
    refused = lnpay(ln, p["lightning"]["invoice"])
    assert "expired" in json.dumps(refused).lower()
    assert cli.json("pay", "check", p["id"], code=8)["statuses"] == {p["id"]: "expired"}
    assert cli.json("lease", "show", lease["id"])["status"] == "expired"


def test_node_stopped_mid_pass_changes_nothing(cli, net_home, ln):  # noqa: F811
    from cloudlease.ops import lnrequests
    from cloudlease.ops.check import check
    from cloudlease.ops.context import Context

    lease = cli.json("rent", "--hours", "1", "--method", "lightning")
    p = lease["payment"]
    assert lnpay(ln, p["lightning"]["invoice"])["result"]["success"] is True
    time.sleep(1)  # settled in the channel
    before = cli.ledger_snapshot()
    ctx = Context.at(net_home)
    node = lnrequests.node(ctx)
    real = node._call
    stopped: list[str] = []

    def call_then_stop(method: str, params: dict) -> Any:
        result = real(method, params)
        if not stopped:  # the pass's first call answered; the node goes away before the next
            script(ln, "daemon-stop", "merchant")
            stopped.append(method)
        return result

    node._call = call_then_stop
    try:
        with pytest.raises(BackendError) as info:
            check(ctx, tick=True, ln_node=node)
        assert info.value.exit_code == 6 and info.value.code == "ln_down"
        assert cli.ledger_snapshot() == before
        err = cli.json("tick", code=6)
        assert err["code"] == "ln_down" and "is the node running" in err["message"]
        assert cli.ledger_snapshot() == before
    finally:
        node.close()
        ctx.close()
        script(ln, "daemon-start", "merchant")
    tick = tick_until(cli, p["id"], "settled")
    assert {"id": lease["id"], "from": "awaiting_payment", "to": "active"} in tick["transitions"]


def test_wallet_not_loaded_stores_nothing(cli, net_home, ln):  # noqa: F811
    from tests.test_lightning_electrum import _rpc

    cli.json("rent", "--hours", "1")  # the chain wallet exists from here on
    before = cli.ledger_snapshot()
    assert _rpc(ln["CLOUDLEASE_TEST_LN_MERCHANT_URL"], "close_wallet").get("result") is True
    try:
        err = cli.json("rent", "--hours", "1", code=6)
        assert err["code"] == "ln_wallet_not_loaded" and "load_wallet" in err["message"]
        assert "\n" not in err["message"]
        err = cli.json("tick", code=6)
        assert err["code"] == "ln_wallet_not_loaded"
        assert cli.ledger_snapshot() == before
    finally:
        script(ln, "daemon-start", "merchant")


def test_rent_wait_sees_the_payment_within_a_second(net_home, ln):  # noqa: F811
    """A real ``cloudlease rent --wait`` process: the customer pays the invoice it shows,
    and it prints the lease active (the benchmark prints the figure; this bound is loose)."""
    env = {"CLOUDLEASE_HOME": str(net_home), "NO_COLOR": "1", "COLUMNS": "4000"}
    with subprocess.Popen([sys.executable, "-m", "cloudlease", "rent", "--hours", "1",
                           "--method", "lightning", "--wait"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True,
                          env={**os.environ, **env}) as proc:
        try:
            invoice = None
            assert proc.stdout is not None
            for line in proc.stdout:
                m = re.search(r"lightning:(lnbcrt[0-9a-z]+)", line)
                if m:
                    invoice = m.group(1)
                    break
            assert invoice
            assert lnpay(ln, invoice)["result"]["success"] is True
            returned = time.monotonic()
            seen = None
            for line in proc.stdout:
                if re.search(r"lease L-\d+ active", line):
                    seen = time.monotonic()
                    break
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0 and seen is not None, err
    assert seen - returned < 5
    print(f"rent --wait saw the payment {seen - returned:.3f} s after lnpay returned")

