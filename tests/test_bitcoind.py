"""The bitcoind backend: JSON-RPC faults on a loopback server, then a real regtest node.

The node tests (marker ``node``) use the node named by ``CLOUDLEASE_TEST_RPC_URL``, or one
this module starts with ``scripts/regtest-node start`` when bitcoind is installed there
(and stops again afterwards). Without a node they skip; with ``CI`` set they fail instead.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cloudlease.bitcoin.backends.bitcoind import (
    BitcoindBackend,
    BitcoindRPCError,
    btc_to_sats,
    signals_rbf,
)
from cloudlease.core.errors import BackendError, BadValue
from cloudlease.model.chain import ChainTip, Received

SECRET = "s3cret-Pa55"
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "regtest-node"

# A regtest payment made by Bitcoin Knots (one input, nSequence 0xfffffffd: signals RBF).
RBF_TX = (
    "02000000000101c48926ac137af8b57b1b19a88d3aca071f186fded05189534e507be937fc1019000000"
    "0000fdffffff024e61bc0000000000160014cc8470c0bd6ec26d2c6756cdefa3f3937bbe3adfae854929"
    "01000000160014b371f5bf89e1b0df4900c84908448bf906cc74f202473044022046c84848903cf23329"
    "2cfe99f0b1cdaf5c36013c31c577f8d5629fc88eaae93602206b1933b3c569b15c7a4f6a5f014bea92a9"
    "9bc925217c0bd42d86c0aff50be0030121029136ac62cc729415505959a0c62a715c01542f87b151ec97"
    "60c7d7ba7a10aea365000000"
)


# --- a scripted JSON-RPC server on loopback --------------------------------------------------
class FakeNode:
    """A stdlib HTTP server on 127.0.0.1 that answers as told and records each request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        # (status, body bytes) for every request, or a dispatcher for JSON-RPC methods.
        self.reply: tuple[int, bytes] = (200, b'{"result": 0, "error": null, "id": 1}')
        self.dispatch: Callable[[str, Any], Any] | None = None
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                fake.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                if fake.delay:
                    time.sleep(fake.delay)
                status, out = fake.answer(body)
                self.send_response(status)
                if out:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                if out:
                    self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out and left is expected in one test

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def url(self, userinfo: str = f"alice:{SECRET}") -> str:
        return f"http://{userinfo}@127.0.0.1:{self.port}"

    def answer(self, body: bytes) -> tuple[int, bytes]:
        if self.dispatch is None:
            return self.reply
        req = json.loads(body, parse_float=Decimal)
        items = req if isinstance(req, list) else [req]
        out = []
        for item in items:
            try:
                out.append(
                    {
                        "result": self.dispatch(item["method"], item["params"]),
                        "error": None,
                        "id": item["id"],
                    }
                )
            except KeyError as exc:
                out.append(
                    {"result": None, "error": {"code": -5, "message": str(exc)}, "id": item["id"]}
                )
        doc = out if isinstance(req, list) else out[0]
        return 200, json.dumps(doc, default=float).encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def fake() -> Iterator[FakeNode]:
    node = FakeNode()
    try:
        yield node
    finally:
        node.close()


def backend_for(fake: FakeNode, **kw: Any) -> BitcoindBackend:
    kw.setdefault("timeout", 2.0)
    return BitcoindBackend(fake.url(), **kw)


def expect_backend_error(fake: FakeNode, match: str) -> BackendError:
    with backend_for(fake) as b, pytest.raises(BackendError, match=match) as info:
        b.tip_height()
    assert SECRET not in str(info.value)
    return info.value


# --- faults: no node needed ---------------------------------------------------------------
def test_request_carries_an_explicit_id_and_basic_auth(fake: FakeNode) -> None:
    fake.reply = (200, b'{"result": 123, "error": null, "id": 1}')
    with BitcoindBackend(fake.url(f"al%40ce:{SECRET}"), timeout=2) as b:
        assert b.tip_height() == 123
    [req] = fake.requests
    doc = json.loads(req["body"])
    assert doc["id"] == 1 and doc["id"] is not None
    assert doc["jsonrpc"] == "1.0"
    assert doc["method"] == "getblockcount" and doc["params"] == []
    assert req["path"] == "/"
    auth = base64.b64decode(req["headers"]["Authorization"].removeprefix("Basic ")).decode()
    assert auth == f"al@ce:{SECRET}"


