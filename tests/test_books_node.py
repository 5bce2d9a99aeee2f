"""Books that reconcile on a real regtest bitcoind: rents paid by the node's wallet (one
partial then completed, one overpaid), a refund signed by the keys wallet and accepted
by the node, a sweep, and ``hledger bal assets:bitcoin`` equal to what the node's UTXO
set holds for the wallet's addresses (``scantxoutset``)."""

from __future__ import annotations

import pytest

from cloudlease.ops.books import wallet_addresses
from cloudlease.ops.context import Context
from tests.test_bitcoind import RPC, node_url, pay, rpc  # noqa: F401 - fixtures
from tests.test_books import hledger_balances
from tests.test_invoices import invoice_commands
from tests.test_node_flow import btc, mine, node_home  # noqa: F401 - fixtures

__all__ = ["invoice_commands"]
pytestmark = pytest.mark.node


def utxo_set_balance(rpc: RPC, home) -> int:  # noqa: F811
    """Confirmed sats at the wallet's addresses, as the node's UTXO set says."""
    addresses = wallet_addresses(Context.at(home).read())
    found = rpc("scantxoutset", "start", [f"addr({a})" for a in addresses])
    return sum(round(u["amount"] * 100_000_000) for u in found["unspents"])


def settle(cli, rpc: RPC) -> None:  # noqa: F811
    mine(rpc)
    cli("tick")


def test_books_reconcile_on_a_real_node(cli, node_home, rpc, tmp_path):  # noqa: F811
    leases = [cli.json("rent", "--hours", str(h)) for h in (2, 3, 1)]
    (a, b, c) = (x["payment"] for x in leases)
    pay(rpc, a["address"], btc(a["amount_sats"]))
    pay(rpc, b["address"], btc(1000))             # partial
    pay(rpc, c["address"], btc(c["amount_sats"] + 700))  # overpaid by 700
    settle(cli, rpc)
    books = hledger_balances(cli, tmp_path, "assets:bitcoin")["assets:bitcoin"]
    assert books == utxo_set_balance(rpc, cli.home) == 2000 + 1000 + 1700
    pay(rpc, b["address"], btc(b["amount_sats"] - 1000))
    settle(cli, rpc)
    assert cli.json("pay", "show", b["id"])["status"] == "settled"
    to = rpc("getnewaddress", wallet="miner")
    refund = cli.json("pay", "refund", c["id"], "--to", to, "--fee-rate", "2", "--yes")
    assert refund["transfer"]["txid"] in rpc("getrawmempool")  # the node took it
    settle(cli, rpc)
    books = hledger_balances(cli, tmp_path, "assets:bitcoin")["assets:bitcoin"]
    fee = refund["transfer"]["fee_sats"]
    assert books == utxo_set_balance(rpc, cli.home) == 2000 + 3000 + 1700 - 700 - fee
    sweep = cli.json("wallet", "sweep", "--to", to, "--fee-rate", "2", "--yes")
    assert sweep["input_sats"] == books  # the refund's change is swept too
    settle(cli, rpc)
    b_all = hledger_balances(cli, tmp_path)
    assert b_all.get("assets:bitcoin", 0) == utxo_set_balance(rpc, cli.home) == 0
    assert b_all["expenses:fees:mining"] == fee + sweep["fee_sats"]
    assert b_all["assets:swept"] == sweep["output_sats"]
    assert "liabilities:overpayments" not in b_all
