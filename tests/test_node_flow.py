"""The whole flow against a real regtest bitcoind: the CLI with the bitcoind backend."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from tests.test_bitcoind import RPC, node_url, pay, rpc  # noqa: F401 - fixtures

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
    before = cli.ledger_bytes()
    err = cli.json("tick", code=6)
    assert "secretpw" not in err["message"]
    assert cli.ledger_bytes() == before


def test_sweep_is_accepted_by_a_real_node(cli, node_home, rpc):  # noqa: F811
    """bitcoind checks what the simulation cannot: the signatures."""
    leases = [cli.json("rent", "--hours", str(h)) for h in (1, 2)]
    for lease in leases:
        pay(rpc, lease["payment"]["address"], btc(lease["payment"]["amount_sats"]))
    mine(rpc)
    cli("tick")
    to = rpc("getnewaddress", wallet="miner")
    sent = cli.json("wallet", "sweep", "--to", to, "--fee-rate", "2")
    assert sent["inputs"] == 2 and sent["input_sats"] == 3000
    assert sent["txid"] in rpc("getrawmempool")
    mine(rpc)
    tx = rpc("gettransaction", sent["txid"], wallet="miner")
    assert tx["confirmations"] == 1
    assert "already spent" in cli.json("wallet", "sweep", "--to", to, code=2)["message"]
