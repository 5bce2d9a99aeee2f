"""Wallets through the CLI: descriptor homes, refusals, the gap limit, and fresh addresses
that are never handed out twice, across processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import VPUB

MNEMONIC = "abandon " * 11 + "about"
ZPUB = ("zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkg"
        "DKf31mGDtKsAYz2oz2AGutZYs")




def test_mainnet_descriptor_home_hands_out_bip84_addresses(cli):
    out = cli.json("init", "--network", "mainnet", "--xpub", ZPUB, "--fixed-rate", "90000")
    assert out["wallet"] == "descriptor" and out["backend"] == "esplora"
    assert out["starter_plan"] is None
    cli("plan", "add", "gpu", "--price-per-hour", "0.90 USD")
    a = cli.json("rent", "--hours", "1")["payment"]
    b = cli.json("rent", "--hours", "1")["payment"]
    assert a["address"] == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    assert b["address"] == "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
    assert (a["address_index"], b["address_index"]) == (0, 1)
    assert a["amount_sats"] == 1000 and a["rate"] == "90000"
    assert not (cli.home / "keys.toml").exists()
    shown = cli.json("wallet", "show")
    assert shown["kind"] == "descriptor" and shown["next_index"] == 2
    cli.json("wallet", "show", "--reveal", code=2)


@pytest.mark.parametrize("args,fragment", [
    (["--network", "regtest", "--xpub", ZPUB], "mainnet"),
    (["--network", "mainnet", "--xpub", "zpub-nonsense"], ""),
    (["--network", "mainnet", "--descriptor", "wpkh(xprv9s21ZrQH143K3GJpoapnV8SFfukcVBSfeCficPS"
      "GfubmSFDxo1kuHnLisriDvSnRRuL2Qrg5ggqHKNVpxR86QEC8w35uxmGoggxtQTPvfUu/0/*)"],
     "private key"),
    (["--network", "testnet", "--descriptor", f"wpkh({ZPUB}/0/*)"], "mainnet"),
    (["--xpub", VPUB, "--descriptor", f"wpkh({VPUB}/0/*)"], "not both"),
])
def test_bad_wallet_sources_are_refused_and_nothing_is_written(cli, args, fragment):
    err = cli.json("init", *args, code=2)
    assert fragment in err["message"]
    assert not (cli.home / "ledger.db").exists() and not (cli.home / "config.toml").exists()


def test_regtest_vpub_home(cli):
    cli("init", "--xpub", VPUB)
    addr = cli.json("rent", "--hours", "1")["payment"]["address"]
    assert addr.startswith("bcrt1q")


def test_gap_limit_warning(cli):
    cli("init", "--xpub", VPUB)
    cfg = cli.home / "config.toml"
    cfg.write_text(cfg.read_text().replace("gap_limit = 20", "gap_limit = 3"))
    for _ in range(3):
        assert "gap limit" not in cli("rent", "--hours", "1", "--json").stderr
    warned = cli("rent", "--hours", "1", "--json")
    assert "past the gap limit of 3" in warned.stderr
    assert cli.json("wallet", "show")["unpaid_in_a_row"] == 4


def test_dust_and_label_refusals(cli, home):
    cli("plan", "add", "cheap", "--price-per-hour", "1 USD")
    err = cli.json("rent", "--hours", "1", "--plan", "cheap", "--rate", "100000000000",
                   "--method", "onchain", code=2)
    assert "dust" in err["message"]


def test_fiat_plan_without_a_rate_is_refused(cli):
    cli("init", "--network", "testnet", "--backend", "esplora")
    cfg = cli.home / "config.toml"
    cfg.write_text(cfg.read_text().replace('source = "live"', 'source = "fixed"'))
    cli("plan", "add", "gpu", "--price-per-hour", "0.40 USD")
    before = cli.ledger_snapshot()
    err = cli.json("rent", "--hours", "1", "--plan", "gpu", code=2)
    assert "no USD rate" in err["message"]
    assert cli.ledger_snapshot() == before


WORKER = """
import json, sys
from cloudlease.ops.context import Context
from cloudlease.ops.payment_requests import fresh_address
ctx = Context.at(sys.argv[1], lock_timeout=120)
out = []
for _ in range(int(sys.argv[2])):
    with ctx.transaction("test: fresh address") as ledger:
        out.append(fresh_address(ctx, ledger)[0])
print(json.dumps(out))
"""


@pytest.mark.slow
@pytest.mark.parametrize("wallet,total", [("descriptor", 10_000), ("keys", 2_000)])
def test_no_address_is_handed_out_twice_across_processes(cli, tmp_path, wallet, total):
    if wallet == "descriptor":
        cli("init", "--xpub", VPUB)
    else:
        cli("init")
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(cli.home), str(total // 4)],
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    addresses: list[str] = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0
        addresses += json.loads(out)
    assert len(addresses) == total
    assert len(set(addresses)) == total
    if wallet == "keys":
        from cloudlease.bitcoin.keystore import KeyStore

        assert set(KeyStore(Path(cli.home) / "keys.toml").load().addresses()) >= set(addresses)
