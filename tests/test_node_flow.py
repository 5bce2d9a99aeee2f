"""The whole flow against a real regtest bitcoind: the CLI with the bitcoind backend."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.test_bitcoind import (  # noqa: F401 - fixtures
    RPC,
    node_url,
    pay,
    private_node,
    rpc,
    warp,
)

pytestmark = pytest.mark.node


@pytest.fixture
def node_home(cli, node_url, rpc):  # noqa: F811
    cli("init", "--backend", "bitcoind", "--rpc-url", node_url)
    cfg = cli.home / "config.toml"
    cfg.chmod(0o600)  # it holds the RPC password (see test_config: init writes 0600)
    wallet = f"cl-flow-{uuid.uuid4().hex[:10]}"
    cfg.write_text(cfg.read_text().replace('rpc_wallet = "cloudlease-watch"',
                                           f'rpc_wallet = "{wallet}"'))
    yield cli.home
    if wallet in rpc("listwallets"):
        rpc("unloadwallet", wallet)


def btc(sats: int) -> str:
    return format(Decimal(sats) / 100_000_000, "f")


def mine(rpc: RPC, n: int = 1) -> list[str]:  # noqa: F811
    return rpc("generatetoaddress", n, rpc("getnewaddress", wallet="miner"))


def test_real_payment_processing_settled_reorg(cli, node_home, rpc):  # noqa: F811
    lease = cli.json("rent", "--hours", "2")
    p = lease["payment"]
    assert p["address"].startswith("bcrt1q")
    txid = pay(rpc, p["address"], btc(p["amount_sats"]))
    tick = cli.json("tick")
    assert tick["backend"] == "bitcoind"
    assert {"id": p["id"], "from": "new", "to": "processing"} in tick["transitions"]
    (block,) = mine(rpc)
    cli("tick")
    shown = cli.json("lease", "show", lease["id"])
    assert shown["status"] == "active" and shown["payment"]["txids"] == [txid]
    assert shown["payment"]["paid_sats"] == p["amount_sats"]
    rpc("invalidateblock", block)
    try:
        cli("tick")
        shown = cli.json("lease", "show", lease["id"])
        assert shown["payment"]["status"] == "processing"
        assert shown["status"] == "suspended"
    finally:
        rpc("reconsiderblock", block)
    cli("tick")
    assert cli.json("lease", "show", lease["id"])["status"] == "active"
    cli("verify")


def test_a_rebuilt_watch_wallet_keeps_a_settled_payment(cli, private_node, monkeypatch):  # noqa: F811
    """The watch wallet is rebuilt (a new, empty one) five hours after a payment settled:
    the next tick imports the address from the request's time, and the request stays
    settled (imported from "now", it saw nothing: back to new, then expired)."""
    node = private_node
    cli("init", "--backend", "bitcoind", "--rpc-url", node.url)
    lease = cli.json("rent", "--hours", "10")
    p = lease["payment"]
    pay(node, p["address"], btc(p["amount_sats"]))
    mine(node)
    cli("tick")
    assert cli.json("lease", "show", lease["id"])["status"] == "active"
    warp(node, 5)  # five hours of chain later
    cfg = cli.home / "config.toml"
    cfg.write_text(cfg.read_text().replace('rpc_wallet = "cloudlease-watch"',
                                           'rpc_wallet = "rebuilt"'))
    later = datetime.now(UTC) + timedelta(hours=5)
    monkeypatch.setenv("CLOUDLEASE_NOW", later.strftime("%Y-%m-%dT%H:%M:%SZ"))
    tick = cli.json("tick")
    assert tick["transitions"] == [] and p["id"] in tick["checked"]
    for _ in range(3):
        cli("tick")
    shown = cli.json("lease", "show", lease["id"])
    assert shown["status"] == "active" and shown["payment"]["status"] == "settled"
    assert node("getwalletinfo", wallet="rebuilt")["private_keys_enabled"] is False


def test_rbf_bump_is_counted_once(cli, node_home, rpc):  # noqa: F811
    lease = cli.json("rent", "--hours", "3")
    p = lease["payment"]
    first = pay(rpc, p["address"], btc(p["amount_sats"]))
    cli("tick")
    bumped = rpc("bumpfee", first, wallet="miner")["txid"]
    cli("tick")
    req = cli.json("lease", "show", lease["id"])["payment"]
    assert req["status"] == "processing" and req["paid_sats"] == p["amount_sats"]
    mine(rpc)
    cli("tick")
    req = cli.json("lease", "show", lease["id"])["payment"]
    assert req["status"] == "settled" and req["txids"] == [bumped]
    assert req["paid_sats"] == p["amount_sats"]


def test_node_down_is_exit_6(cli, tmp_path):
    cli("init", "--backend", "bitcoind", "--rpc-url", "http://u:secretpw@127.0.0.1:9")
    (cli.home / "config.toml").chmod(0o600)  # it holds the RPC password
    cli("rent", "--hours", "1")
    before = cli.ledger_snapshot()
    err = cli.json("tick", code=6)
    assert "secretpw" not in err["message"]
    assert cli.ledger_snapshot() == before


def test_sweep_is_accepted_by_a_real_node(cli, node_home, rpc):  # noqa: F811
    """bitcoind checks what the simulation cannot: the signatures."""
    leases = [cli.json("rent", "--hours", str(h)) for h in (1, 2)]
    for lease in leases:
        pay(rpc, lease["payment"]["address"], btc(lease["payment"]["amount_sats"]))
    mine(rpc)
    cli("tick")
    to = rpc("getnewaddress", wallet="miner")
    sent = cli.json("wallet", "sweep", "--to", to, "--fee-rate", "2", "--yes")
    assert sent["inputs"] == 2 and sent["input_sats"] == 3000
    assert sent["txid"] in rpc("getrawmempool")
    mine(rpc)
    tx = rpc("gettransaction", sent["txid"], wallet="miner")
    assert tx["confirmations"] == 1
    assert "already spent" in cli.json("wallet", "sweep", "--to", to, "--yes", code=4)["message"]
