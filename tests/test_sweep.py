"""wallet sweep: on the simulated chain, through the Esplora API, and bad inputs.
(The real-node sweep, where bitcoind checks the signatures, is in test_node_flow.py.)"""

from __future__ import annotations

import pytest


def paid(cli, *hours: int) -> list[dict]:
    leases = [cli.json("rent", "--hours", str(h)) for h in hours]
    for lease in leases:
        cli("devchain", "pay", lease["payment"]["id"])
    cli("devchain", "mine")
    cli("tick")
    return leases


def test_sweep_on_devchain(cli, home):
    paid(cli, 2, 3)
    to = cli.json("rent", "--hours", "1")["payment"]["address"]  # an address we can watch
    dry = cli.json("wallet", "sweep", "--to", to, "--dry-run")
    assert dry["inputs"] == 2 and dry["input_sats"] == 5000 and dry["broadcast"] is False
    assert dry["output_sats"] + dry["fee_sats"] == 5000 and dry["fee_sats"] > 0
    before = cli.ledger_snapshot()
    cli("wallet", "sweep", "--to", to, "--dry-run")
    assert cli.ledger_snapshot() == before  # a dry run writes nothing
    sent = cli.json("wallet", "sweep", "--to", to, "--yes")
    assert sent["txid"] == dry["txid"] and sent["broadcast"] is True
    assert cli.json("wallet", "show")  # still readable
    err = cli.json("wallet", "sweep", "--to", to, "--yes", code=4)
    assert "already spent" in err["message"]
    cli("devchain", "mine")
    cli("tick")
    third = cli.json("lease", "show", "L-3")
    assert third["payment"]["txids"] == [sent["txid"]]
    assert third["payment"]["paid_sats"] == sent["output_sats"]
    cli("verify")


@pytest.mark.parametrize("args,fragment", [
    (["--to", "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"], "mainnet"),
    (["--to", "nonsense"], ""),
    (["--to", "TO", "--fee-rate", "0"], "at least 1"),
    (["--to", "TO", "--fee-rate", "fast"], "sat/vB"),
])
def test_sweep_bad_input(cli, home, args, fragment):
    paid(cli, 1)
    to = cli.json("rent", "--hours", "1")["payment"]["address"]
    args = [to if a == "TO" else a for a in args]
    before = cli.ledger_snapshot()
    err = cli.json("wallet", "sweep", *args, "--yes", code=2)
    assert fragment in err["message"]
    assert cli.ledger_snapshot() == before


def test_nothing_to_sweep_and_descriptor_wallets(cli, home, tmp_path):
    to = cli.json("rent", "--hours", "1")["payment"]["address"]
    assert "nothing to sweep" in cli.json("wallet", "sweep", "--to", to, "--yes", code=4)["message"]
    from tests.test_cli_wallet import VPUB

    other = tmp_path / "desc"
    cli("init", "--home", str(other), "--xpub", VPUB)
    err = cli.json("wallet", "sweep", "--to", to, "--home", str(other), "--yes", code=2)
    assert "descriptor wallet" in err["message"]


def test_sweep_through_the_esplora_api(cli, esplora_home):
    paid(cli, 2)
    to = cli.json("rent", "--hours", "1")["payment"]["address"]
    sent = cli.json("wallet", "sweep", "--to", to, "--yes")
    assert sent["broadcast"] and sent["input_sats"] == 2000
    assert "already spent" in cli.json("wallet", "sweep", "--to", to, "--yes", code=4)["message"]
