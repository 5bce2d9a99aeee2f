"""The simulated regtest chain: pay, mine, reorg, replace, persistence, locking, bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from cloudlease.bitcoin.backends.devchain import DevchainBackend
from cloudlease.bitcoin.devchain import FEE_SATS, Devchain
from cloudlease.bitcoin.devchain_store import GENESIS_HASH
from cloudlease.bitcoin.devchain_view import (
    CHANGE_ADDRESS,
    CHANGE_SATS,
    SEQUENCE_FINAL,
    SEQUENCE_RBF,
)
from cloudlease.core.errors import BackendError, BadValue, Conflict, LedgerError, NotFound

ADDR = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"  # p2wpkh
ADDR2 = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"  # p2pkh (testnet/regtest base58)
ADDR3 = "2MzQwSSnBHWHqSAqtTVQ6v47XtaisrJa1Vc"  # p2sh
ADDR_TR = "bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqc8gma6"  # p2tr
NOW = "2024-05-01T12:00:00Z"


@pytest.fixture(autouse=True)
def pinned_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDLEASE_NOW", NOW)


@pytest.fixture
def chain(tmp_path) -> Devchain:
    return Devchain(tmp_path / "devchain.json")


def test_fresh_chain_is_genesis_only_and_not_written(chain: Devchain) -> None:
    assert chain.tip_height() == 0
    assert chain.view().tip_hash == GENESIS_HASH
    assert chain.address_txs(ADDR) == []
    assert not chain.path.exists()


def test_pay_puts_an_esplora_shaped_tx_in_the_mempool(chain: Devchain) -> None:
    txid = chain.pay(ADDR, 1500)
    assert len(txid) == 64 and int(txid, 16) >= 0
    [tx] = chain.address_txs(ADDR)
    assert tx["txid"] == txid
    assert tx["status"] == {"confirmed": False}
    assert tx["vin"][0]["sequence"] == SEQUENCE_FINAL
    pay, change = tx["vout"]
    assert pay == {
        "scriptpubkey": "0014751e76e8199196d454941c45d1b3a323f1433bd6",
        "scriptpubkey_type": "v0_p2wpkh",
        "scriptpubkey_address": ADDR,
        "value": 1500,
    }
    assert change["scriptpubkey_address"] == CHANGE_ADDRESS
    assert type(tx["fee"]) is int and tx["fee"] > 0
    assert tx["vin"][0]["prevout"]["value"] == 1500 + change["value"] + tx["fee"]
    assert chain.tx(txid) == tx


def test_pay_rbf_signals_with_sequence(chain: Devchain) -> None:
    txid = chain.pay(ADDR, 1000, rbf=True)
    assert chain.tx(txid)["vin"][0]["sequence"] == SEQUENCE_RBF


@pytest.mark.parametrize(
    ("address", "kind"),
    [(ADDR2, "p2pkh"), (ADDR3, "p2sh"), (ADDR_TR, "v1_p2tr"), (ADDR.upper(), "v0_p2wpkh")],
)
def test_pay_accepts_every_regtest_address_kind(chain: Devchain, address: str, kind: str) -> None:
    txid = chain.pay(address, 1000)
    out = chain.tx(txid)["vout"][0]
    assert out["scriptpubkey_type"] == kind
    assert out["scriptpubkey_address"] == (address.lower() if address.isupper() else address)


def test_mine_confirms_the_mempool_in_the_first_block(chain: Devchain) -> None:
    t1 = chain.pay(ADDR, 1000)
    t2 = chain.pay(ADDR2, 2000)
    hashes = chain.mine(3)
    assert len(hashes) == 3 and len(set(hashes)) == 3
    assert chain.tip_height() == 3
    assert chain.view().tip_hash == hashes[-1]
    when = int(datetime(2024, 5, 1, 12, tzinfo=UTC).timestamp())
    for txid in (t1, t2):
        assert chain.tx(txid)["status"] == {
            "confirmed": True,
            "block_height": 1,
            "block_hash": hashes[0],
            "block_time": when,
        }


def test_history_is_mempool_first_then_newest_first(chain: Devchain) -> None:
    a = chain.pay(ADDR, 1)
    chain.mine()
    b = chain.pay(ADDR, 2)
    chain.mine()
    c = chain.pay(ADDR, 3)
    d = chain.pay(ADDR, 4)
    assert [t["txid"] for t in chain.address_txs(ADDR)] == [d, c, b, a]


def test_paying_the_change_address_lists_the_tx_once(chain: Devchain) -> None:
    txid = chain.pay(CHANGE_ADDRESS, 10)
    [tx] = chain.address_txs(CHANGE_ADDRESS)
    assert tx["txid"] == txid
    got = DevchainBackend(chain.path).received([CHANGE_ADDRESS])[CHANGE_ADDRESS]
    assert [(r.vout, r.sats) for r in got] == [(0, 10), (1, CHANGE_SATS)]  # both outputs
    assert len(chain.address_txs(ADDR)) == 0


def test_same_operations_give_the_same_ids(tmp_path) -> None:
    results = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        c = Devchain(tmp_path / name / "devchain.json")
        results.append((c.pay(ADDR, 5000), c.mine(2), c.pay(ADDR2, 7, rbf=True)))
    assert results[0] == results[1]


def test_reorg_sends_transactions_back_to_the_mempool(chain: Devchain) -> None:
    txid = chain.pay(ADDR, 1000)
    first = chain.mine(2)
    gone = chain.reorg(2)
    assert gone == first[::-1]
    assert chain.tip_height() == 0
    assert chain.tx(txid)["status"] == {"confirmed": False}
    again = chain.mine()
    assert again[0] not in first  # a new block, not the old one back
    assert chain.tx(txid)["status"]["block_hash"] == again[0]


def test_reorg_keeps_older_mempool_entries_after_the_returned_ones(chain: Devchain) -> None:
    a = chain.pay(ADDR, 1)
    chain.mine()
    b = chain.pay(ADDR, 2)
    chain.reorg()
    # back in the mempool: a (returned) then b (already there); listed newest first
    assert [t["txid"] for t in chain.address_txs(ADDR)] == [b, a]


@pytest.mark.parametrize("depth", [0, -1, 3, 1.0, True])
def test_reorg_refuses_bad_depths(chain: Devchain, depth) -> None:
    chain.mine(2)
    with pytest.raises(BadValue):
        chain.reorg(depth)
    assert chain.tip_height() == 2


def test_reorg_of_the_genesis_is_refused(chain: Devchain) -> None:
    with pytest.raises(BadValue, match="height is 0"):
        chain.reorg()


def test_replace_with_a_new_amount_removes_the_old_tx(chain: Devchain) -> None:
    old = chain.pay(ADDR, 1000, rbf=True)
    new = chain.replace(old, sats=400)
    assert new != old
    [tx] = chain.address_txs(ADDR)
    assert tx["txid"] == new and tx["vout"][0]["value"] == 400
    assert tx["vin"][0]["sequence"] == SEQUENCE_RBF
    assert tx["fee"] > FEE_SATS  # a replacement pays more
    with pytest.raises(NotFound, match="replaced by " + new):
        chain.tx(old)
    with pytest.raises(NotFound):
        chain.replace(old, sats=1)


def test_replace_to_another_address_pays_it_instead(chain: Devchain) -> None:
    old = chain.pay(ADDR, 1000)  # no RBF signal: full-RBF replaces it anyway
    new = chain.replace(old, to=ADDR2)
    assert chain.address_txs(ADDR) == []
    [tx] = chain.address_txs(ADDR2)
    assert tx["txid"] == new and tx["vout"][0]["value"] == 1000
    assert tx["fee"] > 200


def test_replace_refuses_a_confirmed_tx(chain: Devchain) -> None:
    txid = chain.pay(ADDR, 1000)
    chain.mine()
    with pytest.raises(Conflict) as err:
        chain.replace(txid, sats=10)
    assert err.value.exit_code == 4


def test_replace_bad_inputs(chain: Devchain) -> None:
    txid = chain.pay(ADDR, 1000)
    with pytest.raises(NotFound) as err:
        chain.replace("ab" * 32, sats=10)
    assert err.value.exit_code == 3
    with pytest.raises(BadValue):
        chain.replace("not-a-txid", sats=10)
    with pytest.raises(BadValue):
        chain.replace(txid, sats=0)
    with pytest.raises(BadValue):
        chain.replace(txid, to="bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu")
    assert [t["txid"] for t in chain.address_txs(ADDR)] == [txid]


@pytest.mark.parametrize(
    "address",
    [
        "",
        "   ",
        "hello",
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",  # mainnet
        "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",  # testnet bech32
        "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA",  # mainnet base58
        "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt081",  # bad checksum
        "bcrt1qW508d6qejxtdg4y5r3zarvary0c5xw7kygt080",  # mixed case
    ],
)
def test_pay_refuses_non_regtest_addresses(chain: Devchain, address: str) -> None:
    with pytest.raises(BadValue) as err:
        chain.pay(address, 1000)
    assert err.value.exit_code == 2
    assert not chain.path.exists()


@pytest.mark.parametrize("sats", [0, -5, 1.5, True, "1000", None, 21_000_000 * 10**8 + 1])
def test_pay_refuses_bad_amounts(chain: Devchain, sats) -> None:
    with pytest.raises(BadValue):
        chain.pay(ADDR, sats)


@pytest.mark.parametrize("n", [0, -1, 10_001, 2.0])
def test_mine_refuses_bad_counts(chain: Devchain, n) -> None:
    with pytest.raises(BadValue):
        chain.mine(n)


def test_state_persists_across_instances_without_temp_files(chain: Devchain) -> None:
    txid = chain.pay(ADDR, 1234)
    chain.mine()
    again = Devchain(chain.path)
    assert again.tip_height() == 1
    assert again.tx(txid)["status"]["block_height"] == 1
    assert json.loads(chain.path.read_text())["format"] == "cloudlease-devchain"
    assert sorted(p.name for p in chain.path.parent.iterdir()) == [
        "devchain.json",
        "devchain.json.lock",
    ]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"[]",
        b'{"format": "other"}',
        b'{"format": "cloudlease-devchain", "version": 99}',
    ],
)
def test_corrupt_file_is_an_error_not_an_empty_chain(chain: Devchain, content: bytes) -> None:
    chain.path.write_bytes(content)
    with pytest.raises(LedgerError):
        chain.tip_height()
    with pytest.raises(LedgerError):
        chain.pay(ADDR, 1)
    with pytest.raises(BackendError) as err:
        DevchainBackend(chain.path).received([ADDR])
    assert err.value.exit_code == 6
    assert chain.path.read_bytes() == content  # left alone


def test_missing_folder_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(LedgerError, match="cannot open"):
        Devchain(tmp_path / "nope" / "devchain.json").pay(ADDR, 1)


def test_a_held_lock_gives_up_after_the_wait_and_names_the_holder(chain: Devchain) -> None:
    other = Devchain(chain.path, lock_wait=0.2)
    with chain.locked():
        with pytest.raises(LedgerError, match=r"locked by another process \(pid \d+\)"):
            other.pay(ADDR, 1)
    assert other.pay(ADDR, 1)  # free again


_PAYER = """
import sys
from cloudlease.bitcoin.devchain import Devchain
chain = Devchain(sys.argv[1])
for i in range(int(sys.argv[3])):
    chain.pay(sys.argv[2], 1000 + i)
