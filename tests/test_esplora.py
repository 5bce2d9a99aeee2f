"""The esplora backend against real loopback servers: the devchain server and a fault server."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cloudlease.bitcoin import devserver
from cloudlease.bitcoin.backends.esplora import EsploraBackend, redact
from cloudlease.bitcoin.devchain import Devchain
from cloudlease.bitcoin.devchain_view import FAUCET_ADDRESS
from cloudlease.core.errors import BackendError, BadValue

ADDR = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
ADDR2 = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"
TXID = "ab" * 32


def _run(server: ThreadingHTTPServer) -> Callable[[], None]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return stop


@pytest.fixture
def chain(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Devchain:
    monkeypatch.setenv("CLOUDLEASE_NOW", "2024-05-01T12:00:00Z")
    return Devchain(tmp_path / "devchain.json")


@pytest.fixture
def server(chain: Devchain) -> Iterator[devserver.DevchainServer]:
    srv = devserver.serve(chain.path, prefix="/api")
    stop = _run(srv)
    yield srv
    stop()


@pytest.fixture
def make_backend() -> Iterator[Callable[..., EsploraBackend]]:
    made: list[EsploraBackend] = []

    def make(urls: list[str], **kwargs: Any) -> EsploraBackend:
        kwargs.setdefault("timeout", (0.5, 2))
        kwargs.setdefault("backoff", 0.01)
        backend = EsploraBackend(urls, **kwargs)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read().decode()


# -- the devchain server ------------------------------------------------------------------


def test_server_answers_the_esplora_endpoints(chain: Devchain, server) -> None:
    base = server.url
    assert base.endswith("/api") and base.startswith("http://127.0.0.1:")
    assert _get(base + "/blocks/tip/height") == (200, "0")
    txid = chain.pay(ADDR, 1500)
    [block] = chain.mine()
    assert _get(base + "/blocks/tip/height") == (200, "1")  # re-read per request
    assert _get(base + "/blocks/tip/hash") == (200, block)
    status, body = _get(f"{base}/tx/{txid}")
    assert status == 200 and json.loads(body) == chain.tx(txid)
    status, body = _get(f"{base}/tx/{txid}/status")
    assert json.loads(body)["block_height"] == 1
    status, body = _get(f"{base}/address/{ADDR}")
    stats = json.loads(body)
    assert stats["chain_stats"]["funded_txo_sum"] == 1500
    assert stats["chain_stats"]["tx_count"] == 1 and stats["mempool_stats"]["tx_count"] == 0
    chain.pay(ADDR, 10)
    _, body = _get(f"{base}/address/{ADDR}/txs/mempool")
    assert [t["vout"][0]["value"] for t in json.loads(body)] == [10]
    _, body = _get(f"{base}/address/{ADDR}/txs/chain")
    assert [t["txid"] for t in json.loads(body)] == [txid]
    _, body = _get(f"{base}/address/{ADDR}/txs")
    assert [t["vout"][0]["value"] for t in json.loads(body)] == [10, 1500]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/tx/" + TXID, 404),
        ("/api/tx/" + TXID + "/status", 404),
        ("/api/nothing", 404),
        ("/blocks/tip/height", 404),  # outside the prefix
        ("/api/address/bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu/txs", 400),  # mainnet
        (f"/api/address/{ADDR}/txs/chain/{TXID}", 200),  # unknown last seen: [] as electrs
    ],
)
def test_server_refuses_unknown_things(server, path: str, status: int) -> None:
    base = server.url.removesuffix("/api")
    got, body = _get(base + path)
    assert got == status
    if status == 200:
        assert body == "[]"


def test_server_reports_a_corrupt_file_as_500(chain: Devchain, server) -> None:
    chain.path.write_text("{")
    assert _get(server.url + "/blocks/tip/height")[0] == 500


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_server_refuses_non_loopback_hosts(chain: Devchain, host: str) -> None:
    with pytest.raises(BadValue, match="loopback"):
        devserver.serve(chain.path, host=host)


def test_server_refuses_bad_port_and_prefix(chain: Devchain) -> None:
    with pytest.raises(BadValue):
        devserver.serve(chain.path, port=70000)
    with pytest.raises(BadValue):
        devserver.serve(chain.path, prefix="api/")


# -- the esplora backend against the devchain server ---------------------------------------


def test_payment_lifecycle_seen_through_esplora(chain: Devchain, server, make_backend) -> None:
    backend = make_backend([server.url])
    assert backend.name == "esplora"
    assert backend.tip_height() == 0
    assert backend.received([ADDR]) == {ADDR: []}
    txid = chain.pay(ADDR, 2500, rbf=True)
    [got] = backend.received([ADDR])[ADDR]
    assert (got.txid, got.vout, got.sats, got.height, got.rbf) == (txid, 0, 2500, None, True)
    chain.mine(2)
    [got] = backend.received([ADDR])[ADDR]
    assert got.height == 1 and got.confirmations(backend.tip_height()) == 2
    chain.reorg(2)
    [got] = backend.received([ADDR])[ADDR]
    assert got.height is None and backend.tip_height() == 0
    new = chain.replace(txid, sats=2000)
    [got] = backend.received([ADDR])[ADDR]
    assert (got.txid, got.sats) == (new, 2000)
    chain.replace(new, to=ADDR2)
    assert backend.received([ADDR, ADDR2])[ADDR] == []
    backend.watch([ADDR])


def test_paging_returns_every_confirmed_payment(chain: Devchain, server, make_backend) -> None:
    for start in (0, 20, 40):
        chain.pay_many([(ADDR, 1000 + i) for i in range(start, start + 20)])
        chain.mine()
    chain.pay(ADDR, 7)  # plus one unconfirmed
    backend = make_backend([server.url])
    got = backend.received([ADDR])[ADDR]
    assert sorted(r.sats for r in got) == [7, *range(1000, 1060)]
    assert len({r.txid for r in got}) == 61
    # /txs (1 mempool + 25), /txs/chain/.. (25), /txs/chain/.. (10), /address (count check)
    assert backend.requests_made == 4


def test_more_than_50_unconfirmed_is_an_error(chain: Devchain, server, make_backend) -> None:
    chain.pay_many([(ADDR, 1000 + i) for i in range(51)])
    with pytest.raises(BackendError, match="more than 50 unconfirmed"):
        make_backend([server.url]).received([ADDR])
    chain.mine()
    assert len(make_backend([server.url]).received([ADDR])[ADDR]) == 51


def test_many_addresses_concurrently(chain: Devchain, server, make_backend) -> None:
    addresses = [ADDR, ADDR2, FAUCET_ADDRESS]
    chain.pay_many([(ADDR, 1), (ADDR2, 2)])
    backend = make_backend([server.url], max_workers=4)
    result = backend.received(addresses * 3)
    assert list(result) == addresses
    assert [r.sats for r in result[ADDR]] == [1] and [r.sats for r in result[ADDR2]] == [2]
    assert result[FAUCET_ADDRESS] == []  # it only funds inputs
    # a listing per address, and the address totals for each that lists a transaction
    assert backend.requests_made == 6


def test_many_generated_addresses(chain: Devchain, server, make_backend) -> None:
    from embit.networks import NETWORKS
    from embit.script import Script

    addresses = [
        Script(b"\x00\x14" + hashlib.sha256(b"%d" % i).digest()[:20]).address(NETWORKS["regtest"])
        for i in range(120)
    ]
    chain.pay_many([(a, 1000 + i) for i, a in enumerate(addresses)])
    chain.mine()
    backend = make_backend([server.url], max_workers=8)
    result = backend.received(addresses)
    assert [r.sats for a in addresses for r in result[a]] == list(range(1000, 1120))
    assert all(r.height == 1 for a in addresses for r in result[a])
    assert backend.requests_made == 240  # listing and totals per paid address


def test_bad_addresses_and_config_are_refused(make_backend) -> None:
    backend = make_backend(["http://127.0.0.1:9"])
    for bad in ["", "../x", "a b", "x/y"]:
        with pytest.raises(BadValue):
            backend.received([bad])
    for urls in [[], [""], ["ftp://x"], ["127.0.0.1:3000"]]:
        with pytest.raises(BadValue):
            EsploraBackend(urls)


# -- faults ---------------------------------------------------------------------------------


class FaultServer(ThreadingHTTPServer):
    """Answers each request with the next scripted behaviour (the last one repeats).

    A behaviour is ``(status, body, headers)`` or ``("sleep", seconds)``."""

    daemon_threads = True

    def __init__(self, script: list[tuple]) -> None:
        self.script = list(script)
        self.hits = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _FaultHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client gave up (timeouts): expected here

    def next(self) -> tuple:
        with self.lock:
            self.hits += 1
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]


class _FaultHandler(BaseHTTPRequestHandler):
    server: FaultServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        behaviour = self.server.next()
        if behaviour[0] == "sleep":
            time.sleep(behaviour[1])
            behaviour = (200, "1", {})
        status, body, headers = behaviour
        data = body.encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if status != 204:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if status != 204:
            self.wfile.write(data)


@pytest.fixture
def fault() -> Iterator[Callable[[list[tuple]], FaultServer]]:
    stops = []

    def start(script: list[tuple]) -> FaultServer:
        srv = FaultServer(script)
        stops.append(_run(srv))
        return srv

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_read_timeout_is_an_error(fault, make_backend) -> None:
    srv = fault([("sleep", 0.6)])
    backend = make_backend([srv.url], timeout=(0.5, 0.1), retries=1)
    started = time.monotonic()
    with pytest.raises(BackendError, match="timed out"):
        backend.tip_height()
    assert time.monotonic() - started < 0.6
    assert backend.requests_made == 2


def test_connection_refused_is_an_error(closed_port_url, make_backend) -> None:
    backend = make_backend([closed_port_url], retries=2)
    with pytest.raises(BackendError, match="connection failed") as err:
        backend.received([ADDR])
    assert closed_port_url in err.value.message and err.value.exit_code == 6
    assert backend.requests_made == 3


def test_429_then_success_is_retried(fault, make_backend) -> None:
    srv = fault([(429, "slow down", {"Retry-After": "0"}), (200, "812", {})])
    backend = make_backend([srv.url], retries=2)
    assert backend.tip_height() == 812
    assert backend.requests_made == 2 == srv.hits


def test_retry_after_is_honoured_but_capped(fault, make_backend) -> None:
    srv = fault([(429, "", {"Retry-After": "3600"}), (200, "5", {})])
    backend = make_backend([srv.url], retries=1, retry_after_cap=0.2)
    started = time.monotonic()
    assert backend.tip_height() == 5
    assert 0.2 <= time.monotonic() - started < 1.5


def test_429_forever_is_an_error(fault, make_backend) -> None:
    srv = fault([(429, "", {})])
    backend = make_backend([srv.url], retries=2)
    with pytest.raises(BackendError, match="429"):
        backend.tip_height()
    assert srv.hits == 3


def test_500_is_retried_then_an_error(fault, make_backend) -> None:
    srv = fault([(500, "oops", {})])
    backend = make_backend([srv.url], retries=1)
    with pytest.raises(BackendError, match="HTTP 500"):
        backend.received([ADDR])
    assert srv.hits == 2


def test_503_then_success(fault, make_backend) -> None:
    srv = fault([(503, "", {}), (200, "[]", {})])
    assert make_backend([srv.url]).received([ADDR]) == {ADDR: []}


_TX = {
    "txid": TXID,
    "vin": [{"sequence": 0xFFFFFFFF}],
    "vout": [{"scriptpubkey_address": ADDR, "value": 5}],
    "status": {"confirmed": False},
}


@pytest.mark.parametrize(
    "body",
    [
        "[{",  # malformed JSON
        "",  # empty body
        "   ",
        "{}",  # not a list
        "[1]",
        json.dumps([{**_TX, "txid": "xyz"}]),
        json.dumps([{**_TX, "vout": [{"scriptpubkey_address": ADDR, "value": 5.0}]}]),
        json.dumps([{**_TX, "vout": [{"scriptpubkey_address": ADDR, "value": True}]}]),
        json.dumps([{**_TX, "vout": [{"scriptpubkey_address": ADDR, "value": -1}]}]),
        json.dumps([{**_TX, "vin": [{}]}]),
        json.dumps([{**_TX, "status": {"confirmed": "yes"}}]),
        json.dumps([{**_TX, "status": {"confirmed": True}}]),  # no height
        '[{"txid": NaN}]',
    ],
)
def test_malformed_answers_are_errors_without_retry(fault, make_backend, body: str) -> None:
    srv = fault([(200, body, {"Content-Type": "application/json"})])
    backend = make_backend([srv.url], retries=3)
    with pytest.raises(BackendError):
        backend.received([ADDR])
    assert srv.hits == 1


def _totals(chain=(0, 0, 0), mempool=(0, 0, 0)) -> str:
    def part(p):
        return {"tx_count": p[0], "funded_txo_count": p[1], "funded_txo_sum": p[2],
                "spent_txo_count": 0, "spent_txo_sum": 0}
    return json.dumps({"address": ADDR, "chain_stats": part(chain), "mempool_stats": part(mempool)})


def test_a_well_formed_answer_parses(fault, make_backend) -> None:
    srv = fault([(200, json.dumps([_TX]), {}), (200, _totals(mempool=(1, 1, 5)), {})])
    [got] = make_backend([srv.url]).received([ADDR])[ADDR]
    assert (got.txid, got.sats, got.height, got.rbf) == (TXID, 5, None, False)
    assert got.first_seen is None  # Esplora has no mempool first-seen time


_CONFIRMED = {**_TX, "status": {"confirmed": True, "block_height": 7, "block_time": 1714564800,
                                "block_hash": "cd" * 32}}


def test_a_confirmed_output_carries_its_block_time_and_hash(fault, make_backend) -> None:
    srv = fault([(200, json.dumps([_CONFIRMED]), {}), (200, _totals(chain=(1, 1, 5)), {})])
    [got] = make_backend([srv.url]).received([ADDR])[ADDR]
    assert got.first_seen == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert (got.height, got.block_hash) == (7, "cd" * 32)


@pytest.mark.parametrize(("listing", "totals"), [
    # one txid twice with different values (refused before the totals are read)
    ([_TX, {**_TX, "vout": [{"scriptpubkey_address": ADDR, "value": 500000}]}], None),
    # one txid twice, once confirmed and once not
    ([_TX, _CONFIRMED], None),
    # outputs that do not add up to the address totals
    ([_TX], _totals(mempool=(1, 1, 4))),
    ([_TX], _totals(mempool=(1, 2, 10))),
    ([_CONFIRMED], _totals(chain=(2, 2, 10))),
    ([_CONFIRMED], _totals(mempool=(1, 1, 5))),  # confirmed here, unconfirmed there
])
def test_contradictory_answers_are_uncertain(fault, make_backend, listing, totals) -> None:
    one_read = [(200, json.dumps(listing), {})] + ([(200, totals, {})] if totals else [])
    srv = fault(one_read * 2)
    backend = make_backend([srv.url], retries=0)
    with pytest.raises(BackendError, match="consistent"):
        backend.received([ADDR])
    assert srv.hits == 2 * len(one_read)  # read again once (it may have changed), refused


def test_an_answer_that_changed_while_read_is_read_again(fault, make_backend) -> None:
    srv = fault([(200, json.dumps([_TX]), {}), (200, _totals(chain=(1, 1, 5)), {}),
                 (200, json.dumps([_CONFIRMED]), {}), (200, _totals(chain=(1, 1, 5)), {})])
    [got] = make_backend([srv.url]).received([ADDR])[ADDR]
    assert got.height == 7 and srv.hits == 4


def test_tip_is_a_hash_and_its_height(chain: Devchain, server, make_backend) -> None:
    backend = make_backend([server.url])
    [first, second] = chain.mine(2)
    tip = backend.tip()
    assert (tip.height, tip.hash) == (2, second)
    assert backend.orphaned([first, second]) == set()
    chain.reorg(1)
    assert backend.tip() == type(tip)(1, first)
    assert backend.orphaned([first, second, "not a hash"]) == {second}


@pytest.mark.parametrize("body", ["", "abc", "-1", "1.5", "١٢", "12 13", "99999999999"])
def test_tip_height_must_be_a_plain_number(fault, make_backend, body: str) -> None:
    srv = fault([(200, body, {})])
    with pytest.raises(BackendError, match="tip height|empty|no trustworthy"):
        make_backend([srv.url]).tip_height()


@pytest.mark.parametrize("status", [204, 404, 400, 301])
def test_other_statuses_are_errors_without_retry(fault, make_backend, status: int) -> None:
    srv = fault([(status, "", {"Location": "http://elsewhere.invalid/"})])
    with pytest.raises(BackendError, match=f"HTTP {status}"):
        make_backend([srv.url]).tip_height()
    assert srv.hits == 1


def test_second_base_is_used_when_the_first_is_down(fault, closed_port_url, make_backend) -> None:
    srv = fault([(200, "42", {})])
    backend = make_backend([closed_port_url, srv.url], retries=0)
    assert backend.tip_height() == 42
    assert backend.requests_made == 2
    assert backend.tip_height() == 42  # straight to the base that answered
    assert backend.requests_made == 3


def test_second_base_is_used_when_the_first_answers_garbage(fault, make_backend) -> None:
    bad = fault([(200, "<html>", {})])
    good = fault([(200, "[]", {})])
    backend = make_backend([bad.url, good.url], retries=0)
    assert backend.received([ADDR]) == {ADDR: []}


def test_credentials_never_appear_in_errors(closed_port_url, make_backend) -> None:
    url = closed_port_url.replace("http://", "http://alice:s3cret@") + "/api?key=tok3n"
    backend = make_backend([url], retries=0)
    with pytest.raises(BackendError) as err:
        backend.tip_height()
    assert "s3cret" not in err.value.message and "tok3n" not in err.value.message
    assert "alice" not in err.value.message
    assert redact("https://u:p@host:1/api?k=v") == "https://host:1/api"


def test_one_failing_address_fails_the_whole_batch(fault, make_backend) -> None:
    srv = fault([(200, "[]", {}), (500, "", {})])
    backend = make_backend([srv.url], retries=0, max_workers=2)
    with pytest.raises(BackendError):
        backend.received([ADDR, ADDR2])