def test_cookie_file_supplies_the_credentials(fake: FakeNode, tmp_path: Path) -> None:
    cookie = tmp_path / ".cookie"
    cookie.write_text("__cookie__:c00kie-secret\n")
    fake.reply = (200, b'{"result": 7, "error": null, "id": 1}')
    with BitcoindBackend(f"http://127.0.0.1:{fake.port}", cookie_file=str(cookie)) as b:
        assert b.tip_height() == 7
    auth = fake.requests[0]["headers"]["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(auth).decode() == "__cookie__:c00kie-secret"


def test_missing_cookie_file_is_a_backend_error(tmp_path: Path) -> None:
    with BitcoindBackend("http://127.0.0.1:1", cookie_file=str(tmp_path / "nope")) as b:
        with pytest.raises(BackendError, match="cookie file"):
            b.tip_height()


def test_http_204_without_body_is_an_error(fake: FakeNode) -> None:
    fake.reply = (204, b"")
    expect_backend_error(fake, r"empty answer \(HTTP 204\)")


def test_http_500_without_rpc_error_is_an_error(fake: FakeNode) -> None:
    fake.reply = (500, b"<html>Internal Server Error</html>")
    expect_backend_error(fake, "HTTP 500")


def test_http_503_with_unrelated_json_is_an_error(fake: FakeNode) -> None:
    fake.reply = (503, b'{"result": 5, "error": null, "id": 1}')
    expect_backend_error(fake, "HTTP 503")


def test_http_401_is_an_error_without_the_password(fake: FakeNode) -> None:
    fake.reply = (401, b"")
    err = expect_backend_error(fake, "rejected the RPC credentials")
    assert "alice" not in str(err)


def test_http_403_is_an_error(fake: FakeNode) -> None:
    fake.reply = (403, b"")
    expect_backend_error(fake, "HTTP 403")


def test_malformed_json_is_an_error(fake: FakeNode) -> None:
    fake.reply = (200, b'{"result": 12, "error": nul')
    expect_backend_error(fake, "malformed JSON")


def test_answer_without_result_is_an_error(fake: FakeNode) -> None:
    fake.reply = (200, b'["not", "an", "object"]')
    expect_backend_error(fake, "malformed answer")


def test_answer_with_another_id_is_an_error(fake: FakeNode) -> None:
    fake.reply = (200, b'{"result": 12, "error": null, "id": 99}')
    expect_backend_error(fake, "with id 99")


def test_non_integer_block_count_is_an_error(fake: FakeNode) -> None:
    fake.reply = (200, b'{"result": 12.5, "error": null, "id": 1}')
    expect_backend_error(fake, "malformed block count")


def test_rpc_error_object_is_an_error_with_its_code(fake: FakeNode) -> None:
    fake.reply = (500, b'{"result": null, "error": {"code": -28, "message": "Loading"}, "id": 1}')
    err = expect_backend_error(fake, r"getblockcount failed: Loading \(RPC error -28\)")
    assert isinstance(err, BitcoindRPCError) and err.rpc_code == -28


def test_closed_port_is_an_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with BitcoindBackend(f"http://bob:{SECRET}@127.0.0.1:{port}", timeout=2) as b:
        with pytest.raises(BackendError, match="connection refused") as info:
            b.tip_height()
    assert SECRET not in str(info.value) and "bob" not in str(info.value)
    assert f"127.0.0.1:{port}" in str(info.value)


def test_timeout_is_an_error(fake: FakeNode) -> None:
    fake.delay = 1.0
    with backend_for(fake, timeout=0.2) as b, pytest.raises(BackendError, match="within 0.2 s"):
        b.tip_height()


def test_repr_and_url_hide_credentials(fake: FakeNode) -> None:
    with backend_for(fake) as b:
        assert SECRET not in repr(b) and SECRET not in b.url
        assert b.url == f"http://127.0.0.1:{fake.port}"


@pytest.mark.parametrize("url", ["127.0.0.1:8332", "ftp://h:1", "http://h:99999999"])
def test_bad_url_is_a_bad_value(url: str) -> None:
    with pytest.raises(BadValue):
        BitcoindBackend(url)


def test_shared_session_is_not_closed() -> None:
    import requests

    with requests.Session() as session:
        b = BitcoindBackend("http://127.0.0.1:1", session=session)
        b.close()
        assert b._session is session


@pytest.mark.parametrize(
    ("btc", "sats"),
    [
        (Decimal("0.12345678"), 12_345_678),
        (Decimal("0.00000001"), 1),
        (Decimal("21000000.00000000"), 2_100_000_000_000_000),
        (Decimal("1E-8"), 1),
        (0, 0),
        (3, 300_000_000),
    ],
)
def test_btc_to_sats_is_exact(btc: Decimal, sats: int) -> None:
    assert btc_to_sats(btc) == sats and type(btc_to_sats(btc)) is int


@pytest.mark.parametrize("bad", [Decimal("0.123456789"), 0.1, True, "0.1", None, Decimal("NaN")])
def test_btc_to_sats_refuses_inexact_or_non_numbers(bad: Any) -> None:
    with pytest.raises(BackendError):
        btc_to_sats(bad)


def test_signals_rbf_reads_input_sequences() -> None:
    assert signals_rbf(RBF_TX) is True
    final = RBF_TX.replace("0000fdffffff02", "0000ffffffff02")
    assert final != RBF_TX and signals_rbf(final) is False
    nonfinal = RBF_TX.replace("0000fdffffff02", "0000feffffff02")
    assert signals_rbf(nonfinal) is False


def test_received_keeps_confirmed_and_mempool_outputs_only(fake: FakeNode) -> None:
    """Scripted wallet answers: replaced, conflicted and abandoned payments never count."""
    addr, other = "bcrt1qpaid", "bcrt1qempty"

    def tx(conf: int, *, height: int | None = None, rbf: str = "no", **detail: Any) -> dict:
        d = {"address": addr, "category": "receive", "amount": Decimal("0.001"), "vout": 1}
        d.update(detail)
        doc: dict[str, Any] = {"confirmations": conf, "bip125-replaceable": rbf, "details": [d]}
        if height is not None:
            doc["blockheight"] = height
        return doc

    txs = {
        "a" * 64: tx(0, rbf="yes"),  # replaced: wallet still says 0 conf, not in mempool
        "b" * 64: tx(0, rbf="yes", amount=Decimal("0.00123456")),  # its replacement
        "c" * 64: tx(-1),  # conflicted by a confirmed transaction
        "d" * 64: tx(3, height=101, vout=0),  # confirmed
        "e" * 64: tx(0, abandoned=True),  # abandoned
        "f" * 64: tx(2, height=102, category="send"),  # our own spend, not a receipt
    }
    mempool = {"b" * 64}
    calls: list[str] = []

    def dispatch(method: str, params: Any) -> Any:
        calls.append(method)
        if method == "getaddressinfo":
            return {"address": params[0], "ismine": True}
        if method == "listreceivedbyaddress":
            return [{"address": addr, "txids": sorted(txs)}] if params[3] == addr else []
        if method == "gettransaction":
            return txs[params[0]]
        if method == "getmempoolentry":
            return {"vsize": 141} if params[0] in mempool else txs["missing"]
        if method == "syncwithvalidationinterfacequeue":
            raise KeyError("a node without this hidden RPC: the error is ignored")
        if method == "getwalletinfo":
            return {"scanning": False}
        raise AssertionError(method)

    fake.dispatch = dispatch
    with backend_for(fake) as b:
        got = b.received([addr, other, addr])
    assert got == {
        addr: [
            Received(addr, "d" * 64, 0, 100_000, 101, False),
            Received(addr, "b" * 64, 1, 123_456, None, True),
        ],
        other: [],
    }
    assert len(fake.requests) == 3  # three batches, whatever the number of addresses
    assert all(r["path"] == "/wallet/cloudlease-watch" for r in fake.requests[:2])
    assert calls.count("getmempoolentry") == 2  # only the unconfirmed receipts: a and b
    assert all(r["id"] for r in json.loads(fake.requests[2]["body"]))


def test_received_refuses_an_unwatched_address(fake: FakeNode) -> None:
    fake.dispatch = lambda method, params: (
        {"ismine": False, "iswatchonly": False} if method == "getaddressinfo"
        else {"scanning": False} if method == "getwalletinfo" else None
    )
    with backend_for(fake) as b, pytest.raises(BackendError, match="not watched"):
        b.received(["bcrt1qnotours"])


def test_received_of_nothing_asks_nothing(fake: FakeNode) -> None:
    with backend_for(fake) as b:
        assert b.received([]) == {}
        b.watch([])
    assert fake.requests == []


# --- what the wallet can vouch for, and answers that contradict themselves --------------------
CREATED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADDR = "bcrt1qpaid"


class Wallet:
    """A scripted watch wallet: one address, its label, transactions and wallet state."""

    def __init__(self, label: str = "cloudlease from 2026-03-02T07:00:00Z") -> None:
        self.label = label
        self.watched = True
        self.walletinfo: dict[str, Any] = {"scanning": False,
                                           "lastprocessedblock": {"height": 110}}
        self.txs: dict[str, dict] = {}
        self.listed: list[str] | None = None  # txids listreceivedbyaddress gives
        self.imports: list[list[dict]] = []
        self.chain: dict[str, Any] = {"blocks": 110, "bestblockhash": "ab" * 32,
                                      "chain": "regtest", "initialblockdownload": False}
        self.headers: dict[str, int] = {}

    def dispatch(self, method: str, params: Any) -> Any:
        if method == "syncwithvalidationinterfacequeue":
            return None
        if method == "getwalletinfo":
            return self.walletinfo
        if method == "getaddressinfo":
            return {"ismine": self.watched, "labels": [self.label]}
        if method == "listreceivedbyaddress":
            return [{"address": ADDR, "txids": self.listed if self.listed is not None
                     else sorted(self.txs)}]
        if method == "gettransaction":
            return self.txs[params[0]]
        if method == "getmempoolentry":
            return {"time": 1_772_442_000}
        if method == "getblockchaininfo":
            return self.chain
        if method == "getblockheader":
            return {"confirmations": self.headers[params[0]]}
        if method in ("listwallets",):
            return ["cloudlease-watch"]
        if method == "getdescriptorinfo":
            return {"checksum": "abcd1234"}
        if method == "importdescriptors":
            self.imports.append(params[0])
            return [{"success": True} for _ in params[0]]
        raise AssertionError(method)


def _tx(txid: str, conf: int, height: int | None = None, sats: str = "0.0001",
        vout: int = 0, **extra: Any) -> dict:
    doc: dict[str, Any] = {"txid": txid, "confirmations": conf, "bip125-replaceable": "no",
                           "time": 1_772_442_100, "timereceived": 1_772_442_200,
                           "details": [{"address": ADDR, "category": "receive",
                                        "amount": Decimal(sats), "vout": vout}]}
    if height is not None:
        doc["blockheight"] = height
        doc["blockhash"] = "cd" * 32
    doc.update(extra)
    return doc


@pytest.fixture
def wallet(fake: FakeNode) -> Wallet:
    w = Wallet()
    fake.dispatch = w.dispatch
    return w


def test_received_reports_first_seen_and_block(fake: FakeNode, wallet: Wallet) -> None:
    wallet.txs = {"a" * 64: _tx("a" * 64, 2, 109), "b" * 64: _tx("b" * 64, 0)}
    with backend_for(fake) as b:
        got = b.received({ADDR: CREATED})[ADDR]
    confirmed, pending = got
    assert confirmed.first_seen == datetime.fromtimestamp(1_772_442_100, UTC)
    assert confirmed.block_hash == "cd" * 32 and confirmed.height == 109
    assert pending.first_seen == datetime.fromtimestamp(1_772_442_000, UTC)  # mempool entry


@pytest.mark.parametrize("label", ["cloudlease", "cloudlease from 2026-03-02T08:00:00Z",
                                   "someone else's"])
def test_an_address_watched_from_too_late_is_uncertain(fake: FakeNode, wallet: Wallet,
                                                      label: str) -> None:
    """Imported with "now" (by hand, an older version) or after its request was made: the
    wallet cannot have seen a payment made before — not "nothing received"."""
    wallet.label = label
    with backend_for(fake) as b, pytest.raises(BackendError, match="cannot have seen"):
        b.received({ADDR: CREATED})
    with backend_for(fake) as b:
        assert b.received([ADDR]) == {ADDR: []}  # without times it cannot judge


def test_a_rescanning_or_lagging_wallet_is_uncertain(fake: FakeNode, wallet: Wallet) -> None:
    wallet.walletinfo = {"scanning": {"duration": 12, "progress": Decimal("0.42")}}
    with backend_for(fake) as b, pytest.raises(BackendError, match=r"rescanning .*42 %"):
        b.received({ADDR: CREATED})
    wallet.walletinfo = {"scanning": False, "lastprocessedblock": {"height": 105}}
    with backend_for(fake) as b:
        b.received({ADDR: CREATED})  # no tip read yet: nothing to compare with
        assert b.tip().height == 110
        with pytest.raises(BackendError, match="behind"):
            b.received({ADDR: CREATED})


def test_watch_imports_from_the_request_time_and_fixes_a_late_import(
        fake: FakeNode, wallet: Wallet) -> None:
    with backend_for(fake) as b:
        b.watch({ADDR: CREATED})  # already watched from 07:00: nothing to do
        assert wallet.imports == []
        wallet.label = "cloudlease"  # an import from "now"
        b.watch({ADDR: CREATED})
        [[req]] = wallet.imports
        assert req["timestamp"] == int((CREATED - timedelta(hours=2)).timestamp())
        assert req["label"] == "cloudlease from 2026-03-02T07:00:00Z"
        wallet.watched, wallet.imports = False, []
        b.watch([ADDR])  # without a time: "now", marked so that a timed call re-imports
        assert [(r["timestamp"], r["label"]) for [r] in wallet.imports] == [("now",
                                                                              "cloudlease")]


@pytest.mark.parametrize("txs", [
    # one output listed twice with different values
    {"a" * 64: _tx("a" * 64, 1, 110, extra=None) | {"details": [
        {"address": ADDR, "category": "receive", "amount": Decimal("0.0001"), "vout": 0},
        {"address": ADDR, "category": "receive", "amount": Decimal("0.01"), "vout": 0}]}},
    # confirmation counts implying two different tips
    {"a" * 64: _tx("a" * 64, 1, 110), "b" * 64: _tx("b" * 64, 1, 105)},
    # an answer for another transaction
    {"a" * 64: _tx("c" * 64, 1, 110)},
])
def test_a_node_that_contradicts_itself_is_uncertain(fake: FakeNode, wallet: Wallet,
                                                    txs: dict) -> None:
    for doc in txs.values():
        doc.pop("extra", None)
    wallet.txs = txs
    with backend_for(fake) as b, pytest.raises(BackendError, match="contradicts itself"):
        b.received({ADDR: CREATED})
    gets = [r for r in fake.requests if b"gettransaction" in r["body"]]
    assert len(gets) == 2  # read again once (a block may have come between), then refused


def test_tip_and_orphaned_blocks(fake: FakeNode, wallet: Wallet) -> None:
    wallet.headers = {"11" * 32: 3, "22" * 32: -1}

    def unknown(method: str, params: Any) -> Any:
        if method == "getblockheader" and params[0] not in wallet.headers:
            raise KeyError("Block not found")
        return wallet.dispatch(method, params)

    fake.dispatch = unknown
    with backend_for(fake) as b:
        assert b.tip() == ChainTip(110, "ab" * 32)
        assert b.orphaned(["11" * 32, "22" * 32, "33" * 32, "short"]) == {"22" * 32}
        wallet.chain = {**wallet.chain, "chain": "main", "initialblockdownload": True}
        with pytest.raises(BackendError, match="still syncing"):
            b.tip()


# --- a real regtest node ----------------------------------------------------------------------
class RPC:
    """A minimal stdlib JSON-RPC client for driving the node (independent of the backend)."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.base = f"{parts.scheme}://{parts.hostname}:{parts.port}"
        token = f"{urllib.parse.unquote(parts.username or '')}:"
        token += urllib.parse.unquote(parts.password or "")
        self.auth = "Basic " + base64.b64encode(token.encode()).decode()

    def __call__(self, method: str, *params: Any, wallet: str | None = None) -> Any:
        p: Any = params[0] if len(params) == 1 and isinstance(params[0], dict) else list(params)
        body = json.dumps({"jsonrpc": "1.0", "id": 1, "method": method, "params": p}).encode()
        path = f"/wallet/{urllib.parse.quote(wallet)}" if wallet else "/"
        req = urllib.request.Request(
            self.base + path, data=body, headers={"Authorization": self.auth}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                doc = json.loads(resp.read(), parse_float=Decimal)
        except urllib.error.HTTPError as exc:
            with exc:
                doc = json.loads(exc.read() or b"null", parse_float=Decimal)
            if not doc or not doc.get("error"):
                raise
        if doc.get("error"):
            raise RuntimeError(f"{method}: {doc['error']}")
        return doc["result"]


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=180, check=False
    )


def _answers(url: str) -> bool:
    try:
        RPC(url)("getblockcount")
        return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def node_url() -> Iterator[str]:
    in_ci = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
    started = False
    url = os.environ.get("CLOUDLEASE_TEST_RPC_URL", "")
    reason = ""
    if url and not _answers(url):
        reason = "CLOUDLEASE_TEST_RPC_URL is set but the node there does not answer"
        url = ""
    if not url and not reason:
        if _script("status").returncode == 0:  # someone else's node: use it, leave it
            found = _script("env")
        else:
            found = _script("start")
            started = found.returncode == 0
            if started:
                found = _script("env")
        for line in found.stdout.splitlines():
            if line.startswith("export CLOUDLEASE_TEST_RPC_URL="):
                url = line.split("=", 1)[1].strip().strip('"')
        if not url:
            reason = (
                "no regtest node: set CLOUDLEASE_TEST_RPC_URL or run "
                "`bash scripts/regtest-node install && bash scripts/regtest-node start` "
                f"({''.join((found.stderr or found.stdout).strip().splitlines()[-1:])})"
            )
    if not url:
        if in_ci:
            pytest.fail(f"CI is set, so node tests may not skip: {reason}")
        pytest.skip(reason)
    try:
        yield url
    finally:
        if started:
            _script("stop")


@pytest.fixture(scope="module")
def rpc(node_url: str) -> RPC:
    rpc = RPC(node_url)
    for name, blank in (("miner", False), ("payee", False)):
        if name not in rpc("listwallets"):
            try:
                rpc("loadwallet", name)
            except RuntimeError:
                rpc("createwallet", {"wallet_name": name, "blank": blank, "descriptors": True})
    if rpc("getbalance", wallet="miner") < 10:
        rpc("generatetoaddress", 101, rpc("getnewaddress", wallet="miner"))
    return rpc


@pytest.fixture
def backend(node_url: str, rpc: RPC) -> Iterator[BitcoindBackend]:
    wallet = f"cl-test-{uuid.uuid4().hex[:10]}"
    with BitcoindBackend(node_url, wallet=wallet, timeout=30) as b:
        yield b
    if wallet in rpc("listwallets"):
        rpc("unloadwallet", wallet)


def pay(rpc: RPC, address: str, amount: str) -> str:
    return rpc(
        "sendtoaddress",
        {"address": address, "amount": amount, "replaceable": True},
        wallet="miner",
    )


def mine(rpc: RPC, n: int = 1) -> list[str]:
    return rpc("generatetoaddress", n, rpc("getnewaddress", wallet="miner"))


def _core(r: Received) -> tuple:
    return (r.address, r.txid, r.vout, r.sats, r.height, r.rbf)


def vout_of(rpc: RPC, txid: str, address: str) -> list[tuple[int, int]]:
    tx = rpc("getrawtransaction", txid, True)
    return [
        (o["n"], btc_to_sats(o["value"]))
        for o in tx["vout"]
        if o["scriptPubKey"].get("address") == address
    ]


@pytest.mark.node
def test_node_tip_height(backend: BitcoindBackend, rpc: RPC) -> None:
    assert backend.tip_height() == rpc("getblockcount") >= 101


@pytest.mark.node
def test_node_watch_creates_a_watch_only_wallet_once(backend: BitcoindBackend, rpc: RPC) -> None:
    address = rpc("getnewaddress", wallet="payee")
    backend.watch([address])
    backend.watch([address])  # idempotent
    info = rpc("getwalletinfo", wallet=backend.wallet)
    assert info["private_keys_enabled"] is False and info["descriptors"] is True
    assert rpc("getaddressinfo", address, wallet=backend.wallet)["ismine"] is True
    rpc("unloadwallet", backend.wallet)  # e.g. after a node restart: loaded again on demand
    assert backend.received([address]) == {address: []}
    backend.watch([address])


@pytest.mark.node
def test_node_payment_mempool_block_and_reorg(backend: BitcoindBackend, rpc: RPC) -> None:
    address, unpaid = rpc("getnewaddress", wallet="payee"), rpc("getnewaddress", wallet="payee")
    assert address.startswith("bcrt1q")
    backend.watch([address, unpaid])
    txid = pay(rpc, address, "0.12345678")
    [(vout, sats)] = vout_of(rpc, txid, address)
    assert sats == 12_345_678

    got = backend.received([address, unpaid])
    assert {a: [_core(r) for r in rs] for a, rs in got.items()} == {
        address: [_core(Received(address, txid, vout, 12_345_678, None, True))], unpaid: []}
    first_seen = got[address][0].first_seen  # the node's own receive time
    assert first_seen is not None and abs((first_seen - datetime.now(UTC)).total_seconds()) < 60
    assert got[address][0].confirmations(backend.tip_height()) == 0
    upper = backend.received([address.upper()])  # bech32 is case-insensitive
    assert [(r.address, r.txid) for r in upper[address.upper()]] == [(address.upper(), txid)]

    [block] = mine(rpc)
    height = rpc("getblock", block)["height"]
    [rec] = backend.received([address])[address]
    assert (rec.txid, rec.vout, rec.sats, rec.height) == (txid, vout, 12_345_678, height)
    assert rec.block_hash == block  # (the mempool entry time is no longer asked for)
    assert abs((rec.first_seen - first_seen).total_seconds()) <= 2
    assert rec.confirmations(backend.tip_height()) == 1
    assert rec.rbf is True  # it signalled, though it can no longer be replaced

    rpc("invalidateblock", block)
    try:
        assert backend.tip_height() == height - 1
        assert txid in rpc("getrawmempool")
        [rec] = backend.received([address])[address]
        assert (rec.txid, rec.height, rec.sats) == (txid, None, 12_345_678)
        assert rec.confirmations(backend.tip_height()) == 0
    finally:
        rpc("reconsiderblock", block)
    assert rpc("getbestblockhash") == block
    [rec] = backend.received([address])[address]
    assert rec.height == height


@pytest.mark.node
def test_node_rbf_replacement_counts_once(backend: BitcoindBackend, rpc: RPC) -> None:
    address = rpc("getnewaddress", wallet="payee")
    backend.watch([address])
    original = pay(rpc, address, "0.5")
    [first] = backend.received([address])[address]
    assert (first.txid, first.sats, first.rbf) == (original, 50_000_000, True)

    bumped = rpc("bumpfee", original, wallet="miner")
    replacement = bumped["txid"]
    assert replacement != original and bumped["fee"] > bumped["origfee"]
    got = backend.received([address])[address]
    assert [(r.txid, r.sats, r.height) for r in got] == [(replacement, 50_000_000, None)]
    assert got[0].vout == vout_of(rpc, replacement, address)[0][0]

    [block] = mine(rpc)
    got = backend.received([address])[address]
    assert [(r.txid, r.sats) for r in got] == [(replacement, 50_000_000)]
    assert got[0].height == rpc("getblock", block)["height"]
    assert rpc("gettransaction", original, True, wallet=backend.wallet)["confirmations"] < 0


@pytest.mark.node
def test_node_amounts_are_exact_per_output(backend: BitcoindBackend, rpc: RPC) -> None:
    a, b = rpc("getnewaddress", wallet="payee"), rpc("getnewaddress", wallet="payee")
    backend.watch([a, b])
    amounts = {a: "0.00001234", b: "1.23456789"}
    txid = rpc("sendmany", "", amounts, wallet="miner")
    again = pay(rpc, a, "0.00000999")
    got = backend.received([a, b])
    assert sorted(r.sats for r in got[a]) == [999, 1234]
    assert {r.txid for r in got[a]} == {txid, again}
    assert [r.sats for r in got[b]] == [123_456_789]
    assert all(type(r.sats) is int for rs in got.values() for r in rs)
    mine(rpc)
    confirmed = backend.received([a, b])
    assert sum(r.sats for rs in confirmed.values() for r in rs) == 999 + 1234 + 123_456_789
    assert all(r.height is not None for rs in confirmed.values() for r in rs)


@pytest.mark.node
def test_node_unwatched_address_and_wrong_password(node_url: str, rpc: RPC) -> None:
    address = rpc("getnewaddress", wallet="payee")
    with BitcoindBackend(node_url, wallet="miner") as b:
        with pytest.raises(BackendError, match="not watched"):
            b.received([address])
    parts = urllib.parse.urlsplit(node_url)
    bad = f"http://{parts.username}:wrong-{SECRET}@{parts.hostname}:{parts.port}"
    with BitcoindBackend(bad) as b, pytest.raises(BackendError, match="HTTP 401") as info:
        b.tip_height()
    assert SECRET not in str(info.value)


@pytest.fixture(scope="module")
def private_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RPC]:
    """A regtest node of its own (the installed bitcoind, a fresh chain), for tests that
    move the node's clock: blocks hours in the future would spoil the shared node."""
    in_ci = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
    installed = Path(os.environ.get("CLOUDLEASE_NODE_DIR")
                     or Path.home() / ".cache" / "cloudlease-node") / "knots"
    if not (installed / "usr" / "bin" / "bitcoind").exists():
        reason = f"no bitcoind installed in {installed} (bash scripts/regtest-node install)"
        if in_ci:
            pytest.fail(f"CI is set, so node tests may not skip: {reason}")
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("private-node")
    (folder / "knots").symlink_to(installed)
    env = {**os.environ, "CLOUDLEASE_NODE_DIR": str(folder)}

    def script(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                              timeout=180, env=env, check=False)

    started = script("start")
    assert started.returncode == 0, started.stderr
    try:
        url = next(line.split("=", 1)[1].strip().strip('"')
                   for line in script("env").stdout.splitlines()
                   if line.startswith("export CLOUDLEASE_TEST_RPC_URL="))
        node = RPC(url)
        node.url = url  # type: ignore[attr-defined]
        node("createwallet", {"wallet_name": "payee", "descriptors": True})
        yield node
    finally:
        script("stop")


def warp(node: RPC, hours: int) -> None:
    """Move the node's clock ``hours`` on and mine 11 blocks there, so the chain's median
    time — what importdescriptors takes as "now" — is that late."""
    node("setmocktime", int(datetime.now(UTC).timestamp()) + hours * 3600)
    node("generatetoaddress", 11, node("getnewaddress", wallet="miner"))


@pytest.mark.node
def test_node_rebuilt_wallet_still_sees_a_payment_made_hours_earlier(
        private_node: RPC) -> None:
    """A fresh watch wallet that imports with "now" cannot see a payment five hours old
    and must say so; importing from the request's time rescans and finds it."""
    node, url = private_node, private_node.url  # type: ignore[attr-defined]
    created = datetime.now(UTC).replace(microsecond=0)
    address, pending = node("getnewaddress", wallet="payee"), node("getnewaddress", wallet="payee")
    txid = pay(node, address, "0.001")
    mine(node)
    warp(node, 5)
    unconfirmed = pay(node, pending, "0.002")
    with BitcoindBackend(url, wallet="rebuilt-1", timeout=60) as b:
        b.watch([address])  # the old way: from "now"
        assert b.received([address]) == {address: []}  # it really cannot see it...
        with pytest.raises(BackendError, match="cannot have seen"):
            b.received({address: created})  # ...and, given the time, it says so
        b.watch({address: created})  # imported again from then: the node rescans
        [rec] = b.received({address: created})[address]
        assert rec.txid == txid and rec.sats == 100_000
    with BitcoindBackend(url, wallet="rebuilt-2", timeout=60) as b:  # brand new
        since = {address: created, pending: created}
        b.watch(since)
        got = b.received(since)
        assert [r.txid for r in got[address]] == [txid]
        [rec] = got[pending]  # the mempool is scanned on import too
        assert rec.txid == unconfirmed and rec.height is None
        [confirmed] = got[address]
        assert confirmed.first_seen is not None
        assert abs((confirmed.first_seen - created).total_seconds()) < 120  # not the rescan


@pytest.mark.node
def test_node_tip_and_orphaned_after_invalidateblock(backend: BitcoindBackend,
                                                     rpc: RPC) -> None:
    [block] = mine(rpc)
    tip = backend.tip()
    assert tip == ChainTip(rpc("getblockcount"), block)
    rpc("invalidateblock", block)
    try:
        assert backend.tip().height == tip.height - 1
        assert backend.orphaned([block, backend.tip().hash, "00" * 32]) == {block}
    finally:
        rpc("reconsiderblock", block)
    assert backend.orphaned([block]) == set()