"""


def test_concurrent_processes_lose_no_payment(chain: Devchain) -> None:
    per_process = 40
    addresses = [ADDR, ADDR2, ADDR3]
    procs = [
        subprocess.Popen([sys.executable, "-c", _PAYER, str(chain.path), a, str(per_process)])
        for a in addresses
    ]
    try:
        chain.mine()  # a third writer at the same time
        assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    finally:
        for p in procs:  # every child reaped, whatever happened
            if p.poll() is None:
                p.kill()
            p.wait()
    for address in addresses:
        txs = chain.address_txs(address)
        assert sorted(t["vout"][0]["value"] for t in txs) == list(range(1000, 1000 + per_process))
    state = json.loads(chain.path.read_text())
    assert state["counter"] == 3 * per_process + 1


def test_devchain_backend_reports_outputs_confirmations_and_rbf(chain: Devchain) -> None:
    backend = DevchainBackend(chain.path)
    assert backend.name == "devchain"
    assert backend.received([ADDR, ADDR2]) == {ADDR: [], ADDR2: []}
    t1 = chain.pay(ADDR, 1000, rbf=True)
    [got] = backend.received([ADDR])[ADDR]
    assert (got.txid, got.vout, got.sats, got.height, got.rbf) == (t1, 0, 1000, None, True)
    assert got.confirmations(backend.tip_height()) == 0
    chain.mine(3)
    [got] = backend.received([ADDR])[ADDR]
    assert got.height == 1 and got.confirmations(backend.tip_height()) == 3
    chain.reorg(3)
    [got] = backend.received([ADDR])[ADDR]
    assert got.height is None
    new = chain.replace(t1, to=ADDR2)
    result = backend.received([ADDR, ADDR2])
    assert result[ADDR] == [] and [r.txid for r in result[ADDR2]] == [new]
    backend.watch([ADDR])  # a no-op
