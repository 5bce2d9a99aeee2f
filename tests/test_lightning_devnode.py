"""The simulated Lightning node beside the devchain (regtest only)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloudlease.config.lightning import LightningSettings
from cloudlease.core.errors import BackendError, BadValue, Conflict, LedgerError, NotFound
from cloudlease.lightning import LightningNode, LnState, make_node
from cloudlease.lightning.devnode import DevNode

T0 = "2026-06-01T12:00:00Z"


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DevNode:
    monkeypatch.setenv("CLOUDLEASE_NOW", T0)
    return DevNode(tmp_path / "devchain-ln.json")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_is_a_labelled_simulated_node(node: DevNode) -> None:
    assert isinstance(node, LightningNode)
    assert node.simulated is True and node.name == "devchain"


def test_create_honours_the_pinned_clock(node: DevNode) -> None:
    inv = node.create_invoice(21_000_000, "lease L-1 (2 h)", 900)
    assert inv.created_at == at(T0)
    assert inv.expires_at == at(T0) + timedelta(seconds=900)
    assert inv.bolt11.startswith("lnbcrt210u1")


def test_pay_settles_with_a_preimage_and_the_settle_time(node: DevNode,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    inv = node.create_invoice(21_000_000, "lease L-1 (2 h)", 900)
    assert node.statuses([inv])[inv.payment_hash].state == LnState.OPEN
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-06-01T12:05:00Z")
    paid = node.pay(inv.bolt11)
    assert paid.state == LnState.PAID and paid.amount_paid_msat == 21_000_000
    assert paid.settled_at == at("2026-06-01T12:05:00Z")
    assert hashlib.sha256(bytes.fromhex(paid.preimage)).hexdigest() == inv.payment_hash
    assert node.statuses([inv])[inv.payment_hash] == paid


def test_pay_by_hash_or_uppercase_or_lightning_uri(node: DevNode) -> None:
    a, b, c = (node.create_invoice(1_000, f"x{i}", 600) for i in range(3))
    node.pay(a.payment_hash)
    node.pay(b.bolt11.upper())
    node.pay("lightning:" + c.bolt11)
    assert {s.state for s in node.statuses([a, b, c]).values()} == {LnState.PAID}


def test_refuses_paying_twice(node: DevNode) -> None:
    inv = node.create_invoice(1_000, "x", 600)
    node.pay(inv.bolt11)
    with pytest.raises(Conflict, match="already paid"):
        node.pay(inv.bolt11)


def test_refuses_an_expired_invoice(node: DevNode, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = node.create_invoice(1_000, "x", 600)
    monkeypatch.setenv("CLOUDLEASE_NOW", "2026-06-01T12:10:00Z")  # exactly at expiry
    assert node.statuses([inv])[inv.payment_hash].state == LnState.EXPIRED
    with pytest.raises(Conflict, match="expired at 2026-06-01 12:10:00Z"):
        node.pay(inv.bolt11)
    assert node.statuses([inv])[inv.payment_hash].state == LnState.EXPIRED


def test_pay_now_argument(node: DevNode) -> None:
    inv = node.create_invoice(1_000, "x", 600)
    with pytest.raises(Conflict, match="expired"):
        node.pay(inv.bolt11, now=at("2026-06-01T13:00:00Z"))
    st = node.pay(inv.bolt11, now=at("2026-06-01T12:09:59Z"))
    assert st.settled_at == at("2026-06-01T12:09:59Z")


@pytest.mark.parametrize("amount", [999, 1, 2_001])
def test_refuses_a_wrong_amount(node: DevNode, amount: int) -> None:
    inv = node.create_invoice(1_000, "x", 600)
    with pytest.raises(BadValue, match="refuses"):
        node.pay(inv.bolt11, amount_msat=amount)
    assert node.statuses([inv])[inv.payment_hash].state == LnState.OPEN


def test_takes_an_overpayment_up_to_twice_as_real_nodes_do(node: DevNode) -> None:
    inv = node.create_invoice(1_000, "x", 600)
    assert node.pay(inv.bolt11, amount_msat=2_000).amount_paid_msat == 2_000


def test_refuses_bad_input(node: DevNode, tmp_path: Path) -> None:
    for bad in ("", "hello", "lnbcrt1garbage", "ab" * 31):
        with pytest.raises(BadValue):
            node.pay(bad)
    with pytest.raises(NotFound):
        node.pay("ab" * 32)
    other = DevNode(tmp_path / "other" / "devchain-ln.json")
    (tmp_path / "other").mkdir()
    foreign = other.create_invoice(1_000, "x", 600)
    with pytest.raises(NotFound, match="not made by this simulated node"):
        node.pay(foreign.bolt11)
    with pytest.raises(BadValue):
        node.pay(node.create_invoice(1_000, "x", 600).bolt11, amount_msat=0)


def test_cancel(node: DevNode) -> None:
    a, b = node.create_invoice(1_000, "a", 600), node.create_invoice(1_000, "b", 600)
    node.pay(b.bolt11)
    assert node.cancel(a) is True and node.cancel(b) is False
    assert node.statuses([a])[a.payment_hash].state == LnState.CANCELLED
    with pytest.raises(Conflict, match="cancelled"):
        node.pay(a.bolt11)


def test_statuses_in_one_read(node: DevNode, monkeypatch: pytest.MonkeyPatch) -> None:
    invs = [node.create_invoice(1_000 * (i + 1), f"lease L-{i}", 600) for i in range(50)]
    for inv in invs[::5]:
        node.pay(inv.bolt11)
    reads = []
    real = Path.read_bytes

    def counting(self: Path) -> bytes:
        reads.append(self)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    got = node.statuses(invs)
    assert len(reads) == 1
    assert sum(s.state == LnState.PAID for s in got.values()) == 10
    assert list(got) == [inv.payment_hash for inv in invs]


def test_unknown_or_altered_invoice_is_an_error(node: DevNode, tmp_path: Path) -> None:
    inv = node.create_invoice(1_000, "x", 600)
    other = DevNode(tmp_path / "x" / "devchain-ln.json")
    (tmp_path / "x").mkdir()
    with pytest.raises(BackendError, match="does not know"):
        other.statuses([inv])
    from dataclasses import replace

    with pytest.raises(BackendError, match="not 2000 msat"):
        node.statuses([replace(inv, amount_msat=2_000)])
    with pytest.raises(BackendError, match="another invoice"):
        node.statuses([replace(inv, bolt11=node.create_invoice(1_000, "y", 600).bolt11)])


def test_persists_across_instances_and_keeps_its_key(node: DevNode, tmp_path: Path) -> None:
    inv = node.create_invoice(1_000, "x", 600)
    again = DevNode(tmp_path / "devchain-ln.json")
    assert again.node_id == node.node_id
    again.pay(inv.bolt11)
    assert node.statuses([inv])[inv.payment_hash].state == LnState.PAID
    mode = stat.S_IMODE(os.stat(tmp_path / "devchain-ln.json").st_mode)
    assert mode == 0o600  # the node key and unrevealed preimages


def test_state_file_shape(node: DevNode, tmp_path: Path) -> None:
    inv = node.create_invoice(1_000, "x", 600)
    state = json.loads((tmp_path / "devchain-ln.json").read_text())
    assert state["format"] == "cloudlease-devchain-ln" and state["version"] == 1
    assert state["network"] == "regtest"
    assert state["invoices"][inv.payment_hash]["state"] == "open"
    assert not (tmp_path / "devchain.json").exists()  # the chain file is not touched


@pytest.mark.parametrize("content", [b"{", b"[]", b'{"format": "cloudlease-devchain-ln", '
                                     b'"version": 9}'])
def test_corrupt_state_is_a_ledger_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "devchain-ln.json").write_bytes(content)
    n = DevNode(tmp_path / "devchain-ln.json")
    with pytest.raises(LedgerError):
        n.create_invoice(1_000, "x", 600)


def test_missing_folder_is_a_ledger_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no folder"):
        DevNode(tmp_path / "nope" / "devchain-ln.json").create_invoice(1_000, "x", 600)


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "devchain-ln.json"
    made: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            n = DevNode(path)
            for i in range(10):
                made.append(n.create_invoice(1_000 + i, "x", 600).payment_hash)
        except BaseException as exc:  # noqa: BLE001 - report any failure to the test
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    state = json.loads(path.read_text())
    assert set(state["invoices"]) == set(made) and len(made) == 40


def test_make_node(tmp_path: Path) -> None:
    settings = LightningSettings(backend="devchain")
    n = make_node(settings, tmp_path, "regtest")
    assert isinstance(n, DevNode) and n.path == tmp_path / "devchain-ln.json"
    with pytest.raises(LedgerError, match="regtest only"):
        make_node(settings, tmp_path, "mainnet")
    with pytest.raises(BadValue, match="--lightning") as info:
        make_node(LightningSettings(), tmp_path, "regtest")
    assert info.value.exit_code == 2 and info.value.code == "lightning_not_configured"


def test_real_time_when_not_pinned(tmp_path: Path) -> None:
    n = DevNode(tmp_path / "devchain-ln.json")
    inv = n.create_invoice(1_000, "x", 600)
    assert abs(inv.created_at - datetime.now(UTC)) < timedelta(seconds=5)
